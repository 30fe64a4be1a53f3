"""naive check: per device, the MGB_USE_MEGDNN_DBG=2 run against the default run (step 2 of the guide)."""

from __future__ import annotations

from typing import Dict

from controller import plan
from controller.checks.pairs import compare_runs
from controller.checks.result import DIFFERS, OK, SKIPPED, CheckResult
from controller.store import RunRecord, Store


def naive_check(device: str, records: Dict[str, RunRecord], store: Store, tolerance: float) -> CheckResult:
    """Differing vars, the first one with its opr, and the roots, of naive vs default."""
    default, naive = records.get(plan.DEFAULT), records.get(plan.NAIVE)
    if default is None or naive is None:
        return CheckResult("naive", (device,), (), tolerance, SKIPPED, note="runs missing")
    cmp = compare_runs(
        f"{device}: naive vs default",
        (device,),
        default,
        store.run_dir(default.run_id),
        naive,
        store.run_dir(naive.run_id),
        tolerance,
    )
    return CheckResult(
        "naive",
        (device,),
        cmp.runs,
        tolerance,
        DIFFERS if cmp.differing else OK,
        differing=cmp.differing,
        first=cmp.first,
        roots=cmp.roots,
        threshold=cmp.threshold,
        comparisons=(cmp,),
    )
