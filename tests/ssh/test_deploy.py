"""`controller deploy|status|stop` against a real sshd on loopback and a bare board Python."""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from controller.agent_client import AgentClient
from controller.cli import app
from controller.ssh.agent_tunnel import open_agent_tunnel
from controller.ssh.config import SshTarget
from controller.ssh.errors import AgentNotRunning, NotDeployed
from tests.support.sshd import free_port, keygen, write_farm

runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, list(args))


def one_error_line(result) -> str:
    """The CLI failed with exactly one `error:` line on stderr and no traceback."""
    lines = result.stderr.strip().splitlines()
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    return lines[0]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child is dead for our purposes
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.fixture
def farm(sshd, board_python, tmp_path):
    """farm.yaml with board1 on the test sshd, run by the bare board Python."""
    block = sshd.target(python=board_python, agent_port=free_port())
    (tmp_path / "farm").mkdir()
    path = write_farm(tmp_path / "farm" / "farm.yaml", {"board1": block})
    yield path, SshTarget(**block)
    cli("stop", "--devices", str(path))  # never leave an agent behind


def test_deploy_status_run_stop(farm):
    path, target = farm
    result = cli("deploy", "--devices", str(path))
    assert result.exit_code == 0, result.output
    m = re.fullmatch(
        rf"board1 \(127\.0\.0\.1:{target.port}\): agent (\S+) running \(setsid pid (\d+)\), "
        rf"\S+ 3\.\d+\.\d+, healthy via SSH tunnel\n",
        result.stdout,
    )
    assert m, result.stdout
    pid = int(m.group(2))
    assert pid_alive(pid)

    # the token: 0600 on both sides, the same value
    local = path.parent / ".larfarm" / "tokens" / "board1.token"
    board = Path(target.workdir) / "agent.token"
    assert stat.S_IMODE(local.stat().st_mode) == 0o600
    assert stat.S_IMODE(board.stat().st_mode) == 0o600
    assert local.read_text() == board.read_text() and len(local.read_text().strip()) >= 40
    assert (Path(target.workdir) / "agent.pid").read_text().strip() == str(pid)

    # the agent answers only through the tunnel, with the token deploy stored
    with open_agent_tunnel("board1", target, path.parent) as ep:
        assert ep.address.startswith("127.0.0.1:") and ep.address != f"127.0.0.1:{target.agent_port}"
        with AgentClient(ep.address, ep.token) as client:
            facts = client.facts()
        assert facts.agent_version == m.group(1)
        assert facts.protocol == "larfarm.agent.v1"

    result = cli("status", "--devices", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"board1 (127.0.0.1:{target.port}): reachable; agent running (setsid pid {pid}); "
        f"health SERVING; version {m.group(1)}\n"
    )

    # idempotent: deploy again replaces the running agent cleanly
    result = cli("deploy", "--devices", str(path), "--device", "board1")
    assert result.exit_code == 0, result.output
    assert f"replaced pid {pid}" in result.stdout
    new_pid = int(re.search(r"setsid pid (\d+)", result.stdout).group(1))
    assert new_pid != pid and not pid_alive(pid) and pid_alive(new_pid)

    result = cli("stop", "--devices", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"board1 (127.0.0.1:{target.port}): stopped pid {new_pid}\n"
    assert not pid_alive(new_pid)
    assert not (Path(target.workdir) / "agent.pid").exists()
    with pytest.raises(AgentNotRunning) as exc:
        with open_agent_tunnel("board1", target, path.parent):
            pass
    assert str(exc.value) == (
        f"board1 (127.0.0.1:{target.port}): no agent listens on 127.0.0.1:{target.agent_port} "
        "on the board; run `controller deploy --devices <farm.yaml> --device board1`"
    )

    result = cli("status", "--devices", str(path), "--json")
    assert result.exit_code == 1  # not up
    assert '"running": false' in result.stdout and '"reachable": true' in result.stdout
    result = cli("stop", "--devices", str(path))
    assert result.stdout.endswith("no agent was running\n")


def test_the_zipapp_holds_the_agent_not_the_controller(farm):
    path, target = farm
    result = cli("deploy", "--devices", str(path))
    assert result.exit_code == 0, result.output
    import zipfile

    names = zipfile.ZipFile(Path(target.workdir) / "larfarm-agent.pyz").namelist()
    assert "agent/server.py" in names and "larfarm/agent/v1/agent_pb2.py" in names
    assert not [n for n in names if n.startswith(("controller/", "analysis/", "agent/lar_lite/"))]


def test_open_agent_tunnel_before_deploy_says_so(sshd, tmp_path):
    target = SshTarget(**sshd.target())
    with pytest.raises(NotDeployed, match=r"no agent token at .*board1\.token; run `controller deploy"):
        with open_agent_tunnel("board1", target, tmp_path):
            pass


def test_no_python_on_the_board(sshd, tmp_path):
    path = write_farm(tmp_path / "farm.yaml", {"board1": sshd.target(python="/nonexistent/python3")})
    line = one_error_line(cli("deploy", "--devices", str(path)))
    assert line == (
        f"error: board1 (127.0.0.1:{sshd.port}): python '/nonexistent/python3' not found on the board; "
        "install Python >= 3.8 or set `python:` under ssh: to its path"
    )


def test_python_too_old(sshd, tmp_path):
    # What the board helper prints under a Python 3.7 (it stops after reporting its version).
    old = tmp_path / "python3.7"
    old.write_text(
        '#!/bin/sh\ncat >/dev/null\necho \'{"python": "3.7.3", "executable": "/usr/bin/python3.7", '
        '"modules": {}, "errors": {}}\'\n'
    )
    old.chmod(0o755)
    path = write_farm(tmp_path / "farm.yaml", {"board1": sshd.target(python=str(old))})
    line = one_error_line(cli("deploy", "--devices", str(path)))
    assert line == f"error: board1 (127.0.0.1:{sshd.port}): {old} 3.7.3 is too old (need >= 3.8)"


def test_grpcio_missing(sshd, tmp_path):
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    bare = str(venv / "bin" / "python3")
    path = write_farm(tmp_path / "farm.yaml", {"board1": sshd.target(python=bare)})
    line = one_error_line(cli("deploy", "--devices", str(path)))
    assert re.fullmatch(
        rf"error: board1 \(127\.0\.0\.1:{sshd.port}\): protobuf, grpcio missing for {re.escape(bare)} "
        r"3\.\d+\.\d+: pip install grpcio protobuf",
        line,
    ), line


@pytest.mark.parametrize("reuseport", [False, True], ids=["plain", "so_reuseport"])
def test_agent_port_already_in_use(sshd, board_python, tmp_path, reuseport):
    # With SO_REUSEPORT (as gRPC servers bind) the agent could bind beside the
    # other program and share its connections: deploy must refuse that too.
    with socket.socket() as other:
        if reuseport:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        port = other.getsockname()[1]
        block = sshd.target(python=board_python, agent_port=port)
        path = write_farm(tmp_path / "farm.yaml", {"board1": block})
        line = one_error_line(cli("deploy", "--devices", str(path)))
    assert line.startswith(
        f"error: board1 (127.0.0.1:{sshd.port}): agent port {port} is already in use on the board by another program"
    )
    assert line.endswith("stop it or set `agent_port:` under ssh:")
    assert not (Path(block["workdir"]) / "agent.pid").exists()


def test_agent_that_exits_at_start_shows_its_error(sshd, board_python, tmp_path):
    bad = tmp_path / "agent.yaml"
    bad.write_text("listen: 127.0.0.1:1\nno_such_key: 1\n")
    block = sshd.target(python=board_python, agent_port=free_port(), agent_config=str(bad))
    path = write_farm(tmp_path / "farm.yaml", {"board1": block})
    line = one_error_line(cli("deploy", "--devices", str(path)))
    assert line.startswith(f"error: board1 (127.0.0.1:{sshd.port}): agent exited (status 2) right after start: ")
    assert "no_such_key" in line and line.endswith("agent.log")


def test_unreachable_host(tmp_path):
    dead = free_port()
    path = write_farm(tmp_path / "farm.yaml", {"board1": {"host": "127.0.0.1", "port": dead, "connect_timeout": 3}})
    line = one_error_line(cli("deploy", "--devices", str(path)))
    assert line == f"error: board1 (127.0.0.1:{dead}): cannot connect to sshd: Connection refused"
    result = cli("status", "--devices", str(path))
    assert result.exit_code == 1
    assert result.stdout == f"board1 (127.0.0.1:{dead}): unreachable: cannot connect to sshd: Connection refused\n"
    assert one_error_line(cli("stop", "--devices", str(path))).endswith("Connection refused")


def test_wrong_key_and_changed_host_key_via_cli(sshd, tmp_path):
    other = keygen(tmp_path / "other")
    path = write_farm(tmp_path / "farm.yaml", {"board1": sshd.target(key_file=str(other))})
    assert "sshd refused login as root" in one_error_line(cli("deploy", "--devices", str(path)))
    keygen(tmp_path / "fakehost")
    kind, b64 = (tmp_path / "fakehost.pub").read_text().split()[:2]
    kh = tmp_path / "kh"
    kh.write_text(f"[127.0.0.1]:{sshd.port} {kind} {b64}\n")
    path = write_farm(tmp_path / "farm.yaml", {"board1": sshd.target(known_hosts=str(kh))})
    result = cli("deploy", "--devices", str(path))
    assert result.exit_code == 1
    assert "host key CHANGED" in one_error_line(result)


def test_bad_selection_and_missing_farm(sshd, tmp_path):
    path = write_farm(tmp_path / "farm.yaml", {"board1": sshd.target()})
    result = cli("deploy", "--devices", str(path), "--device", "nope")
    assert result.exit_code == 2
    assert one_error_line(result) == f"error: {path}: no device named 'nope' (devices: board1)"
    result = cli("status", "--devices", str(tmp_path / "missing.yaml"))
    assert result.exit_code == 2
    assert one_error_line(result) == f"error: {tmp_path / 'missing.yaml'}: file not found"


def test_deploy_through_a_jump_host(farm):
    path, target = farm
    block = target.model_dump(exclude_none=True)
    block["jump"] = {"host": "127.0.0.1", "port": target.port}
    path = write_farm(path, {"board1": block})
    result = cli("deploy", "--devices", str(path))
    assert result.exit_code == 0, result.output
    with (
        open_agent_tunnel("board1", SshTarget(**block), path.parent) as ep,
        AgentClient(ep.address, ep.token) as client,
    ):
        assert client.facts().protocol == "larfarm.agent.v1"


@pytest.mark.root  # starts its own sshd, which needs root
def test_board_without_sftp(board_python, tmp_path):
    from tests.support.sshd import start_sshd

    server = start_sshd(tmp_path / "nosftp", sftp=False)
    try:
        block = server.target(python=board_python, agent_port=free_port())
        path = write_farm(tmp_path / "farm.yaml", {"board1": block})
        result = cli("deploy", "--devices", str(path))
        assert result.exit_code == 0, result.output
        token = Path(block["workdir"]) / "agent.token"
        assert stat.S_IMODE(token.stat().st_mode) == 0o600
        result = cli("stop", "--devices", str(path))
        assert result.exit_code == 0, result.output
    finally:
        server.stop()


def test_systemd_asked_where_there_is_no_user_manager(sshd, board_python, tmp_path):
    probe = subprocess.run(["systemctl", "--user", "show-environment"], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("this machine has a systemd --user manager")
    path = write_farm(tmp_path / "farm.yaml", {"board1": sshd.target(python=board_python, agent_service="systemd")})
    line = one_error_line(cli("deploy", "--devices", str(path)))
    assert line.startswith(f"error: board1 (127.0.0.1:{sshd.port}): agent_service: systemd, but ")
    assert line.endswith("use agent_service: setsid or auto")


@pytest.mark.root  # starts its own sshd, which needs root
def test_board_whose_sshd_forbids_forwarding(board_python, tmp_path):
    from tests.support.sshd import start_sshd

    server = start_sshd(tmp_path / "noforward", forwarding=False)
    try:
        path = write_farm(
            tmp_path / "farm.yaml", {"board1": server.target(python=board_python, agent_port=free_port())}
        )
        line = one_error_line(cli("deploy", "--devices", str(path)))
        assert line == (
            f"error: board1 (127.0.0.1:{server.port}): the board's sshd forbids port forwarding "
            "(AllowTcpForwarding no), and the agent is reached only through it"
        )
    finally:
        cli("stop", "--devices", str(path))
        server.stop()


def test_workdir_that_cannot_be_made(sshd, board_python, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    path = write_farm(tmp_path / "farm.yaml", {"board1": sshd.target(python=board_python, workdir=str(blocker / "w"))})
    line = one_error_line(cli("deploy", "--devices", str(path)))
    assert line.startswith(f"error: board1 (127.0.0.1:{sshd.port}): workdir {blocker / 'w'} is not writable: ")
    assert "Not a directory" in line


def test_missing_agent_config_is_reported_before_touching_the_board(tmp_path):
    # The host is unreachable: the local mistake must be what is reported.
    block = {"host": "127.0.0.1", "port": free_port(), "agent_config": "nope.yaml"}
    path = write_farm(tmp_path / "farm.yaml", {"board1": block})
    line = one_error_line(cli("deploy", "--devices", str(path)))
    assert line == f"error: board1 (127.0.0.1:{block['port']}): agent_config {tmp_path / 'nope.yaml'}: file not found"


@pytest.mark.parametrize(
    "block, field, says",
    [
        ({"host": "b", "workdir": "larfarm"}, "devices[0].ssh.workdir", "must be absolute or start with ~/"),
        ({"host": "b", "hots": "typo"}, "devices[0].ssh.hots", "unknown field"),
        ({"host": "b", "port": 70000}, "devices[0].ssh.port", "65535"),
        ({"host": "b", "host_key_policy": "yes"}, "devices[0].ssh.host_key_policy", "strict"),
    ],
)
def test_bad_ssh_block_names_file_line_and_field(tmp_path, block, field, says):
    path = write_farm(tmp_path / "farm.yaml", {"board1": block})
    result = cli("deploy", "--devices", str(path))
    assert result.exit_code == 2
    line = one_error_line(result)
    assert re.match(rf"error: {re.escape(str(path))}:\d+: {re.escape(field)}: ", line), line
    assert says in line


def test_a_bug_on_one_board_is_one_line_and_spares_the_others(tmp_path, monkeypatch):
    import controller.ssh.deploy as deploy_mod
    from controller.ssh.deploy import BoardStatus

    def fake_status(name, target, farm_dir):
        if name == "board1":
            raise RuntimeError("boom")
        return BoardStatus(name, target.where, False, error="cannot connect to sshd: Connection refused")

    monkeypatch.setattr(deploy_mod, "status", fake_status)
    path = write_farm(tmp_path / "farm.yaml", {"board1": {"host": "a"}, "board2": {"host": "b"}})
    result = cli("status", "--devices", str(path))
    assert result.exit_code == 1
    assert re.fullmatch(
        r"error: board1: internal error: RuntimeError: boom at controller/\S+:\d+ "
        r"\(hint: a bug in larfarm; rerun with --debug for the traceback and report it\)",
        one_error_line(result),
    )
    assert result.stdout == "board2 (b:22): unreachable: cannot connect to sshd: Connection refused\n"


def test_agent_version_errors_name_the_board_not_the_tunnel():
    import socket

    from controller.ssh.config import SshTarget
    from controller.ssh.deploy import _facts_version

    with socket.socket() as held:  # a tunnel end nothing answers on
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        version = _facts_version(f"127.0.0.1:{port}", "t", SshTarget(host="board.lab", port=2222))
    assert version.startswith("? (agent at ssh:board.lab:2222 is unreachable"), version
    assert f"agent at 127.0.0.1:{port}" not in version
