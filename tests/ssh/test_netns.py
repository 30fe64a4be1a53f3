"""Two boards in their own network namespaces, each with sshd and (after deploy) an
agent: deploy to both, run a campaign on both, cut one board's link mid-run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from controller.agent_client import AgentClient
from controller.ssh.agent_tunnel import open_agent_tunnel
from controller.ssh.config import SshTarget
from controller.ssh.deploy import deploy, stop
from tests.controller.campaigns import fake_program, write_fake_campaign
from tests.ssh import netns
from tests.support.sshd import need, write_farm


@pytest.fixture
def two_boards(tmp_path):
    need(netns.netns_missing())
    yield from netns.boards(tmp_path / "boards", 2)


def _block(board: netns.NsBoard, board_python: str, agent_config: Path) -> dict:
    return board.sshd.target(python=board_python, agent_config=str(agent_config), connect_timeout=3, link_timeout=4)


def _runner_config(path: Path, program: Path) -> Path:
    # The fake load_and_run is a script run by this Python (the boards share our filesystem).
    path.write_text(
        json.dumps(
            {"runners": {"load_and_run": {"type": "load_and_run", "path": sys.executable, "args": [str(program)]}}}
        )
    )
    return path


def _running(script: Path) -> bool:
    """Is a process running `script` (the fake load_and_run of one board)?"""
    needle = str(script).encode()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if needle in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return True
            except OSError:
                continue
    return False


def _deploy_fast_and_slow(two_boards, board_python: str, tmp_path: Path) -> tuple:
    """Deploy board1 with a quick fake load_and_run and board2 with one that takes 4 s a run."""
    fast = fake_program(tmp_path, "fast")
    slow = fake_program(tmp_path, "slow", sleep_s=4.0)
    blocks = {
        "board1": _block(two_boards[0], board_python, _runner_config(tmp_path / "a.json", fast)),
        "board2": _block(two_boards[1], board_python, _runner_config(tmp_path / "b.json", slow)),
    }
    farm = write_farm(tmp_path / "farm.yaml", blocks)
    farm.write_text(farm.read_text().replace("  ssh:", "  runner: load_and_run\n  ssh:"))
    for name, block in blocks.items():
        deploy(name, SshTarget(**block), tmp_path)
    return blocks, slow


def _start_campaign_until_board2_runs(tmp_path: Path, slow: Path, *extra: str) -> subprocess.Popen:
    """Start `controller run` on the farm and return once board2's slow run is under way."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "controller.cli",
            "run",
            "--devices",
            "farm.yaml",
            "--campaign",
            "campaign.yaml",
            "--out",
            "out",
            *extra,
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, COLUMNS="200"),
    )
    try:
        deadline = time.monotonic() + 60
        while not _running(slow):
            assert time.monotonic() < deadline, "board2 never started its run"
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
    except BaseException:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
        raise
    return proc


