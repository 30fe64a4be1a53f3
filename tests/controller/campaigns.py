"""Test helper: write farm/campaign files and run `controller` as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from tests.controller.fake_lar import wrapper

REPO = Path(__file__).resolve().parents[2]

#: a file the controller takes for a MegEngine model (format v2's "mgv2" at offset 8, as a real dump
#: has it) for campaigns whose fake program never reads the model
FAKE_MODEL = b"\x10\x00\x00\x00\x20\x00\x00\x00mgv2\x00\x00\x00\x00not a real model; the fake program only dumps"


def controller_argv(*args: str) -> List[str]:
    return [sys.executable, "-m", "controller.cli", *args]


def run_controller(args: Sequence[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run(controller_argv(*args), cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def fake_program(tmp: Path, name: str, **settings: object) -> Path:
    return wrapper(tmp / f"{name}.py", REPO, **settings)


def write_fake_campaign(tmp: Path, checks: str = "[shake]", extra: str = "") -> Path:
    """A campaign over a dummy model (the fake program ignores it) with a seeded input."""
    (tmp / "model.mge").write_bytes(FAKE_MODEL)
    path = tmp / "campaign.yaml"
    path.write_text(
        f"name: fake\nmodel: model.mge\ninputs:\n  data: {{shape: [1, 4], seed: 1}}\n"
        f"checks: {checks}\nrepeats: 2\n{extra}"
    )
    return path


def write_farm(tmp: Path, devices: List[Dict[str, object]]) -> Path:
    import yaml

    path = tmp / "farm.yaml"
    path.write_text(yaml.safe_dump({"devices": devices}))
    return path


def load_report(out: Path, campaign: str) -> dict:
    return json.loads((out / campaign / "report.json").read_text())


def run_json(out: Path, campaign: str, run_id: str) -> Optional[dict]:
    p = out / campaign / run_id / "run.json"
    return json.loads(p.read_text()) if p.exists() else None


def np_input(tmp: Path, src: Path) -> Path:
    dest = tmp / src.name
    np.save(dest, np.load(src))
    return dest
