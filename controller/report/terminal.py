"""Terminal summary of a campaign, rendered with rich."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from analysis.render import fmt_amp, fmt_err
from controller.checks.result import CampaignReport, CheckResult


def _first(c: CheckResult) -> str:
    v = c.first
    if v is None:
        return "-"
    name = v.opr_name if len(v.opr_name) <= 40 else v.opr_name[:39] + "…"
    return f"var{v.var_id} {v.opr_type}\n{name}"


def _roots(c: CheckResult) -> str:
    # amplification as analysis prints it: "new" where the opr made the error from exact inputs
    # graph-matched: B's partner beside A's var when it is another one (a ConvBias for a fused Elemwise)
    parts = [
        f"var{r.var_id} {r.opr_type}"
        + (f" (B: var{r.var_id_b} {r.opr_type_b})" if r.var_id_b is not None and r.var_id_b != r.var_id else "")
        + f" err={fmt_err(r.max_err)} amp={fmt_amp(c.amplification.get(r.var_id))}"
        for r in c.roots[:4]
    ]
    if len(c.roots) > 4:
        parts.append(f"+{len(c.roots) - 4} more")
    return "\n".join(parts) or "-"


def render(report: CampaignReport, console: Console) -> None:
    """Per check: devices, how many vars differ, first var with its opr, roots with err and amplification."""
    table = Table(title=f"campaign {report.campaign} (tolerance {report.tolerance:g})", show_lines=True)
    for col in ("check", "devices", "status", "differing", "first var", "roots", "threshold"):
        table.add_column(col, overflow="fold", no_wrap=col in ("check", "status", "threshold"))
    for c in report.checks:
        style = {"ok": "green", "differs": "red", "skipped": "yellow"}.get(c.status, "")
        # names, oprs and notes come from files and devices: never read as rich markup
        table.add_row(
            escape(c.kind),
            escape(" vs ".join(c.devices)),
            f"[{style}]{c.status}[/]",
            str(len(c.differing)),
            escape(_first(c)),
            escape(_roots(c)),
            fmt_err(c.threshold),
        )
    console.print(table)
    for c in report.checks:
        if c.note and (c.kind in ("shake", "cross", "thresholds") or c.status == "skipped"):
            console.print(escape(f"{c.kind} {' vs '.join(c.devices)}: {c.note}"))
    for d in report.unhealthy:
        console.print(f"[red]unhealthy[/] device {escape(f'{d.name} ({d.address}): {d.reason}')}")
    if report.bytes_dumped:
        pct = 100.0 * report.bytes_fetched / report.bytes_dumped
        console.print(f"fetched {report.bytes_fetched} of {report.bytes_dumped} dumped bytes ({pct:.1f}%)")
