"""`controller compare RUN_A RUN_B`: compare two stored runs (any campaigns) digest-first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

RunArg = Annotated[Path, typer.Argument(help="A run folder of the store (holding run.json).")]
TolOpt = Annotated[float, typer.Option("--tolerance", "-e", help="On MegEngine's metric.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")]


def compare_command(a: Path, b: Path, tolerance: float, json_mode: bool) -> int:
    """Compare run b against reference run a; exit 0 within tolerance, 1 when vars differ."""
    from controller.checks.pairs import compare_runs
    from controller.report.json import comparison_json
    from controller.store import open_stored_run

    ra, rb = open_stored_run(a), open_stored_run(b)  # schema, and every file against run.json
    cmp = compare_runs(f"{rb.run_id} vs {ra.run_id}", (ra.device, rb.device), ra, a, rb, b, tolerance)
    if json_mode:
        typer.echo(json.dumps(comparison_json(cmp), indent=2))
    else:
        typer.echo(
            f"{cmp.label}: {len(cmp.differing)} of {cmp.compared} vars over {tolerance:g} "
            f"({cmp.identical_by_digest} identical by digest)"
        )
        if cmp.first_var is not None:
            p = cmp.first_var
            typer.echo(f"first: var{p.id} {p.type} {p.opr} err={p.err:.3g}")
        for r in cmp.roots:
            typer.echo(f"root: var{r.id} {r.type} {r.opr} err={r.err:.3g} amplification={r.amplification}")
        if cmp.threshold is not None:
            typer.echo(
                f"suggested threshold: {cmp.threshold:.3g} (roots there: {[r.id for r in cmp.roots_at_threshold]})"
            )
    return 1 if cmp.differing else 0


def register(app: typer.Typer) -> None:
    """Add `controller compare`."""
    from controller.commands.run import guarded

    @app.command("compare")
    def compare(a: RunArg, b: RunArg, tolerance: TolOpt = 1e-7, json_out: JsonOpt = False) -> None:
        """Compare two stored runs: differing vars, first var, roots, suggested threshold."""
        raise typer.Exit(guarded(lambda: compare_command(a, b, tolerance, json_out)))
