"""The CLI shell of all three programs: for every subcommand a corrupt input is one stderr line, no traceback,
and the documented exit code; `controller` is tried with the newest typer installed and the oldest we support.

The oldest typer (with the click of its time) is installed once with pip into ~/.cache/larfarm and put
ahead of the venv's own on PYTHONPATH, so the two runs differ only in typer and click.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pytest

from tests.controller.campaigns import REPO

#: the lower bound of typer in pyproject.toml, with the newest click of its time
OLDEST_TYPER = ("typer==0.12.5", "click==8.1.7")

#: subcommand -> (argv, files to write {name: text}, exit code, what the line says)
Case = Tuple[List[str], Dict[str, str], int, str]

CORRUPT_FARM = {"farm.yaml": "devices:\n  - name: a\n    local: true\n  - {name: b\n"}
CONTROLLER_CASES: Dict[str, Case] = {
    "run": (["run", "--devices", "farm.yaml", "--out", "out"], CORRUPT_FARM, 2, "farm.yaml:5: invalid YAML"),
    "report": (["report", "out"], {"out/report.json": '{"campaign": "c", "checks": [{"kind": '}, 2, "not JSON"),
    "compare": (["compare", "a", "b"], {"a/run.json": "{", "b/run.json": "{}"}, 2, "a/run.json"),
    "deploy": (["deploy", "--devices", "farm.yaml"], CORRUPT_FARM, 2, "farm.yaml:5: invalid YAML"),
    "status": (["status", "--devices", "farm.yaml"], CORRUPT_FARM, 2, "farm.yaml:5: invalid YAML"),
    "stop": (["stop", "--devices", "farm.yaml"], CORRUPT_FARM, 2, "farm.yaml:5: invalid YAML"),
    "devices": (["devices", "--adb", "--adb-program", "adb"], {"adb": "not a program"}, 2, "cannot run"),
}


def _cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "larfarm"


def oldest_typer_path() -> Path:
    """A folder holding the oldest supported typer and click, installed on first use and kept."""
    target = _cache_root() / ("-".join(p.replace("==", "-") for p in OLDEST_TYPER))
    if (target / "typer").is_dir() and (target / "click").is_dir():
        return target
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp), *OLDEST_TYPER],
        capture_output=True,
        text=True,
        timeout=300,
    )
    # Not a skip: this test is how we know the lower bound in pyproject.toml still holds.
    assert proc.returncode == 0, f"cannot install {' '.join(OLDEST_TYPER)}: {proc.stderr[-2000:]}"
    try:
        os.replace(tmp, target)
    except OSError:  # another run put it there first
        shutil.rmtree(tmp, ignore_errors=True)
    return target


@pytest.fixture(scope="module", params=["newest", "oldest"])
def typer_path(request: pytest.FixtureRequest) -> Optional[Path]:
    """None for the venv's own typer, else the folder to put first on PYTHONPATH."""
    return None if request.param == "newest" else oldest_typer_path()


def _env(extra_path: Optional[Path]) -> Dict[str, str]:
    env = dict(os.environ, COLUMNS="200")
    paths = [str(extra_path)] if extra_path else []
    paths.append(str(REPO))
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def _run(argv: Sequence[str], cwd: Path, extra_path: Optional[Path] = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *argv], cwd=cwd, capture_output=True, text=True, timeout=120, env=_env(extra_path)
    )