def test_deploy_and_reach_both_boards(two_boards, board_python, tmp_path):
    from typer.testing import CliRunner

    from controller.cli import app

    prog = fake_program(tmp_path, "fast")
    cfg = _runner_config(tmp_path / "agent.json", prog)
    blocks = {b.name: _block(b, board_python, cfg) for b in two_boards}
    targets = {name: SshTarget(**block) for name, block in blocks.items()}
    farm = write_farm(tmp_path / "farm.yaml", blocks)
    result = CliRunner().invoke(app, ["deploy", "--devices", str(farm)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split(" ")[:2] for line in lines] == [
        ["board1", f"({two_boards[0].address}:22):"],
        ["board2", f"({two_boards[1].address}:22):"],
    ]
    assert all("running (setsid pid" in line and line.endswith("healthy via SSH tunnel") for line in lines)
    result = CliRunner().invoke(app, ["status", "--devices", str(farm)])
    assert result.exit_code == 0 and result.stdout.count("health SERVING") == 2, result.output
    addresses = set()
    for name, target in targets.items():
        with open_agent_tunnel(name, target, tmp_path) as ep, AgentClient(ep.address, ep.token) as client:
            facts = client.facts()
            assert [r.name for r in facts.runners] == ["load_and_run"]
            addresses.add(ep.address)
    assert len(addresses) == 2  # one tunnel each, both to port 50051 in their own namespace
    for b in two_boards:
        # the agent listens on the board's loopback only: not reachable from the network
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((b.address, 50051), timeout=3).close()
    # a board whose link is down is reported unreachable, the other is unaffected
    two_boards[1].link_down()
    try:
        result = CliRunner().invoke(app, ["status", "--devices", str(farm)])
    finally:
        two_boards[1].link_up()
    assert result.exit_code == 1
    first, second = result.stdout.splitlines()
    assert "agent running" in first
    assert second.startswith(f"board2 ({two_boards[1].address}:22): unreachable: ")
    result = CliRunner().invoke(app, ["stop", "--devices", str(farm)])
    assert result.exit_code == 0 and result.stdout.count("stopped pid") == 2, result.output


def test_campaign_survives_a_link_cut_mid_run(two_boards, board_python, tmp_path):
    blocks, slow = _deploy_fast_and_slow(two_boards, board_python, tmp_path)
    write_fake_campaign(tmp_path, "[shake]", "retries: 4\nbaseline: board1\n")
    proc = _start_campaign_until_board2_runs(tmp_path, slow)
    try:
        two_boards[1].link_down()  # mid-run: the SSH link to board2 goes dead, no RST
        time.sleep(8)  # twice link_timeout: the SSH link is declared dead meanwhile
        two_boards[1].link_up()
        out, err = proc.communicate(timeout=150)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        for name, block in blocks.items():
            try:
                stop(name, SshTarget(**block), tmp_path)
            except Exception:
                pass
    assert proc.returncode == 0, f"{out}\n{err}"
    report = json.loads((tmp_path / "out" / "fake" / "report.json").read_text())
    devices = {d["name"]: d for d in report["devices"]}
    assert devices["board1"]["healthy"] and devices["board1"]["attempts"] == 1
    # board2 failed while its link was down and was retried once it came back
    assert devices["board2"]["healthy"] and devices["board2"]["attempts"] >= 2, devices["board2"]
    assert "board2" in err and "retry" in err.lower(), err
    # the retry line names the board by its SSH address, not the tunnel's loopback end
    assert f"agent at ssh:{two_boards[1].address}:22" in err and "agent at 127.0.0.1" not in err, err


def test_board_whose_link_stays_down_is_reported_failed(two_boards, board_python, tmp_path):
    blocks, slow = _deploy_fast_and_slow(two_boards, board_python, tmp_path)
    write_fake_campaign(tmp_path, "[shake]", "retries: 1\nbaseline: board1\n")
    proc = _start_campaign_until_board2_runs(tmp_path, slow, "--json")
    try:
        two_boards[1].link_down()  # and it stays down
        out, err = proc.communicate(timeout=150)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        two_boards[1].link_up()
        stop("board1", SshTarget(**blocks["board1"]), tmp_path)
    assert proc.returncode == 1, f"{out}\n{err}"  # a device is unhealthy
    report = json.loads((tmp_path / "out" / "fake" / "report.json").read_text())
    devices = {d["name"]: d for d in report["devices"]}
    assert devices["board1"]["healthy"]
    bad = report["unhealthy"][0]
    assert bad["name"] == "board2" and devices["board2"]["attempts"] == 2
    address = two_boards[1].address
    # the last attempt could not even log in: the entry names the board's sshd once, the reason says why
    assert bad["address"] == f"ssh:{address}:22" and "board2" not in bad["reason"], bad
    assert "127.0.0.1" not in bad["address"]
    assert "Traceback" not in err


def test_real_engine_campaign_on_two_boards(two_boards, board_python, tmp_path, megengine_fixtures, lite_runtime):
    import shutil

    from typer.testing import CliRunner

    from controller.cli import app
    from tests.support.lite import lar_lite_command

    shutil.copyfile(megengine_fixtures / "models" / "tiny_cnn.mge", tmp_path / "tiny_cnn.mge")
    shutil.copyfile(megengine_fixtures / "inputs" / "tiny_cnn__data.npy", tmp_path / "data.npy")
    lar_lite = lar_lite_command()
    (tmp_path / "lite.json").write_text(
        json.dumps({"runners": {"lite": {"type": "lite", "path": lar_lite[0], "args": lar_lite[1:]}}})
    )
    blocks = {b.name: _block(b, board_python, tmp_path / "lite.json") for b in two_boards}
    farm = write_farm(tmp_path / "farm.yaml", blocks)
    (tmp_path / "campaign.yaml").write_text(
        "name: tiny\nmodel: tiny_cnn.mge\ninputs:\n  data: data.npy\nchecks: [naive, cross]\nbaseline: board1\n"
    )
    deployed = CliRunner().invoke(app, ["deploy", "--devices", str(farm)])
    assert deployed.exit_code == 0, deployed.output
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "controller.cli",
                "run",
                "--devices",
                "farm.yaml",
                "--campaign",
                "campaign.yaml",
                "--out",
                "out",
                "--json",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=240,
            env=dict(os.environ, COLUMNS="200"),
        )
    finally:
        CliRunner().invoke(app, ["stop", "--devices", str(farm)])
    assert proc.returncode == 1, proc.stderr  # naive differs from default on both boards
    data = json.loads(proc.stdout)
    by = {(c["kind"], tuple(c["devices"])): c for c in data["checks"]}
    for board in ("board1", "board2"):
        # MegEngine's own accuracy_shake_var_tree names var 9 (conv1) for these runs
        assert by[("naive", (board,))]["first"] == 9
        assert [r["id"] for r in by[("naive", (board,))]["roots"]] == [9]
    assert by[("cross", ("board1", "board2"))]["status"] == "ok"  # same engine, same build: identical
    assert all(d["healthy"] and d["attempts"] == 1 for d in data["devices"])


