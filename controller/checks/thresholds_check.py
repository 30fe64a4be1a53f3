"""thresholds check: the error distribution and the suggested cut of every comparison made (step 5)."""

from __future__ import annotations

from typing import List, Sequence

from analysis.render import fmt_err
from controller.checks.result import OK, CheckResult


def thresholds_checks(made: Sequence[CheckResult], tolerance: float) -> List[CheckResult]:
    """One thresholds result per naive/cross comparison: distribution, suggested cut, roots at it."""
    out = []
    for check in made:
        if check.kind not in ("naive", "cross"):
            continue
        for cmp in check.comparisons:
            th = cmp.threshold_report
            over = len(cmp.diff.differing())
            # the full threshold report is the naive/cross comparison's "threshold" object
            details = {"of": check.kind, "distribution": th.stats.to_dict()}
            if th.cut is None:
                note = f"{over} vars over tolerance; no cut suggested: {th.stats.reason}"
                out.append(CheckResult("thresholds", cmp.devices, cmp.runs, tolerance, OK, note=note, details=details))
                continue
            note = f"suggested threshold {fmt_err(th.cut)}: {th.differing} of {over} differing vars stay over it"
            out.append(
                CheckResult.read_off(
                    "thresholds",
                    cmp.devices,
                    cmp.runs,
                    tolerance,
                    OK,
                    cmp.diff,
                    th.cut,
                    threshold=th.cut,
                    note=note,
                    details=details,
                )
            )
    return out
