"""cross check: each device's default run against the baseline device's (step 5 of the guide)."""

from __future__ import annotations

from typing import Optional

from analysis.render import fmt_err
from controller.checks.comparison import compare_pair
from controller.checks.graphs import RunGraphs
from controller.checks.result import DIFFERS, OK, SKIPPED, CheckResult
from controller.store import RunRecord, Store


def cross_check(
    baseline: str,
    base: Optional[RunRecord],
    device: str,
    other: Optional[RunRecord],
    store: Store,
    tolerance: float,
    graphs: Optional[RunGraphs] = None,
) -> CheckResult:
    """Roots at the tolerance and at the suggested threshold, device vs baseline."""
    if base is None or other is None:
        return CheckResult("cross", (baseline, device), (), tolerance, SKIPPED, note="runs missing")
    cmp = compare_pair(f"{device} vs {baseline}", (baseline, device), base, other, store, tolerance, graphs)
    th = cmp.threshold_report
    note = ""
    if th.cut is not None:
        note = f"at the suggested threshold {fmt_err(th.cut)}: {th.differing} vars differ, roots {list(th.roots)}"
    return CheckResult.read_off(
        "cross",
        (baseline, device),
        cmp.runs,
        tolerance,
        DIFFERS if cmp.differs else OK,
        cmp.diff,
        threshold=th.cut,
        comparisons=(cmp,),
        note=note,
        details={
            "roots_at_threshold": list(th.roots),
            "differing_at_threshold": [v.var_id for v in cmp.diff.differing(th.cut)] if th.cut is not None else [],
        },
    )
