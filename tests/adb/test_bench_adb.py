"""bench/bench_adb.py runs end to end on a small folder and prints its BENCH lines."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_bench_adb_small() -> None:
    if shutil.which("adb") is None:
        pytest.skip("adb is not installed (apt-get install adb)")
    env = dict(os.environ, BENCH_ADB_MB="3", BENCH_ADB_FILES="6")
    env.pop("ANDROID_ADB_SERVER_PORT", None)
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bench_adb"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    names = re.findall(r"^BENCH (\S+) [0-9.]+ ", proc.stdout, re.MULTILINE)
    assert names == [
        "adb_exec_out_tar_time",
        "adb_exec_out_tar_throughput",
        "adb_pull_per_file_time",
        "adb_pull_per_file_throughput",
        "adb_exec_out_tar_vs_pulls",
    ]
