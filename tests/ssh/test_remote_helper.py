"""The board-side helper: it must parse on old Pythons, and its systemd unit must be valid."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import controller.ssh.remote_helper as helper
from tests.support.sshd import free_port, kill_processes_under

SOURCE = Path(helper.__file__).read_text()


def test_helper_uses_no_syntax_newer_than_python_3_5():
    # A board with Python 3.7 (or 2.7) must get as far as reporting its version.
    tree = ast.parse(SOURCE)
    newer = [
        type(n).__name__
        for n in ast.walk(tree)
        if isinstance(n, (ast.JoinedStr, ast.NamedExpr, ast.AnnAssign))
        or (isinstance(n, (ast.FunctionDef, ast.arg)) and getattr(n, "returns", None) is not None)
        or (isinstance(n, ast.arg) and n.annotation is not None)
    ]
    assert newer == []
    imports = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imports |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imports <= set(sys.stdlib_module_names)


def test_probe_reports_version_and_missing_modules(tmp_path):
    out = subprocess.run(
        [sys.executable, "-", "probe", '{"modules": ["grpc", "no_such_mod"], "workdir": "%s"}' % (tmp_path / "w")],
        input=SOURCE,
        capture_output=True,
        text=True,
        check=True,
    )
    import json

    info = json.loads(out.stdout)
    assert info["python"] == ".".join(str(v) for v in sys.version_info[:3])
    assert "grpc" in info["modules"] and "no_such_mod" in info["errors"]
    assert info["workdir_ok"] and (tmp_path / "w").is_dir()


def test_unit_text_quotes_for_systemd(tmp_path):
    workdir = tmp_path / "dir with space" / "50%"
    workdir.mkdir(parents=True)
    argv = [sys.executable, str(workdir / "larfarm-agent.pyz"), "serve", "--listen", "127.0.0.1:50051", 'odd"arg']
    text = helper.unit_text(str(workdir), argv, str(workdir / "agent.log"))
    exec_line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    pyz = str(workdir / "larfarm-agent.pyz").replace("%", "%%")  # systemd's own escape of %
    assert exec_line == f'ExecStart="{sys.executable}" "{pyz}" "serve" "--listen" "127.0.0.1:50051" "odd\\"arg"'
    assert "Restart=on-failure" in text
    unit = tmp_path / "larfarm-agent-test.service"
    unit.write_text(text)
    if shutil.which("systemd-analyze"):  # where systemd is installed, let it judge the file too
        verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
        assert verify.returncode == 0, verify.stderr


STUBBORN = """
import signal, socket, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # an agent that will not stop politely
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC servers do
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
while True:
    s.accept()[0].close()
"""


def _helper(cmd: str, args: dict) -> dict:
    import json

    out = subprocess.run(
        [sys.executable, "-", cmd, json.dumps(args)], input=SOURCE, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_start_status_stop_of_an_agent_that_ignores_sigterm(tmp_path):
    workdir = tmp_path / "w"
    workdir.mkdir()
    pyz = workdir / "larfarm-agent.pyz"  # the helper only stops what runs this file
    pyz.write_text(STUBBORN)
    port = free_port()
    started = _helper(
        "start",
        {
            "workdir": str(workdir),
            "port": port,
            "service": "setsid",
            "wait_s": 20,
            "argv": [sys.executable, str(pyz), str(port)],
        },
    )
    try:
        _check_stubborn_lifecycle(workdir, port, started)
    finally:
        kill_processes_under(workdir)  # whatever failed above, leave nothing running


def _check_stubborn_lifecycle(workdir: Path, port: int, started: dict) -> None:
    assert started["listening"] and started["how"] == "setsid"
    pid = started["pid"]
    assert (workdir / "agent.pid").read_text().strip() == str(pid)
    st = _helper("status", {"workdir": str(workdir), "port": port})
    assert st == {"deployed": True, "how": "setsid", "pid": pid, "running": True, "listening": True}
    stopped = _helper("stop", {"workdir": str(workdir), "port": port, "grace_s": 0.5})
    assert stopped == {"stopped": [f"pid {pid}"]}
    assert not (workdir / "agent.pid").exists()
    st = _helper("status", {"workdir": str(workdir), "port": port})
    assert st["running"] is False and st["listening"] is False
    assert _helper("port", {"port": port}) == {"free": True}


def test_stop_leaves_a_stranger_with_a_recycled_pid_alone(tmp_path):
    workdir = tmp_path / "w"
    workdir.mkdir()
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (workdir / "agent.pid").write_text(f"{stranger.pid}\n")  # stale pid file, pid now someone else's
        assert _helper("stop", {"workdir": str(workdir), "port": 1}) == {"stopped": []}
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()
