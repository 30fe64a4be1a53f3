"""`controller compare RUN_A RUN_B`: two stored runs (any campaigns) through analysis, digest-first."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

RunArg = Annotated[Path, typer.Argument(help="A run folder of the store (holding run.json).")]


def _tolerance(value: float) -> float:
    """A finite tolerance >= 0, as `python -m analysis` and campaign.yaml require (an inf/nan one compares nothing)."""
    if not (math.isfinite(value) and value >= 0):
        raise typer.BadParameter(f"must be a finite number >= 0, got {value}")
    return value


TolOpt = Annotated[float, typer.Option("--tolerance", "-e", callback=_tolerance, help="On MegEngine's metric.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")]


def compare_command(a: Path, b: Path, tolerance: float, json_mode: bool) -> int:
    """Compare run b against reference run a, exactly as `python -m analysis` does (same text, same JSON).

    Both runs are opened through the store (schema and every file's sha256
    checked); vars with equal digests are analysis's ``identical_by_digest``.
    Exit 0 within tolerance, 1 differences found (analysis's verdict).
    """
    from analysis import render
    from controller.checks.comparison import compare_stored
    from controller.store import open_stored_run

    ra, rb = open_stored_run(a), open_stored_run(b)
    diff, report = compare_stored(ra, a, rb, b, tolerance)
    typer.echo(render.render_json(diff, report) if json_mode else render.render_text(diff, report), nl=False)
    return 0 if diff.clean else 1


def register(app: typer.Typer) -> None:
    """Add `controller compare`; errors end in controller.cli's main()."""

    @app.command("compare")
    def compare(a: RunArg, b: RunArg, tolerance: TolOpt = 1e-7, json_out: JsonOpt = False) -> None:
        """Compare two stored runs: differing vars, first var, roots, suggested threshold."""
        raise typer.Exit(compare_command(a, b, tolerance, json_out))
