"""report.json: the campaign's findings as plain JSON (fields documented in the README)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from analysis.results import VarDiff, json_float
from controller.checks.result import CampaignReport, CheckResult, Comparison
from controller.store import write_json

#: v2: each comparison embeds analysis's JSON for its two runs; roots and first are analysis's vars.
SCHEMA = "larfarm.report.v2"


def var_json(v: VarDiff, amplification: Optional[float] = None) -> Dict[str, Any]:
    """A var as the check-level lists show it (analysis's full record is in the comparison).

    Graph-matched, B's partner is named beside it where it is another var (a ConvBias for A's
    fused Elemwise): the root is in A's terms, the kernel that made the error may be B's.
    """
    out: Dict[str, Any] = {
        "id": v.var_id,
        "opr": v.opr_name,
        "type": v.opr_type,
        "name": v.var_name,
        "err": json_float(v.max_err),
        "amplification": json_float(amplification),
    }
    if _other_in_b(v):
        out["b"] = {"id": v.var_id_b, "opr": v.opr_name_b, "type": v.opr_type_b, "name": v.var_name_b}
    return out


def _other_in_b(v: VarDiff) -> bool:
    return v.var_id_b is not None and (v.var_id_b, v.opr_type_b, v.var_name_b) != (v.var_id, v.opr_type, v.var_name)


def comparison_json(c: Comparison) -> Dict[str, Any]:
    """A pair of runs: labels, and under "analysis" exactly what `python -m analysis --json` prints for them."""
    return {"label": c.label, "devices": list(c.devices), "runs": list(c.runs), "analysis": c.to_json()}


def check_json(c: CheckResult) -> Dict[str, Any]:
    f = c.first
    return {
        "kind": c.kind,
        "status": c.status,
        "devices": list(c.devices),
        "runs": list(c.runs),
        "tolerance": c.tolerance,
        "differing": list(c.differing),
        "first": None if f is None else f.var_id,
        "first_opr": None if f is None else {"opr": f.opr_name, "type": f.opr_type, "name": f.var_name},
        "roots": [var_json(r, c.amplification.get(r.var_id)) for r in c.roots],
        "threshold": json_float(c.threshold),
        "note": c.note,
        "details": c.details,
        "comparisons": [comparison_json(x) for x in c.comparisons],
    }


def report_json(report: CampaignReport) -> Dict[str, Any]:
    """The whole report as a JSON-ready dict."""
    return {
        "schema": SCHEMA,
        "campaign": report.campaign,
        "model": report.model,
        "tolerance": report.tolerance,
        "checks_asked": list(report.checks_asked),
        "store": report.store,
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "bytes_fetched": report.bytes_fetched,
        "bytes_dumped": report.bytes_dumped,
        "differs": report.differs,
        "clean": report.clean,
        "devices": [
            {
                "name": d.name,
                "address": d.address,
                "runner": d.runner,
                "labels": d.labels,
                "healthy": d.healthy,
                "reason": d.reason,
                "runs": list(d.runs),
                "facts": d.facts,
                "attempts": d.attempts,
                "options": d.options,
            }
            for d in report.devices
        ],
        "unhealthy": [{"name": d.name, "address": d.address, "reason": d.reason} for d in report.unhealthy],
        "checks": [check_json(c) for c in report.checks],
    }


def write_report_json(report: CampaignReport, path: Path) -> Path:
    """Write report.json atomically."""
    write_json(path, report_json(report))
    return path
