"""Threshold suggestion: the largest log-gap separates noise from the injected jump."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from analysis import thresholds
from analysis.compare import compare_folders
from tests.analysis.synthetic import run_network

RUNS = Path(__file__).resolve().parents[1] / "fixtures/megengine/runs"


def test_suggestion_rule() -> None:
    noise = [1e-7, 2e-7, 3.5e-7, 8e-7]
    jumps = [1e-2, 2e-2, 5e-3]
    s = thresholds.suggest_tolerance(noise + jumps, floor=0.0)
    assert s is not None and s.below == 8e-7 and s.above == 5e-3
    assert 8e-7 < s.tolerance < 5e-3
    assert s.tolerance == pytest.approx(math.sqrt(8e-7 * 5e-3), rel=1e-2)
    assert thresholds.suggest_tolerance(noise) is None  # no gap of a decade
    assert thresholds.suggest_tolerance([1e-3]) is None
    assert thresholds.suggest_tolerance(noise + jumps, floor=1e-3) is None  # only the jumps are over
    assert thresholds.suggest_tolerance([1e-7, 1e-5], min_gap_decades=3) is None
    assert thresholds.suggest_tolerance([0.0, math.inf, 1e-7, 1e-2]).above == 1e-2


def test_stats() -> None:
    st = thresholds.error_stats([0.0, 0.0, 1.5e-7, 3e-7, 2e-2, math.inf], floor=1e-7)
    assert (st.count, st.exact, st.not_finite) == (6, 2, 1)
    assert st.histogram == (
        (1e-7, 1e-6, 2),
        (1e-6, 1e-5, 0),
        (1e-5, 1e-4, 0),
        (1e-4, 1e-3, 0),
        (1e-3, 1e-2, 0),
        (1e-2, 1e-1, 1),
    )
    assert dict(st.quantiles)[0.5] == 3e-7 and st.max == math.inf
    assert st.suggestion is not None and "gap" in st.reason
    assert thresholds.quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    d = st.to_dict()
    assert d["max"] == "inf" and d["suggested_tolerance"] == st.suggestion.tolerance


@pytest.mark.parametrize("injected", [16, 20])
@pytest.mark.parametrize("seed", [0, 1])
def test_suggested_cut_isolates_the_injected_opr(tmp_path: Path, injected: int, seed: int) -> None:
    """1e-7 noise on every opr, a 1e-2 error at one: the cut finds that opr as the single root."""
    run_network(tmp_path / "A", seed=seed)
    run_network(tmp_path / "B", seed=seed, noise=1e-7, inject={injected: 1e-2}, noise_seed=seed + 7)
    run = compare_folders(tmp_path / "A", tmp_path / "B", 1e-9)
    noisy_roots = [v.var_id for v in run.roots()]
    # downstream of fc1's noise, the noise roots hide it at a tiny tolerance
    assert noisy_roots != [injected] and injected not in noisy_roots
    report = thresholds.analyse(run)
    assert report.cut_source == "auto" and report.stats.suggestion is not None
    assert report.roots == (injected,)
    assert report.to_dict()["roots_at_cut"] == [injected]


def test_no_suggestion_when_every_error_is_a_jump(tmp_path: Path) -> None:
    """Error injected at the first opr: everything differing is big, the roots need no cut."""
    run_network(tmp_path / "A")
    run_network(tmp_path / "B", noise=1e-7, inject={9: 1e-2})
    run = compare_folders(tmp_path / "A", tmp_path / "B", 1e-9)
    report = thresholds.analyse(run)
    assert report.stats.suggestion is None and [v.var_id for v in run.roots()] == [9]


def test_given_cut_and_no_suggestion_on_real_noise() -> None:
    run = compare_folders(RUNS / "tiny_cnn/default/bin", RUNS / "tiny_cnn/naive/bin", 1e-7)
    report = thresholds.analyse(run)
    assert report.stats.suggestion is None and report.cut is None and report.cut_source == "none"
    assert "look alike" in report.stats.reason
    given = thresholds.analyse(run, 5e-7)
    assert given.cut_source == "given" and given.roots == (9,)
    assert given.differing == sum(1 for v in run.outputs() if v.max_err > 5e-7)
