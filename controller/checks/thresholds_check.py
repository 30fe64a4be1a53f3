"""thresholds check: the error distribution and the suggested cut of every comparison made (step 5)."""

from __future__ import annotations

from typing import List, Sequence

from controller.checks.result import OK, CheckResult


def thresholds_checks(made: Sequence[CheckResult], tolerance: float) -> List[CheckResult]:
    """One thresholds result per naive/cross comparison: distribution, suggested cut, roots at it."""
    out = []
    for check in made:
        if check.kind not in ("naive", "cross"):
            continue
        for cmp in check.comparisons:
            reason = str(cmp.distribution.get("reason", "no suggestion"))
            note = (
                f"{len(cmp.differing)} vars over tolerance; no cut suggested: {reason}"
                if cmp.threshold is None
                else (
                    f"suggested threshold {cmp.threshold:.3g}: {len(cmp.differing_at_threshold)} of "
                    f"{len(cmp.differing)} differing vars stay over it"
                )
            )
            out.append(
                CheckResult(
                    "thresholds",
                    cmp.devices,
                    cmp.runs,
                    tolerance,
                    OK,
                    differing=cmp.differing_at_threshold,
                    first=min(cmp.differing_at_threshold) if cmp.differing_at_threshold else None,
                    roots=cmp.roots_at_threshold,
                    threshold=cmp.threshold,
                    note=note,
                    details={"of": check.kind, "distribution": cmp.distribution},
                )
            )
    return out