def _write(root: Path, files: Dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def assert_one_line(proc: subprocess.CompletedProcess, code: int, says: str, prefix: str) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(prefix) and says in lines[0], lines[0]
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    return lines[0]


def test_the_typer_under_test_is_the_one_asked_for(typer_path: Optional[Path], tmp_path: Path) -> None:
    code = "import typer, importlib.metadata as m; print(m.version('typer'), m.version('click'))"
    proc = _run(["-c", code], tmp_path, typer_path)
    typer_version, click_version = proc.stdout.split()
    if typer_path is not None:
        assert (f"typer=={typer_version}", f"click=={click_version}") == OLDEST_TYPER
    else:
        assert tuple(int(p) for p in typer_version.split(".")[:2]) >= (0, 12)


def test_every_controller_subcommand_has_a_case() -> None:
    """A new subcommand must bring its corrupt-input case here."""
    from controller.cli import app

    names = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    assert names == set(CONTROLLER_CASES)


@pytest.mark.parametrize("command", sorted(CONTROLLER_CASES))
def test_controller_corrupt_input_is_one_line(typer_path: Optional[Path], tmp_path: Path, command: str) -> None:
    argv, files, code, says = CONTROLLER_CASES[command]
    _write(tmp_path, files)
    proc = _run(["-m", "controller.cli", *argv], tmp_path, typer_path)
    assert_one_line(proc, code, says, "error: ")


def test_controller_usage_and_debug(typer_path: Optional[Path], tmp_path: Path) -> None:
    _write(tmp_path, CONTROLLER_CASES["report"][1])
    usage = _run(["-m", "controller.cli", "report"], tmp_path, typer_path)
    assert_one_line(usage, 2, "Missing argument", "controller report: error: ")
    # --debug belongs to the root command only, and shows the traceback there
    local = _run(["-m", "controller.cli", "report", "out", "--debug"], tmp_path, typer_path)
    assert_one_line(local, 2, "--debug", "controller report: error: ")
    debug = _run(["-m", "controller.cli", "--debug", "report", "out"], tmp_path, typer_path)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "StoreError" in debug.stderr
    alone = _run(["-m", "controller.cli"], tmp_path, typer_path)
    assert alone.returncode == 2 and "Usage: controller" in alone.stderr + alone.stdout


def test_report_refuses_special_and_unknown_files(tmp_path: Path) -> None:
    folder = tmp_path / "fifo"
    folder.mkdir()
    os.mkfifo(folder / "report.json")  # reading it the plain way blocks for ever
    cases = {
        "fifo": (2, "not a regular file (a FIFO)"),
        "array": (2, "expected a JSON object"),
        "schema": (2, "schema 'larfarm.report.v9' is not one this controller reads"),
        "keys": (2, "checks[0].roots is missing"),
    }
    _write(
        tmp_path,
        {
            "array/report.json": "[]",
            "schema/report.json": json.dumps({"schema": "larfarm.report.v9", "campaign": "c"}),
            "keys/report.json": json.dumps(
                {
                    "schema": "larfarm.report.v2",
                    "campaign": "c",
                    "unhealthy": [],
                    "checks": [{"kind": "naive", "devices": [], "status": "ok", "differing": []}],
                }
            ),
        },
    )
    for name, (code, says) in cases.items():
        proc = _run(["-m", "controller.cli", "report", name], tmp_path)
        assert_one_line(proc, code, says, "error: ")


def test_an_unexpected_exception_is_one_line_with_a_hint(tmp_path: Path) -> None:
    """A bug (here: an exception no table row names) is one line, exit 70, and a hint to --debug."""
    code = (
        "import sys, controller.commands.run as r\n"
        "def boom(out): raise ZeroDivisionError('division by zero')\n"
        "r.report_command = boom\n"
        "from controller.cli import run_app\n"
        "sys.exit(run_app(['report', 'x']))\n"
    )
    proc = _run(["-c", code], tmp_path)
    line = assert_one_line(proc, 70, "internal error: ZeroDivisionError: division by zero", "error: ")
    assert "--debug" in line


AGENT_CASES: Dict[str, Case] = {
    "serve": (["serve", "--config", "agent.yaml"], {"agent.yaml": "listen: [\n"}, 2, "agent.yaml:2"),
    "facts": (["facts", "--config", "agent.yaml"], {"agent.yaml": "a: 1\na: 2\n"}, 2, "written twice"),
    "version": (["version", "--bogus"], {}, 2, "unrecognized arguments: --bogus"),
}


def test_every_agent_subcommand_has_a_case() -> None:
    from agent.cli import _parser

    sub = next(a for a in _parser()._actions if a.dest == "command")
    assert set(sub.choices) == set(AGENT_CASES)


@pytest.mark.parametrize("command", sorted(AGENT_CASES))
def test_agent_corrupt_input_is_one_line(tmp_path: Path, command: str) -> None:
    argv, files, code, says = AGENT_CASES[command]
    _write(tmp_path, files)
    proc = _run(["-m", "agent", *argv], tmp_path)
    assert_one_line(proc, code, says, "agent: error: ")


def test_agent_flags_are_never_abbreviated(tmp_path: Path) -> None:
    """`agent serve --port 9000` was argparse's prefix of --port-file: it served, writing a file named 9000."""
    proc = _run(["-m", "agent", "serve", "--port", "9000"], tmp_path)
    assert_one_line(proc, 2, "unrecognized arguments: --port 9000", "agent: error: ")
    assert not (tmp_path / "9000").exists()


def test_agent_config_nested_too_deeply_is_one_line(tmp_path: Path) -> None:
    """PyYAML's composer recurses per level: a RecursionError was an 'internal error' (exit 70)."""
    _write(tmp_path, {"agent.yaml": "a: " + "[" * 5000 + "]" * 5000 + "\n"})
    proc = _run(["-m", "agent", "facts", "--config", "agent.yaml"], tmp_path)
    assert_one_line(proc, 2, "agent.yaml: not valid YAML: nested too deeply", "agent: error: ")


def test_agent_refuses_a_fifo_config_and_token(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    for argv in (["facts", "--config", "fifo"], ["serve", "--listen", "127.0.0.1:0", "--token-file", "fifo"]):
        proc = _run(["-m", "agent", *argv], tmp_path)
        assert_one_line(proc, 2, "not a regular file", "agent: error: ")


@pytest.mark.parametrize(
    "argv, env, code, says",
    [
        (["m.mge", "--iter", "many"], {}, 2, "--iter"),
        (["m.mge", "--bogus"], {}, 2, "unknown command line flag 'bogus'"),
        (["m.mge"], {"MGB_USE_MEGDNN_DBG": "7"}, 2, "MGB_USE_MEGDNN_DBG must be 0, 1 or 2"),
    ],
)
def test_lar_lite_corrupt_input_is_one_line(tmp_path: Path, argv: List[str], env: Dict[str, str], code: int, says: str):
    (tmp_path / "m.mge").write_bytes(b"not a model")
    proc = subprocess.run(
        [sys.executable, "-m", "agent.lar_lite.cli", *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**_env(None), **env},
    )
    assert_one_line(proc, code, says, "lar-lite: error: ")


def test_lar_lite_refuses_a_fifo_or_device_as_input(tmp_path: Path) -> None:
    """open() of a FIFO with no writer blocks for ever; lar-lite says so instead."""
    from agent.lar_lite.errors import InputSpecError
    from agent.lar_lite.inputs import read_netpbm, read_npy

    os.mkfifo(tmp_path / "x.npy")
    (tmp_path / "z.ppm").symlink_to("/dev/zero")
    for read, name in ((read_npy, "x.npy"), (read_netpbm, "z.ppm")):
        with pytest.raises(InputSpecError, match="not a regular file"):
            read(str(tmp_path / name))
