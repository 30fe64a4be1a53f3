"""`controller run`: a campaign over a farm; `controller report`: re-render a stored report."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Optional

import typer

from controller.errors import CampaignFailed, ConfigError, ControllerError

log = logging.getLogger(__name__)

EXIT_OK, EXIT_DIFFERS, EXIT_CANNOT_RUN = 0, 1, 2

DevicesOpt = Annotated[Path, typer.Option("--devices", help="farm.yaml: the devices and how to reach them.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Result store folder (runs, report.json, report.html).")]
CampaignOpt = Annotated[
    Optional[Path], typer.Option("--campaign", help="campaign.yaml (else the farm's inline campaign).")
]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Keep runs already complete in the store; redo the rest.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print report.json on stdout instead of the summary.")]


def run_command(devices: Path, out: Path, campaign_file: Optional[Path], resume: bool, json_mode: bool) -> int:
    """Load the files, run the campaign, write the reports; returns the exit code."""
    from controller.campaign import load_campaign
    from controller.campaign_run import run_campaign
    from controller.farm import inline_campaign, load_farm
    from controller.output import Output
    from controller.report.html import write_report_html
    from controller.report.json import report_json, write_report_json
    from controller.report.terminal import render

    output = Output(json_mode)
    farm = load_farm(devices)
    campaign = load_campaign(campaign_file) if campaign_file is not None else inline_campaign(farm)
    if campaign is None:
        raise ConfigError(
            str(devices), None, "campaign", "no campaign: pass --campaign FILE or add campaign: to the farm"
        )
    with output.progress() as progress:
        report = run_campaign(farm, campaign, out, resume=resume, listener=progress)
    root = Path(report.store)
    write_report_json(report, root / "report.json")
    html_path = write_report_html(report, root / "report.html")
    if json_mode:
        output.data(report_json(report))
    else:
        render(report, output.out)
        output.out.print(f"report: {html_path}", highlight=False)
    return EXIT_OK if report.clean else EXIT_DIFFERS


def register(app: typer.Typer) -> None:
    """Add this group's commands to the controller app."""

    @app.command("run")
    def run(
        devices: DevicesOpt,
        out: OutOpt,
        campaign: CampaignOpt = None,
        resume: ResumeOpt = False,
        json_out: JsonOpt = False,
    ) -> None:
        """Run a campaign on every device of the farm at once; exit 0 within tolerance, 1 differences, 2 cannot run."""
        raise typer.Exit(guarded(lambda: run_command(devices, out, campaign, resume, json_out)))

    @app.command("report")
    def report(out: Annotated[Path, typer.Argument(help="A campaign folder holding report.json.")]) -> None:
        """Print the summary of a stored report.json."""

        def show() -> int:
            path = out / "report.json" if out.is_dir() else out
            if not path.is_file():
                raise CampaignFailed(f"{path}: no report.json here")
            data = json.loads(path.read_text())
            typer.echo(json.dumps({k: data[k] for k in ("campaign", "differs", "unhealthy")}, indent=2))
            for c in data["checks"]:
                typer.echo(
                    f"{c['kind']:<10} {' vs '.join(c['devices']):<30} {c['status']:<8} "
                    f"differing={len(c['differing'])} first={c['first']} roots={[r['id'] for r in c['roots']]}"
                )
            return EXIT_OK if data.get("clean") else EXIT_DIFFERS

        raise typer.Exit(guarded(show))


DEBUG = {"on": False}


def guarded(fn) -> int:
    """Run a command body: user errors become one line on stderr and exit 2 (traceback with --debug)."""
    from controller.output import Output

    try:
        return fn()
    except ControllerError as exc:
        if DEBUG["on"]:
            raise
        Output().error(str(exc), exc.hint)
        return exc.exit_code
    except KeyboardInterrupt:
        Output().error("interrupted")
        return 130
    except OSError as exc:  # the store or an input file: say which path and why
        if DEBUG["on"]:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        Output().error(f"{where}{exc.strerror or exc}")
        return EXIT_CANNOT_RUN
    except Exception as exc:  # other libraries' user-facing errors (analysis, agent client)
        from analysis.errors import AnalysisError
        from controller.agent_client import AgentClientError

        if isinstance(exc, (AnalysisError, AgentClientError)) and not DEBUG["on"]:
            Output().error(str(exc))
            return EXIT_CANNOT_RUN
        raise
