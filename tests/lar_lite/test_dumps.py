"""lar-lite against the real MegEngine 1.13 dumps in tests/fixtures/megengine.

Naive kernels are deterministic reference code, so a naive run here must give
the fixture's naive binary dump byte for byte. Optimised and fallback kernels
may pick other code paths on another x86 CPU: those runs must give the same
files, headers and var graph, with values within 1e-5.
"""

from __future__ import annotations

from pathlib import Path
from typing import Tuple

import numpy as np
import pytest

from analysis.dump_bin import read_header
from analysis.graph import VarGraph

MODELS = ("tiny_cnn", "mlp", "big_conv")


def read_bin(path: Path) -> Tuple[Tuple[int, int, Tuple[int, ...]], bytes, np.ndarray]:
    """((dtype code, max_ndim, shape slots), title, values) of one binary io-dump file."""
    h = read_header(path)
    return (h.dtype.code, h.max_ndim, h.shape_slots), h.title_bytes, h.load()


def dump_dir(tmp_path: Path, name: str) -> Path:
    d = tmp_path / name
    d.mkdir()
    return d


@pytest.mark.parametrize("model", MODELS)
def test_naive_bin_dump_is_bitwise_the_fixture(run_model, megengine_fixtures, tmp_path, model):
    out = dump_dir(tmp_path, "bin")
    proc = run_model(model, "--bin-io-dump", out, "--iter", "1", "--warmup-iter", "0", dbg=2)
    assert proc.returncode == 0, proc.stderr
    assert "init dnn handle with debug level: 2" in proc.stderr
    want = megengine_fixtures / "runs" / model / "naive" / "bin"
    names = sorted(p.name for p in want.iterdir())
    assert sorted(p.name for p in out.iterdir()) == names
    for name in names:
        assert (out / name).read_bytes() == (want / name).read_bytes(), f"{model} naive {name} differs"


def _compare_close(got_dir: Path, want_dir: Path) -> None:
    """Same file names, headers, titles and var graph; values within 1e-5."""
    got_graph, want_graph = VarGraph.from_dump_folder(got_dir), VarGraph.from_dump_folder(want_dir)
    assert got_graph.agrees_with(want_graph), got_graph.diff(want_graph).describe()
    assert len(got_graph) == len(list(want_dir.iterdir()))
    names = sorted(p.name for p in want_dir.iterdir())
    assert sorted(p.name for p in got_dir.iterdir()) == names
    for name in names:
        g_head, g_title, g_val = read_bin(got_dir / name)
        w_head, w_title, w_val = read_bin(want_dir / name)
        assert g_head == w_head, name
        assert g_title == w_title, name
        np.testing.assert_allclose(
            g_val.astype(np.float64), w_val.astype(np.float64), rtol=1e-5, atol=1e-5, err_msg=name
        )


@pytest.mark.parametrize(
    "model,run,dbg",
    [
        ("tiny_cnn", "default", None),
        ("tiny_cnn", "fallback", 1),
        ("mlp", "default", None),
        ("mlp", "fallback", 1),
        ("big_conv", "default", None),
    ],
)
def test_optimised_bin_dump_matches_fixture_within_tolerance(run_model, megengine_fixtures, tmp_path, model, run, dbg):
    out = dump_dir(tmp_path, "bin")
    proc = run_model(model, "--bin-io-dump", out, "--iter", "1", "--warmup-iter", "0", dbg=dbg)
    assert proc.returncode == 0, proc.stderr
    _compare_close(out, megengine_fixtures / "runs" / model / run / "bin")