@pytest.fixture
def bastion_and_inner(tmp_path):
    need(netns.netns_missing())
    yield from netns.bastion_and_inner(tmp_path / "lab")


def test_deploy_through_a_bastion_to_a_board_we_cannot_route_to(bastion_and_inner, board_python, tmp_path):
    from typer.testing import CliRunner

    from controller.cli import app

    bastion, inner = bastion_and_inner
    with pytest.raises(OSError):  # no way to the inner board but through the bastion
        socket.create_connection((inner.address, 22), timeout=2).close()
    known = tmp_path / "known_hosts"
    known.write_text(bastion.sshd.host_key_line() + inner.sshd.host_key_line())
    block = inner.sshd.target(
        python=board_python, known_hosts=str(known), connect_timeout=5, jump={"host": bastion.address, "user": "root"}
    )
    farm = write_farm(tmp_path / "farm.yaml", {"inner": block})
    deployed = CliRunner().invoke(app, ["deploy", "--devices", str(farm)])
    assert deployed.exit_code == 0, deployed.output
    assert deployed.stdout.startswith(f"inner ({inner.address}:22): agent ")
    try:
        with (
            open_agent_tunnel("inner", SshTarget(**block), tmp_path) as ep,
            AgentClient(ep.address, ep.token) as client,
        ):
            assert client.facts().protocol == "larfarm.agent.v1"
        status = CliRunner().invoke(app, ["status", "--devices", str(farm)])
        assert status.exit_code == 0 and "health SERVING" in status.stdout, status.output
    finally:
        stopped = CliRunner().invoke(app, ["stop", "--devices", str(farm)])
    assert stopped.exit_code == 0 and "stopped pid" in stopped.stdout, stopped.output
    # a bastion whose host key is not known is refused like any host, naming the jump
    known.write_text(inner.sshd.host_key_line())
    result = CliRunner().invoke(app, ["status", "--devices", str(farm)])
    assert result.exit_code == 1
    # sshd answered: a key problem, not an unreachable board; the line names the jump host
    assert result.stdout.startswith(
        f"inner ({inner.address}:22): reachable; inner (jump {bastion.address}:22): host key ssh-ed25519 SHA256:"
    ), result.stdout
    assert f"ssh-keyscan -p 22 {bastion.address} >> {known}" in result.stdout
