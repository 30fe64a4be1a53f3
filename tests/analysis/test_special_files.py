"""Special files are refused with one line naming them, never opened for reading.

A FIFO as a dump file, as --txt-a or as the diff given to accuracy_shake_var_tree once hung
all three tools (and Ctrl-C could not stop `python -m analysis`: a worker thread blocked in
open()); /dev/zero reads until memory runs out. Each tool runs in its own process with a
time bound, so a hang fails the test instead of stalling the suite.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analysis.files import NotRegularFileError, open_regular
from tests.analysis.synthetic import run_network

REPO = Path(__file__).resolve().parents[2]
BOUND_S = 30


def _tool(*argv: object, module: str = "analysis") -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [sys.executable, "-m", module, *map(str, argv)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=BOUND_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"python -m {module} still running after {BOUND_S} s (blocked on a special file?)")


def _one_error_line(stderr: str, path: Path, what: str) -> None:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if str(path) in line]
    assert len(lines) == 1 and what in lines[0], stderr


@pytest.fixture
def runs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    run_network(a)
    run_network(b, noise=1e-4)
    return a, b


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


def _fifo_dump(folder: Path) -> Path:
    """Replace the dump of var 12 by a FIFO of the same name."""
    path = folder / "00000c"
    path.unlink()
    os.mkfifo(path)
    return path


def test_analysis_refuses_a_fifo_dump_file(runs) -> None:
    a, b = runs
    fifo = _fifo_dump(a)
    r = _tool(a, b, "-e", "1e-7")
    assert r.returncode == 2
    _one_error_line(r.stderr, fifo, "not a regular file (a FIFO)")
    assert "differing vars" in r.stdout  # the other vars are still compared and shown


def test_analysis_refuses_a_fifo_or_device_as_text_dump(runs, fifo) -> None:
    a, b = runs
    for special, what in ((fifo, "a FIFO"), (Path("/dev/zero"), "a character device")):
        r = _tool(a, b, "--txt-a", special)
        assert r.returncode == 2, r.stderr
        _one_error_line(r.stderr, special, what)


def test_compare_binary_iodump_refuses_fifos(runs, fifo) -> None:
    a, b = runs
    r = _tool(fifo, b / "00000c", module="analysis.compare_binary_iodump")
    assert r.returncode == 1
    _one_error_line(r.stderr, fifo, "not a regular file (a FIFO)")
    fifo_dump = _fifo_dump(a)
    r = _tool(a, b, "-e", "1e-7", module="analysis.compare_binary_iodump")
    assert r.returncode == 1
    _one_error_line(r.stderr, fifo_dump, "not a regular file (a FIFO)")
    assert "not equal" in r.stdout  # the other pairs are still compared


def test_accuracy_shake_var_tree_refuses_a_fifo_or_device(fifo) -> None:
    for special, what in ((fifo, "a FIFO"), (Path("/dev/zero"), "a character device")):
        r = _tool(special, module="analysis.accuracy_shake_var_tree")
        assert r.returncode == 1
        _one_error_line(r.stderr, special, what)


def test_open_regular_opens_files_and_refuses_the_rest(tmp_path, fifo) -> None:
    (tmp_path / "f").write_bytes(b"abc")
    os.symlink(tmp_path / "f", tmp_path / "link")
    with open_regular(tmp_path / "link") as f:  # a symlink to a regular file is that file
        assert f.read() == b"abc"
    with pytest.raises(NotRegularFileError, match="a FIFO"):
        open_regular(fifo)
    with pytest.raises(IsADirectoryError):
        open_regular(tmp_path)
    with pytest.raises(ValueError):
        open_regular(tmp_path / "f", "wb")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        with pytest.raises(NotRegularFileError):
            open_regular(fifo)
    assert len(os.listdir("/proc/self/fd")) == before


def test_a_symlink_loop_is_one_line_in_both_tools_and_the_rest_is_compared(runs) -> None:
    a, b = runs
    loop = a / "00000c"
    loop.unlink()
    os.symlink(loop.name, loop)  # points at itself
    os.symlink("stray-loop", a / "stray-loop")  # not a dump name: listed as stray, not an error
    for module, status, compared in (
        ("analysis", 2, "differing vars"),
        ("analysis.compare_binary_iodump", 1, "not equal"),
    ):
        r = _tool(a, b, "-e", "1e-7", module=module)
        assert r.returncode == status, (module, r.stderr)
        _one_error_line(r.stderr, loop, "a symlink loop")
        assert compared in r.stdout, module


INTERRUPTIBLE = """
import runpy, sys, time
import analysis.compare as compare

real = compare.compare_dumps


def slow(*args, **kw):  # every pair takes long: the interrupt lands mid-comparison, in the pool
    time.sleep(3)
    return real(*args, **kw)


compare.compare_dumps = slow
sys.argv = ["analysis", *sys.argv[1:]]
print("READY", file=sys.stderr, flush=True)
runpy.run_module("analysis", run_name="__main__")
"""


def test_ctrl_c_stops_analysis_with_one_line(runs) -> None:
    a, b = runs
    proc = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTIBLE, str(a), str(b)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr.readline().strip() == "READY"
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        out, err = proc.communicate(timeout=BOUND_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and err.strip() == "analysis: interrupted", err
    assert time.monotonic() - t0 < 10


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "x"])
def test_compare_binary_iodump_refuses_a_tolerance_that_is_not_finite(runs, value) -> None:
    """With -e nan nothing compared as over it: every run looked equal, exit 0."""
    a, b = runs
    r = _tool(a, b, "-e", value, module="analysis.compare_binary_iodump")
    assert r.returncode == 2 and r.stdout == "" and "-e/--max-err" in r.stderr and "Traceback" not in r.stderr
