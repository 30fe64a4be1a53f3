"""shake check: repeats of the default run; if they jitter, the same with --reproducible (step 3)."""

from __future__ import annotations

from typing import Dict, List, Optional

from analysis import results
from controller import plan
from controller.campaign import Campaign
from controller.checks.comparison import compare_pair
from controller.checks.graphs import RunGraphs
from controller.checks.result import DIFFERS, OK, SKIPPED, CheckResult, Comparison
from controller.store import RunRecord, Store


def _repeats(
    device: str,
    roles: List[str],
    records: Dict[str, RunRecord],
    store: Store,
    tolerance: float,
    what: str,
    graphs: Optional[RunGraphs],
) -> List[Comparison]:
    ref = records[roles[0]]
    return [
        compare_pair(f"{device}: {what} {role} vs {roles[0]}", (device,), ref, records[role], store, tolerance, graphs)
        for role in roles[1:]
        if role in records
    ]


def shake_check(
    device: str,
    records: Dict[str, RunRecord],
    store: Store,
    campaign: Campaign,
    graphs: Optional[RunGraphs] = None,
) -> CheckResult:
    """Per-var spread over N repeats, and whether --reproducible removes it."""
    tol = campaign.tolerance
    roles = plan.shake_roles(campaign)
    if any(r not in records for r in roles):
        return CheckResult("shake", (device,), (), tol, SKIPPED, note="runs missing")
    cmps = _repeats(device, roles, records, store, tol, "repeat", graphs)
    spread = results.spread(c.diff for c in cmps)
    runs = tuple(records[r].run_id for r in roles)
    if not spread and not any(c.differs for c in cmps):
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
        _repeats(device, repro, records, store, tol, "reproducible", graphs) if all(r in records for r in repro) else []
    )
    repro_spread = results.spread(c.diff for c in repro_cmps)
    gone = bool(repro_cmps) and not repro_spread and not any(c.differs for c in repro_cmps)
    # which vars differ is analysis's verdict per repeat; the check only gathers them
    over = {v.var_id: v for c in reversed(cmps) for v in c.diff.differing()}
    differing = tuple(sorted(over))
    source = next((c for c in cmps if c.diff.differing()), None)
    roots = tuple(source.diff.roots()) if source else ()
    amp = source.diff.amplification if source else {}
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
        DIFFERS if any(c.differs for c in cmps) else OK,
        differing=differing,
        first=over[differing[0]] if differing else None,
        roots=roots,
        amplification={v.var_id: amp.get(v.var_id) for v in roots},
        threshold=max(spread.values(), default=None),  # the largest jitter analysis measured
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
