"""Faults: an unreachable device, an agent killed mid-run, a controller killed or interrupted and resumed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.controller.campaigns import (
    REPO,
    controller_argv,
    fake_program,
    load_report,
    run_controller,
    run_json,
    write_fake_campaign,
    write_farm,
)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections for the whole test.

    The socket stays bound but never listens: connecting gets RST, and no other
    bind(0) (another test's agent, this test's local agent) can take the port meanwhile,
    which once made the "ghost" device reach a real agent.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def test_unreachable_device_is_named_while_others_complete(tmp_path: Path, closed_port: int) -> None:
    port = closed_port
    write_farm(
        tmp_path,
        [
            {"name": "ghost", "address": f"127.0.0.1:{port}"},
            {"name": "ok-1", "local": True, "program": str(fake_program(tmp_path, "fast"))},
        ],
    )
    write_fake_campaign(tmp_path, "[shake, cross]", "retries: 0\nbaseline: ok-1\n")
    proc = run_controller(["run", "--devices", "farm.yaml", "--campaign", "campaign.yaml", "--out", "out"], tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert f"ghost (127.0.0.1:{port})" in proc.stdout
    data = load_report(tmp_path / "out", "fake")
    assert data["unhealthy"][0]["name"] == "ghost"
    assert data["unhealthy"][0]["address"] == f"127.0.0.1:{port}"
    assert "unreachable" in data["unhealthy"][0]["reason"]
    kinds = {(c["kind"], tuple(c["devices"])): c["status"] for c in data["checks"]}
    assert kinds[("shake", ("ok-1",))] == "ok"
    assert kinds[("cross", ("ok-1", "ghost"))] == "skipped"
    assert run_json(tmp_path / "out", "fake", "ok-1.repeat-2")["status"] == "complete"


def test_no_device_reachable_exits_2(tmp_path: Path, closed_port: int) -> None:
    write_farm(tmp_path, [{"name": "ghost", "address": f"127.0.0.1:{closed_port}"}])
    write_fake_campaign(tmp_path, "[shake]", "retries: 0\n")
    proc = run_controller(["run", "--devices", "farm.yaml", "--campaign", "campaign.yaml", "--out", "out"], tmp_path)
    assert proc.returncode == 2
    assert "no device could run the campaign" in proc.stderr and "Traceback" not in proc.stderr


def test_agent_killed_mid_run_is_retried(tmp_path: Path) -> None:
    marker = tmp_path / "killed-once"
    prog = fake_program(tmp_path, "killer", kill_parent_once=str(marker))
    write_farm(tmp_path, [{"name": "flaky", "local": True, "program": str(prog)}])
    write_fake_campaign(tmp_path, "[shake]", "retries: 2\n")
    proc = run_controller(["run", "--devices", "farm.yaml", "--campaign", "campaign.yaml", "--out", "out"], tmp_path)
    assert marker.exists()  # the agent really was killed during the first run
    assert proc.returncode == 0, proc.stderr
    data = load_report(tmp_path / "out", "fake")
    dev = data["devices"][0]
    assert dev["healthy"] and dev["attempts"] == 2
    assert "retry" in proc.stderr


def _wait_complete(out: Path, run_ids, proc: subprocess.Popen, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if all((r := run_json(out, "fake", rid)) and r["status"] == "complete" for rid in run_ids):
            return
        if proc.poll() is not None:
            raise AssertionError(f"controller ended early: {proc.communicate()}")
        time.sleep(0.1)
    raise AssertionError("fast device never completed")


def _local_agents_of(tmp: Path) -> list:
    """Live `agent serve` processes whose runner is one of this test's programs."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().split()[2]
        except OSError:
            continue
        config = next((c for c in cmd if c.endswith(b"agent.json")), None)
        if b"serve" not in cmd or state == "Z" or config is None:
            continue
        try:
            if str(tmp).encode() in Path(config.decode()).read_bytes():
                found.append(int(proc.name))
        except OSError:  # stopped meanwhile and its folder removed
            continue
    return found


def _local_folders_of(tmp: Path) -> list:
    """The larfarm-local-* folders (in the temp dir) of local agents running this test's programs."""
    found = []
    for folder in Path(tempfile.gettempdir()).glob("larfarm-local-*"):
        try:
            if str(tmp).encode() in (folder / "agent.json").read_bytes():
                found.append(folder)
        except OSError:
            continue
    return found


@pytest.fixture(autouse=True)
def _no_agent_outlives_the_test(tmp_path: Path) -> Iterator[None]:
    """Kill (by pid) any local agent of this test still alive at teardown and remove its folder,
    so a failing test leaks neither processes nor temp folders."""
    yield
    for pid in _local_agents_of(tmp_path):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:  # gone meanwhile
            pass
    for folder in _local_folders_of(tmp_path):
        shutil.rmtree(folder, ignore_errors=True)


