"""report.json: the campaign's findings as plain JSON (fields documented in the README)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, Optional

from controller.checks.result import CampaignReport, CheckResult, Comparison, Root
from controller.store import write_json

SCHEMA = "larfarm.report.v1"


def _num(x: Optional[float]) -> Any:
    """JSON has no inf/nan: inf becomes the string "inf" (a var dumped on one side only)."""
    if x is None:
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if math.isnan(x):
        return "nan"
    return x


def _root(r: Root) -> Dict[str, Any]:
    return {
        "id": r.id,
        "opr": r.opr,
        "type": r.type,
        "name": r.name,
        "err": _num(r.err),
        "amplification": _num(r.amplification),
    }


def comparison_json(c: Comparison) -> Dict[str, Any]:
    return {
        "label": c.label,
        "runs": list(c.runs),
        "tolerance": c.tolerance,
        "differing": list(c.differing),
        "first": c.first,
        "roots": [_root(r) for r in c.roots],
        "threshold": _num(c.threshold),
        "roots_at_threshold": [_root(r) for r in c.roots_at_threshold],
        "compared": c.compared,
        "identical_by_digest": c.identical_by_digest,
        "distribution": c.distribution,
        "errors": [[p.id, _num(p.err)] for p in c.series],
    }


def check_json(c: CheckResult) -> Dict[str, Any]:
    p = c.first_point
    first_opr = {"opr": p.opr, "type": p.type, "name": p.name} if p is not None else None
    return {
        "kind": c.kind,
        "status": c.status,
        "devices": list(c.devices),
        "runs": list(c.runs),
        "tolerance": c.tolerance,
        "differing": list(c.differing),
        "first": c.first,
        "first_opr": first_opr,
        "roots": [_root(r) for r in c.roots],
        "threshold": _num(c.threshold),
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
