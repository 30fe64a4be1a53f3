"""options check: a device's deployed configuration (its graph options) against the same device with none.

"Does the deployment config change the numbers, and where?" The plain run is the
reference (A): its graph is the model's own, so errors, first var and roots are
named in the model's terms; the deployed run's vars (relaid, fused) are paired
with it by analysis's matching, and where ids and titles coincide the digests
still decide first.
"""

from __future__ import annotations

from typing import Dict, Mapping, Optional

from controller import plan
from controller.checks.comparison import compare_pair
from controller.checks.graphs import RunGraphs
from controller.checks.result import DIFFERS, OK, SKIPPED, CheckResult
from controller.store import RunRecord, Store


def options_check(
    device: str,
    options: Mapping[str, object],
    records: Dict[str, RunRecord],
    store: Store,
    tolerance: float,
    graphs: Optional[RunGraphs] = None,
) -> CheckResult:
    """Differing vars, first and roots of the deployed run (default, with ``options``) vs the plain run."""
    deployed, plain = records.get(plan.DEFAULT), records.get(plan.PLAIN)
    shown = ", ".join(f"{k}={v}" if v is not True else k for k, v in options.items())
    if deployed is None or plain is None:
        return CheckResult(
            "options", (device,), (), tolerance, SKIPPED, note="runs missing", details={"options": dict(options)}
        )
    cmp = compare_pair(f"{device}: {shown} vs no options", (device,), plain, deployed, store, tolerance, graphs)
    diff = cmp.diff
    note = f"{shown}: vars paired by {diff.matching}"
    if diff.matching == "graph":
        note += (
            f" ({len(diff.pairs)} pairs; {len(diff.unmatched_a)} vars of the plain run and"
            f" {len(diff.unmatched_b)} of the deployed one without a counterpart)"
        )
    return CheckResult.read_off(
        "options",
        (device,),
        cmp.runs,
        tolerance,
        DIFFERS if cmp.differs else OK,
        diff,
        threshold=cmp.threshold_report.cut,
        comparisons=(cmp,),
        note=note,
        details={"options": dict(options)},
    )
