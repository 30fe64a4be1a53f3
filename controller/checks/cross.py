"""cross check: each device's default run against the baseline device's (step 5 of the guide)."""

from __future__ import annotations

from controller.checks.pairs import compare_runs
from controller.checks.result import DIFFERS, OK, SKIPPED, CheckResult
from controller.store import RunRecord, Store


def cross_check(
    baseline: str, base: RunRecord, device: str, other: RunRecord, store: Store, tolerance: float
) -> CheckResult:
    """Roots at the tolerance and at the suggested threshold, device vs baseline."""
    if base is None or other is None:
        return CheckResult("cross", (baseline, device), (), tolerance, SKIPPED, note="runs missing")
    cmp = compare_runs(
        f"{device} vs {baseline}",
        (baseline, device),
        base,
        store.run_dir(base.run_id),
        other,
        store.run_dir(other.run_id),
        tolerance,
    )
    note = ""
    if cmp.threshold is not None:
        note = (
            f"at the suggested threshold {cmp.threshold:.3g}: {len(cmp.differing_at_threshold)} vars differ, "
            f"roots {[r.id for r in cmp.roots_at_threshold]}"
        )
    return CheckResult(
        "cross",
        (baseline, device),
        cmp.runs,
        tolerance,
        DIFFERS if cmp.differing else OK,
        differing=cmp.differing,
        first=cmp.first,
        roots=cmp.roots,
        threshold=cmp.threshold,
        comparisons=(cmp,),
        note=note,
        details={
            "roots_at_threshold": [r.id for r in cmp.roots_at_threshold],
            "differing_at_threshold": list(cmp.differing_at_threshold),
        },
    )
