"""Checks over real MegEngine 1.13 runs in a store: digest-first comparison, first var, roots, reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller import plan
from controller.campaign import Campaign
from controller.checks.comparison import compare_pair
from controller.checks.cross import cross_check
from controller.checks.naive import naive_check
from controller.checks.result import CampaignReport, DeviceSummary
from controller.checks.shake import shake_check
from controller.checks.thresholds_check import thresholds_checks
from controller.errors import StoreError
from controller.report.json import report_json
from controller.store import Store
from tests.controller.storeruns import stored_run


@pytest.fixture
def runs(megengine_fixtures: Path) -> Path:
    return megengine_fixtures / "runs" / "tiny_cnn"


def test_naive_finds_conv1_root_like_megengine(tmp_path: Path, runs: Path) -> None:
    store = Store(tmp_path, "c")
    recs = {
        plan.DEFAULT: stored_run(store, runs / "default", "dev", plan.DEFAULT),
        plan.NAIVE: stored_run(store, runs / "naive", "dev", plan.NAIVE),
    }
    res = naive_check("dev", recs, store, 1e-7)
    assert res.status == "differs"
    # the fixture's accuracy_shake_var_tree output names var 9 (conv1) as the root
    assert [r.var_id for r in res.roots] == [9]
    assert res.roots[0].opr_type == "ConvolutionForward"
    assert res.first.var_id == 9
    assert 9 in res.differing and 5 not in res.differing  # the input var is identical


def test_identical_digests_need_no_bytes(tmp_path: Path, runs: Path) -> None:
    store = Store(tmp_path, "c")
    a = stored_run(store, runs / "default", "dev", plan.DEFAULT, fetch=[])
    b = stored_run(store, runs / "default_rerun", "dev", "repeat-2", fetch=[])
    cmp = compare_pair("x", ("dev",), a, b, store, 1e-7)
    s = cmp.diff.stats()
    assert not cmp.differs and s["identical_by_digest"] == s["compared"] > 0


def test_only_differing_files_are_read(tmp_path: Path, runs: Path) -> None:
    store = Store(tmp_path, "c")
    a0 = stored_run(store, runs / "default", "dev", plan.DEFAULT, fetch=[])
    b0 = stored_run(store, runs / "naive", "dev", plan.NAIVE, fetch=[])
    need = plan.needed_files(Campaign(name="c", model="m", checks=["naive"]), {plan.DEFAULT: a0, plan.NAIVE: b0})
    diff = plan.differing(a0, b0)
    assert need[plan.NAIVE] == diff | {"io.txt"} and len(diff) < len(a0.bin_digests())
    a = stored_run(store, runs / "default", "dev", plan.DEFAULT, fetch=need[plan.DEFAULT])
    b = stored_run(store, runs / "naive", "dev", plan.NAIVE, fetch=need[plan.NAIVE])
    cmp = compare_pair("x", ("dev",), a, b, store, 1e-7)
    assert [r.var_id for r in cmp.diff.roots()] == [9]
    # a file that differs but is absent from the store is an error, never a silent zero
    (store.run_dir(b.run_id) / sorted(diff)[0]).unlink()
    with pytest.raises(StoreError, match="not in the store"):
        compare_pair("x", ("dev",), a, b, store, 1e-7)


def test_shake_without_jitter_is_ok(tmp_path: Path, runs: Path) -> None:
    store = Store(tmp_path, "c")
    camp = Campaign(name="c", model="m", checks=["shake"], repeats=2)
    recs = {
        plan.DEFAULT: stored_run(store, runs / "default", "dev", plan.DEFAULT),
        "repeat-2": stored_run(store, runs / "default_rerun", "dev", "repeat-2"),
    }
    res = shake_check("dev", recs, store, camp)
    assert res.status == "ok" and res.details["reproducible_tried"] is False


def test_shake_that_reproducible_removes(tmp_path: Path, runs: Path) -> None:
    store = Store(tmp_path, "c")
    camp = Campaign(name="c", model="m", checks=["shake"], repeats=2)
    recs = {
        plan.DEFAULT: stored_run(store, runs / "default", "dev", plan.DEFAULT),
        "repeat-2": stored_run(store, runs / "fastrun", "dev", "repeat-2"),
        "reproducible-1": stored_run(store, runs / "reproducible", "dev", "reproducible-1"),
        "reproducible-2": stored_run(store, runs / "default_rerun", "dev", "reproducible-2"),
    }
    res = shake_check("dev", recs, store, camp)
    assert res.status == "differs"
    assert [r.var_id for r in res.roots] == [20]  # the winograd conv, as accuracy_shake_var_tree says
    assert res.details["reproducible_removes_shake"] is True


def test_cross_thresholds_and_report_json(tmp_path: Path, runs: Path) -> None:
    store = Store(tmp_path, "c")
    base = stored_run(store, runs / "default", "a", plan.DEFAULT)
    other = stored_run(store, runs / "fallback", "b", plan.DEFAULT)
    cross = cross_check("a", base, "b", other, store, 1e-7)
    assert cross.status == "differs" and [r.var_id for r in cross.roots] == [45]
    th = thresholds_checks([cross], 1e-7)
    assert len(th) == 1 and th[0].kind == "thresholds"
    report = CampaignReport(
        "c",
        "m.mge",
        1e-7,
        ("cross", "thresholds"),
        (
            DeviceSummary("a", "local", "lite", {}, True),
            DeviceSummary("b", "10.0.0.1:1", "lite", {}, False, "agent gone"),
        ),
        (cross, *th),
        str(store.root),
        0.0,
        1.0,
    )
    data = json.loads(json.dumps(report_json(report)))
    c0 = data["checks"][0]
    for key in ("kind", "devices", "runs", "tolerance", "differing", "first", "roots", "threshold"):
        assert key in c0
    assert c0["devices"] == ["a", "b"] and c0["runs"] == ["a.default", "b.default"]
    assert set(c0["roots"][0]) >= {"id", "opr", "type", "err", "amplification"}
    assert data["schema"] == "larfarm.report.v2"
    # each pair of runs carries analysis's own JSON for it, every metric per var included
    embedded = c0["comparisons"][0]["analysis"]
    assert embedded["roots"] == [45] and embedded["threshold"] is not None
    v45 = next(v for v in embedded["vars"] if v["var_id"] == 45 and v["input_index"] is None)
    assert {"max_err", "max_abs", "cosine", "sqnr_db", "nan_a", "count_over_tol", "first_index"} <= set(v45)
    assert data["unhealthy"] == [{"name": "b", "address": "10.0.0.1:1", "reason": "agent gone"}]
    assert data["differs"] is True
