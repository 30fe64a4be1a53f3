"""Render comparison results for people (terminal text) and machines (JSON).

Only formatting lives here; every number comes from RunDiff / ThresholdReport.
"""

from __future__ import annotations

import json
import math
from typing import Any, Dict, List, Optional

from analysis.results import RunDiff, VarDiff
from analysis.thresholds import ThresholdReport

NAME_WIDTH = 40


def fmt_err(x: Optional[float]) -> str:
    """An error in 3 significant digits ("0" for exact, "-" for unknown)."""
    if x is None:
        return "-"
    if x == 0:
        return "0"
    return f"{x:.3g}"


def fmt_amp(x: Optional[float]) -> str:
    """Amplification: "new" where the opr created the error from exact inputs."""
    if x is None:
        return "-"
    if math.isinf(x):
        return "new"
    if math.isnan(x):
        return "?"
    return f"x{x:.3g}"


def _clip(text: str, width: int = NAME_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def describe(v: VarDiff) -> str:
    """``var 9 conv1 {ConvolutionForward}``."""
    name = v.var_name or v.opr_name or v.name
    kind = f" {{{v.opr_type}}}" if v.opr_type else ""
    if v.var_id_b is not None and (v.var_id_b != v.var_id or v.var_name_b != v.var_name):
        kind += f" (B: var {v.var_id_b} {v.var_name_b or v.opr_name_b})"
    return f"var {v.var_id} {name}{kind}"


def _over(v: VarDiff) -> str:
    if v.shape_mismatch:
        return f"shape {tuple(v.shape_a or ())} vs {tuple(v.shape_b or ())}"
    m = v.metrics
    if m is None:
        return "-"
    text = f"{m.count_over_tol}/{m.n_elems}"
    if not m.finite:
        text += f" nan {m.nan_a}/{m.nan_b} inf {m.inf_a}/{m.inf_b}"
    return text


def render_text(run: RunDiff, report: Optional[ThresholdReport] = None, *, limit: Optional[int] = None) -> str:
    """The people's report: summary, differing vars in execution order, first, roots, threshold."""
    s = run.stats()
    lines: List[str] = [
        f"A: {run.a}",
        f"B: {run.b}",
        f"tolerance {run.tolerance:g} on |a-b|/max(|a|,|b|,1); graph from {run.graph_source}",
        f"{s['compared']} vars compared: {s['bitwise_equal']} bitwise equal, {s['differing']} over tolerance"
        f" ({s['shape_mismatch']} shape mismatch, {s['not_finite']} with NaN/Inf,"
        f" {s['dtype_mismatch']} dtype mismatch);"
        f" {s['only_a']} only in A, {s['only_b']} only in B, {s['errors']} unreadable",
    ]
    lines += _matching_lines(run)
    differing = run.differing()
    if differing:
        amp = run.amplification
        lines += [
            "",
            "differing vars (execution order):",
            f"  {'id':>6}  {'opr type':<20}  {'name':<{NAME_WIDTH}}  {'max err':>9}  {'max abs':>9}"
            f"  {'amplif.':>8}  over tol",
        ]
        shown = differing if limit is None else differing[:limit]
        for v in shown:
            m = v.metrics
            lines.append(
                f"  {v.var_id:>6}  {_clip(v.opr_type, 20):<20}  {_clip(_name(v)):<{NAME_WIDTH}}"
                f"  {fmt_err(v.max_err):>9}  {fmt_err(None if m is None else m.max_abs):>9}"
                f"  {fmt_amp(amp.get(v.var_id)):>8}  {_over(v)}"
            )
        if len(shown) < len(differing):
            lines.append(f"  ... {len(differing) - len(shown)} more (--limit)")
    for label, items in (("only in A", run.only_a()), ("only in B", run.only_b())):
        if items:
            lines.append(f"{label}: " + ", ".join(v.name for v in items))
    for v in run.errors():
        lines.append(f"unreadable: {v.error}")
    if run.stray_a or run.stray_b:
        lines.append(
            "ignored (not dump names): " + ", ".join([f"A/{n}" for n in run.stray_a] + [f"B/{n}" for n in run.stray_b])
        )
    lines.append("")
    first = run.first()
    lines.append("first: " + ("none" if first is None else f"{describe(first)} err {fmt_err(first.max_err)}"))
    roots = run.roots()
    lines.append(
        "roots: " + ("none" if not roots else "; ".join(f"{describe(v)} err {fmt_err(v.max_err)}" for v in roots))
    )
    if report is not None:
        lines.append(_threshold_line(report))
    return "\n".join(lines) + "\n"


def _name(v: VarDiff) -> str:
    """A's name, with B's beside it when graph matching paired it with another name or id."""
    name = v.var_name or v.opr_name
    if v.var_id_b is None or (v.var_id_b == v.var_id and v.var_name_b == v.var_name):
        return name
    return f"{name} (B: {v.var_id_b} {v.var_name_b or v.opr_name_b})"


def _matching_lines(run: RunDiff, shown: int = 20) -> List[str]:
    """How vars were paired: by id (one line) or by graph (counts, then the vars left over and why)."""
    if run.matching != "graph":
        return [f"matching: by var id ({len(run.outputs())} pairs)"]
    # Several B vars can pair with one A var (its relayout copies): the counts above are per A var.
    copies = sum(1 for v in run.vars if v.secondary)
    also = (
        f": {len(run.pairs) - copies} compared + {copies} more copies in B (relayouts) of those A vars"
        if copies
        else ""
    )
    lines = [
        f"matching: by graph ({len(run.pairs)} pairs{also}; {len(run.unmatched_a)} vars of A and"
        f" {len(run.unmatched_b)} of B without a counterpart, not counted as differences)"
    ]
    for label, items in (("A", run.unmatched_a), ("B", run.unmatched_b)):
        for vid, reason in items[:shown]:
            lines.append(f"  unmatched in {label}: var {vid}: {reason}")
        if len(items) > shown:
            lines.append(f"  ... {len(items) - shown} more unmatched in {label} (--json lists all)")
    return lines


def _threshold_line(report: ThresholdReport) -> str:
    st = report.stats
    if st.suggestion is not None:
        head = f"threshold: suggested {st.suggestion.tolerance:g} ({st.reason})"
    else:
        head = f"threshold: no suggestion ({st.reason})"
    if report.cut is None:
        return head
    src = "suggested" if report.cut_source == "auto" else "given"
    roots = ", ".join(f"var {r}" for r in report.roots) or "none"
    return head + f"\n  at the {src} cut {report.cut:g}: {report.differing} vars over, roots: {roots}"


def to_json_data(run: RunDiff, report: Optional[ThresholdReport] = None) -> Dict[str, Any]:
    """RunDiff.to_dict() plus the threshold report under "threshold"."""
    data = run.to_dict()
    data["threshold"] = None if report is None else report.to_dict()
    return data


def render_json(run: RunDiff, report: Optional[ThresholdReport] = None) -> str:
    """Strict JSON (non-finite numbers are strings), one document."""
    return json.dumps(to_json_data(run, report), indent=1, allow_nan=False) + "\n"
