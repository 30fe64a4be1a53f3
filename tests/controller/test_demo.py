"""`make demo` (python -m controller.demo): two local lar-lite agents, the bundled example, exit 0."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_demo_runs_the_example_campaign(tmp_path: Path, lite_runtime: Path) -> None:
    out = tmp_path / "demo-out"
    proc = subprocess.run(
        [sys.executable, "-m", "controller.demo", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    html = out / "tiny-cnn-demo" / "report.html"
    assert f"report.html: {html}" in proc.stdout
    assert "differences found" in proc.stdout
    data = json.loads((out / "tiny-cnn-demo" / "report.json").read_text())
    kinds = sorted({c["kind"] for c in data["checks"]})
    assert kinds == ["cross", "naive", "shake", "thresholds"]
    assert [d["name"] for d in data["devices"]] == ["host-a", "host-b"]
    assert all(d["healthy"] for d in data["devices"])
