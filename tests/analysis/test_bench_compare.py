"""bench_compare's fallback that takes MegEngine's script from the wheel (no download: pip is faked)."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

from agent.lar_lite import runtime
from agent.lar_lite.errors import RuntimeSetupError
from bench import bench_compare


@pytest.fixture()
def no_runtime(monkeypatch, tmp_path: Path) -> Path:
    """The Lite runtime cannot be had, and .bench/ lives under tmp_path."""
    monkeypatch.setattr(bench_compare, "ROOT", tmp_path)
    monkeypatch.setattr(
        bench_compare.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1, stdout="", stderr="")
    )
    return tmp_path


def test_script_is_taken_from_the_wheel_pip_names_in_capitals(no_runtime: Path, monkeypatch) -> None:
    def download(dest: Path) -> Path:
        wheel = dest / runtime.WHEEL_NAME  # the official file name starts with "MegEngine"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(bench_compare.TOOL, "print('megengine tool')\n")
        return wheel

    monkeypatch.setattr(runtime, "download_wheel", download)
    monkeypatch.setattr(runtime, "verify_wheel", lambda path: None)
    script = bench_compare.megengine_script()
    assert script.read_text() == "print('megengine tool')\n"
    assert not (no_runtime / ".bench/megengine-1.13.0/wheel").exists()


def test_failed_download_is_one_line(no_runtime: Path, monkeypatch) -> None:
    def download(dest: Path) -> Path:
        raise RuntimeSetupError("pip download of megengine==1.13.0 failed (exit 1): no network")

    monkeypatch.setattr(runtime, "download_wheel", download)
    with pytest.raises(SystemExit, match=r"^bench_compare: cannot get MegEngine's .*: pip download .* no network$"):
        bench_compare.megengine_script()


def test_all_differ_case_differs_everywhere_and_over_tolerance_only_at_the_end(tmp_path: Path) -> None:
    """The `300x2MB_all_differ` data: no chunk bitwise equal, one record per var, at its last element."""
    import io

    from analysis import compare_binary_iodump

    bench_compare.generate(tmp_path, 3, (1, 4, 8, 8), "slight")
    for name in ("000005", "000007", "000009"):
        assert (tmp_path / "A" / name).read_bytes() != (tmp_path / "B" / name).read_bytes()
    out = io.StringIO()
    assert compare_binary_iodump.run(str(tmp_path / "A"), str(tmp_path / "B"), 1e-7, out=out, err=io.StringIO()) == 0
    assert out.getvalue().count("nonequal_idx=(0, 3, 7, 7)") == 3
