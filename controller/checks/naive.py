"""naive check: per device, the MGB_USE_MEGDNN_DBG=2 run against the default run (step 2 of the guide)."""

from __future__ import annotations

from typing import Dict, Optional

from controller import plan
from controller.checks.comparison import compare_pair
from controller.checks.graphs import RunGraphs
from controller.checks.result import DIFFERS, OK, SKIPPED, CheckResult
from controller.store import RunRecord, Store


def naive_check(
    device: str, records: Dict[str, RunRecord], store: Store, tolerance: float, graphs: Optional[RunGraphs] = None
) -> CheckResult:
    """Differing vars, the first one with its opr, and the roots, of naive vs default."""
    default, naive = records.get(plan.DEFAULT), records.get(plan.NAIVE)
    if default is None or naive is None:
        return CheckResult("naive", (device,), (), tolerance, SKIPPED, note="runs missing")
    cmp = compare_pair(f"{device}: naive vs default", (device,), default, naive, store, tolerance, graphs)
    return CheckResult.read_off(
        "naive",
        (device,),
        cmp.runs,
        tolerance,
        DIFFERS if cmp.differs else OK,
        cmp.diff,
        threshold=cmp.threshold_report.cut,
        comparisons=(cmp,),
    )