def _interrupted_then_resumed(tmp_path: Path, sig: int) -> None:
    fast = fake_program(tmp_path, "fast")
    slow = fake_program(tmp_path, "slow", sleep_s=60.0)
    write_farm(
        tmp_path,
        [{"name": "fast", "local": True, "program": str(fast)}, {"name": "slow", "local": True, "program": str(slow)}],
    )
    write_fake_campaign(tmp_path, "[shake]")
    out = tmp_path / "out"
    env = dict(os.environ, COLUMNS="200")
    proc = subprocess.Popen(
        controller_argv("run", "--devices", "farm.yaml", "--campaign", "campaign.yaml", "--out", "out"),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_complete(out, ["fast.default", "fast.repeat-2"], proc)
        before = {rid: run_json(out, "fake", rid) for rid in ("fast.default", "fast.repeat-2")}
        # the slow device's agent is up (fast's ended with its device thread): the check below sees agents
        assert len(_local_agents_of(tmp_path)) >= 1
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err
        assert "interrupted" in err and "Traceback" not in err
    else:
        assert proc.returncode == -signal.SIGKILL
    # the local agents do not outlive their controller, however it ended
    deadline = time.monotonic() + 30  # SIGTERM: the agent cancels its run and shuts down
    while _local_agents_of(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _local_agents_of(tmp_path) == []
    # nothing of the slow device is recorded as complete, and no partial file is left under a real name
    assert run_json(out, "fake", "slow.default") is None
    assert not list(out.rglob("*.larfarm-partial"))
    # resume with a slow device that is now quick: the fast device's runs are not redone
    write_farm(
        tmp_path,
        [{"name": "fast", "local": True, "program": str(fast)}, {"name": "slow", "local": True, "program": str(fast)}],
    )
    again = run_controller(
        ["run", "--devices", "farm.yaml", "--campaign", "campaign.yaml", "--out", "out", "--resume"], tmp_path
    )
    assert again.returncode == 0, again.stderr
    for rid, rec in before.items():
        assert run_json(out, "fake", rid) == rec  # same agent run id, same timestamps
    assert run_json(out, "fake", "slow.repeat-2")["status"] == "complete"
    # no temp folder outlives its agents: a killed controller's are removed by the next one
    left = _local_folders_of(tmp_path)
    assert left == [], [sorted(str(p.relative_to(f)) for p in f.rglob("*")) for f in left]
    # without --resume the store refuses to mix campaigns
    third = run_controller(["run", "--devices", "farm.yaml", "--campaign", "campaign.yaml", "--out", "out"], tmp_path)
    assert third.returncode == 2 and "--resume" in third.stderr


def test_ctrl_c_cancels_and_resume_redoes_nothing_complete(tmp_path: Path) -> None:
    _interrupted_then_resumed(tmp_path, signal.SIGINT)


def test_controller_killed_and_resumed(tmp_path: Path) -> None:
    _interrupted_then_resumed(tmp_path, signal.SIGKILL)


def test_failing_program_marks_device_unhealthy(tmp_path: Path) -> None:
    write_farm(
        tmp_path,
        [
            {"name": "bad", "local": True, "program": str(fake_program(tmp_path, "bad", fail=True))},
            {"name": "good", "local": True, "program": str(fake_program(tmp_path, "good"))},
        ],
    )
    write_fake_campaign(tmp_path, "[shake]", "retries: 1\n")
    proc = run_controller(["run", "--devices", "farm.yaml", "--campaign", "campaign.yaml", "--out", "out"], tmp_path)
    assert proc.returncode == 1
    data = load_report(tmp_path / "out", "fake")
    bad = next(d for d in data["devices"] if d["name"] == "bad")
    assert not bad["healthy"] and bad["attempts"] == 2 and "failed" in bad["reason"]
    assert bad["reason"].startswith("run bad.default failed: ") and "failed: failed" not in bad["reason"], bad
    assert next(d for d in data["devices"] if d["name"] == "good")["healthy"]
    rec = run_json(tmp_path / "out", "fake", "bad.default")
    assert rec["status"] == "failed"


def test_repo_root_is_importable() -> None:
    assert (REPO / "controller" / "cli.py").is_file()


def test_naive_and_thresholds_on_fake_dumps(tmp_path: Path) -> None:
    write_farm(tmp_path, [{"name": "d1", "local": True, "program": str(fake_program(tmp_path, "f", vars=40))}])
    write_fake_campaign(tmp_path, "[naive, thresholds]")
    proc = run_controller(
        ["run", "--devices", "farm.yaml", "--campaign", "campaign.yaml", "--out", "out", "--json"], tmp_path
    )
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    naive = next(c for c in data["checks"] if c["kind"] == "naive")
    assert naive["first"] == 20 and [r["id"] for r in naive["roots"]] == [20]
    assert naive["differing"] == list(range(20, 41))
    th = next(c for c in data["checks"] if c["kind"] == "thresholds")
    # the jump from 1e-6 to 1e-3 at var 30 is where analysis cuts; var 30 is the root above the cut
    assert 1e-6 < th["threshold"] < 1e-3
    assert [r["id"] for r in th["roots"]] == [30] and th["first"] == 30
    amp = th["roots"][0]["amplification"]
    assert amp > 100


def test_ssh_device_is_named_once_with_its_ssh_address(tmp_path: Path, closed_port: int) -> None:
    port = closed_port
    write_farm(
        tmp_path,
        [
            {"name": "b1", "ssh": {"host": "127.0.0.1", "port": port, "user": "me"}},
            {
                "name": "b2",
                "ssh": {"host": "127.0.0.1", "port": port, "user": "me", "jump": {"host": "127.0.0.1", "port": port}},
            },
        ],
    )
    tokens = tmp_path / ".larfarm" / "tokens"
    tokens.mkdir(parents=True)
    (tokens / "b2.token").write_text("t\n")
    (tokens / "b2.token").chmod(0o600)
    write_fake_campaign(tmp_path, "[shake]", "retries: 0\n")
    proc = run_controller(["run", "--devices", "farm.yaml", "--campaign", "campaign.yaml", "--out", "out"], tmp_path)
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: no device could run the campaign: b1 (ssh:127.0.0.1:{port}): no agent token"), line
    assert f"; b2 (ssh:127.0.0.1:{port}): via jump 127.0.0.1:{port}: cannot connect" in line, line
    assert line.count("b1 (") == 1 and line.count("b2 (") == 1, line
