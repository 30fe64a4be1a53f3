"""The board-side helper: it must parse on old Pythons, and its systemd unit must be valid."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import controller.ssh.remote_helper as helper

SOURCE = Path(helper.__file__).read_text()


def test_helper_uses_no_syntax_newer_than_python_3_5():
    # A board with Python 3.7 (or 2.7) must get as far as reporting its version.
    tree = ast.parse(SOURCE)
    newer = [type(n).__name__ for n in ast.walk(tree)
             if isinstance(n, (ast.JoinedStr, ast.NamedExpr, ast.AnnAssign))
             or (isinstance(n, (ast.FunctionDef, ast.arg)) and getattr(n, "returns", None) is not None)
             or (isinstance(n, ast.arg) and n.annotation is not None)]
    assert newer == []
    imports = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imports |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imports <= set(sys.stdlib_module_names)


def test_probe_reports_version_and_missing_modules(tmp_path):
    out = subprocess.run([sys.executable, "-", "probe", '{"modules": ["grpc", "no_such_mod"], "workdir": "%s"}'
                          % (tmp_path / "w")], input=SOURCE, capture_output=True, text=True, check=True)
    import json

    info = json.loads(out.stdout)
    assert info["python"] == "%d.%d.%d" % sys.version_info[:3]
    assert "grpc" in info["modules"] and "no_such_mod" in info["errors"]
    assert info["workdir_ok"] and (tmp_path / "w").is_dir()


def test_unit_text_quotes_for_systemd(tmp_path):
    workdir = tmp_path / "dir with space" / "50%"
    workdir.mkdir(parents=True)
    argv = [sys.executable, str(workdir / "larfarm-agent.pyz"), "serve", "--listen", "127.0.0.1:50051", 'odd"arg']
    text = helper.unit_text(str(workdir), argv, str(workdir / "agent.log"))
    exec_line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert exec_line == ('ExecStart="%s" "%s" "serve" "--listen" "127.0.0.1:50051" "odd\\"arg"'
                         % (sys.executable, str(workdir / "larfarm-agent.pyz").replace("%", "%%")))
    assert "Restart=on-failure" in text
    unit = tmp_path / "larfarm-agent-test.service"
    unit.write_text(text)
    if shutil.which("systemd-analyze"):  # where systemd is installed, let it judge the file too
        verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
        assert verify.returncode == 0, verify.stderr
