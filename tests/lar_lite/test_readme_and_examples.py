"""The README's lar-lite walk-through runs as written; examples/ holds the fixture models."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.support.lite import run_lar_lite

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def _section(name: str) -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- section: {name} -->\n(.*?)<!-- /section: {name} -->", text, re.S)
    if match is None:
        raise AssertionError(f"README.md has no section {name}")
    return match.group(1)


def _walkthrough() -> str:
    part = _section("lar-lite").split("### Naive vs default by hand", 1)[1]
    block = re.search(r"```sh\n(.*?)```", part, re.S)
    if block is None:
        raise AssertionError("no sh block under 'Naive vs default by hand'")
    return block.group(1)


def test_readme_naive_vs_default_walkthrough(lite_runtime, tmp_path):
    """Run the commands verbatim in a scratch folder that sees the repo's examples and venv."""
    (tmp_path / "examples").symlink_to(EXAMPLES)
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    env = dict(os.environ)
    env.pop("MGB_USE_MEGDNN_DBG", None)
    proc = subprocess.run(
        ["bash", "-e", "-c", _walkthrough()], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr
    assert "init dnn handle with debug level: 2" in proc.stderr
    # As the README says: the first differing var is 9, and it is the only root.
    diff = (tmp_path / "lar-run" / "diff.txt").read_text()
    first = re.search(r"^(\S+): $", diff, re.M)
    assert first is not None and first.group(1).endswith("000009")
    roots = proc.stdout.split("varnode root:", 1)[1]
    assert re.findall(r"^id:(\d+)$", roots, re.M) == ["9"]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "rel,fixture",
    [
        ("models/tiny_cnn.mge", "models/tiny_cnn.mge"),
        ("models/mlp.mge", "models/mlp.mge"),
        ("inputs/tiny_cnn__data.npy", "inputs/tiny_cnn__data.npy"),
        ("inputs/mlp__data.npy", "inputs/mlp__data.npy"),
    ],
)
def test_examples_are_the_fixture_files(megengine_fixtures, rel, fixture):
    assert _sha(EXAMPLES / rel) == _sha(megengine_fixtures / fixture)
    assert _sha(EXAMPLES / rel) in (EXAMPLES / "README.md").read_text()


@pytest.mark.parametrize("model", ["tiny_cnn", "mlp"])
def test_examples_run(lar_lite_argv, megengine_fixtures, tmp_path, model):
    npz = tmp_path / "out.npz"
    proc = run_lar_lite(
        lar_lite_argv,
        [
            EXAMPLES / "models" / f"{model}.mge",
            "--input",
            f"data:{EXAMPLES / 'inputs' / f'{model}__data.npy'}",
            "--iter",
            "1",
            "--warmup-iter",
            "0",
            "--output-npz",
            npz,
        ],
    )
    assert proc.returncode == 0, proc.stderr
    got, ref = np.load(npz), np.load(megengine_fixtures / "runs" / model / "default" / "outputs.npz")
    assert sorted(got) == sorted(ref)
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-5, atol=1e-5, err_msg=name)
