"""shake check: repeats of the default run; if they jitter, the same with --reproducible (step 3)."""

from __future__ import annotations

from typing import Dict, List

from controller import plan
from controller.campaign import Campaign
from controller.checks.pairs import compare_runs
from controller.checks.result import DIFFERS, OK, SKIPPED, CheckResult, Comparison
from controller.store import RunRecord, Store


def _spread(cmps: List[Comparison]) -> Dict[int, float]:
    """Per var, the largest error of any repeat against the first one."""
    spread: Dict[int, float] = {}
    for cmp in cmps:
        for p in cmp.series:
            if p.err > 0:
                spread[p.id] = max(spread.get(p.id, 0.0), p.err)
    return spread


def _repeats(
    device: str, roles: List[str], records: Dict[str, RunRecord], store: Store, tolerance: float, what: str
) -> List[Comparison]:
    ref = records[roles[0]]
    return [
        compare_runs(
            f"{device}: {what} {role} vs {roles[0]}",
            (device,),
            ref,
            store.run_dir(ref.run_id),
            records[role],
            store.run_dir(records[role].run_id),
            tolerance,
        )
        for role in roles[1:]
        if role in records
    ]


def shake_check(device: str, records: Dict[str, RunRecord], store: Store, campaign: Campaign) -> CheckResult:
    """Per-var spread over N repeats, and whether --reproducible removes it."""
    tol = campaign.tolerance
    roles = plan.shake_roles(campaign)
    if any(r not in records for r in roles):
        return CheckResult("shake", (device,), (), tol, SKIPPED, note="runs missing")
    cmps = _repeats(device, roles, records, store, tol, "repeat")
    spread = _spread(cmps)
    runs = tuple(records[r].run_id for r in roles)
    if not spread:
        return CheckResult(
            "shake",
            (device,),
            runs,
            tol,
            OK,
            comparisons=tuple(cmps),
            note=f"{len(roles)} repeats bitwise identical",
            details={"spread": {}, "repeats": len(roles), "reproducible_tried": False},
        )
    repro = [plan.repro_role(k) for k in range(1, campaign.repeats + 1)]
    repro_cmps = (
        _repeats(device, repro, records, store, tol, "reproducible") if all(r in records for r in repro) else []
    )
    repro_spread = _spread(repro_cmps)
    gone = bool(repro_cmps) and not repro_spread
    differing = tuple(sorted(v for v, e in spread.items() if e > tol))
    merged = [c for c in cmps if c.differing]
    first = min(differing) if differing else None
    roots = merged[0].roots if merged else ()
    note = (
        "shake disappears with --reproducible: a non-reproducible algorithm is the cause"
        if gone
        else "shake remains with --reproducible"
        if repro_cmps
        else "reproducible repeats not run"
    )
    return CheckResult(
        "shake",
        (device,),
        runs + tuple(records[r].run_id for r in repro if r in records),
        tol,
        DIFFERS if differing else OK,
        differing=differing,
        first=first,
        roots=roots,
        threshold=max(spread.values()) if spread else None,
        comparisons=tuple(cmps + repro_cmps),
        note=note,
        details={
            "spread": {str(k): v for k, v in sorted(spread.items())},
            "repeats": len(roles),
            "reproducible_tried": bool(repro_cmps),
            "reproducible_removes_shake": gone,
            "reproducible_spread": {str(k): v for k, v in sorted(repro_spread.items())},
        },
    )
