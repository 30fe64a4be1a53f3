"""`controller run`: a campaign over a farm; `controller report`: re-render a stored report."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any, Dict, List, Optional

import typer

from controller.errors import EXIT_DIFFERS, EXIT_OK, CampaignFailed, ConfigError, StoreError

log = logging.getLogger(__name__)

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


def read_report(path: Path) -> Dict[str, Any]:
    """A stored report.json, checked for what `controller report` prints; StoreError names what is wrong."""
    from controller.files import REPORT_LIMIT, FileRefused, read_regular_file
    from controller.report.json import SCHEMA

    try:
        data = json.loads(read_regular_file(path, REPORT_LIMIT))
    except FileNotFoundError:
        raise CampaignFailed(f"{path}: no report.json here") from None
    except FileRefused as exc:
        raise StoreError(f"{path}: {exc}") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise StoreError(f"{path}: damaged, not JSON ({str(exc).splitlines()[0][:200]})") from None
    if not isinstance(data, dict):
        raise StoreError(f"{path}: damaged: expected a JSON object")
    schema = data.get("schema")
    if schema is None:  # every report.json larfarm wrote has one (v1 too): this one is not ours
        raise StoreError(f"{path}: no schema field (expected {SCHEMA!r}): not a larfarm report.json")
    if schema != SCHEMA:
        raise StoreError(f"{path}: schema {schema!r} is not one this controller reads ({SCHEMA})")
    _expect(path, data, "campaign", str)
    _expect(path, data, "checks", list)
    _expect(path, data, "unhealthy", list)
    for i, check in enumerate(data["checks"]):
        where = f"checks[{i}]"
        if not isinstance(check, dict):
            raise StoreError(f"{path}: damaged: {where} is not an object")
        for key, kind in (("kind", str), ("devices", list), ("status", str), ("differing", list), ("roots", list)):
            _expect(path, check, key, kind, where)
        if not all(isinstance(r, dict) and "id" in r for r in check["roots"]):
            raise StoreError(f"{path}: damaged: {where}.roots holds an entry without an id")
    return data


def _expect(path: Path, obj: Dict[str, Any], key: str, kind: type, where: str = "") -> None:
    field = f"{where}.{key}" if where else key
    if key not in obj:
        raise StoreError(f"{path}: damaged: {field} is missing")
    if not isinstance(obj[key], kind):
        raise StoreError(f"{path}: damaged: {field} is not a {'list' if kind is list else 'string'}")


def report_command(out: Path) -> int:
    """Print the summary of a stored report.json; exit 0 clean, 1 differences."""
    path = out / "report.json" if out.is_dir() else out
    data = read_report(path)
    typer.echo(json.dumps({k: data.get(k) for k in ("campaign", "differs", "unhealthy")}, indent=2))
    for c in data["checks"]:
        devices: List[str] = [str(d) for d in c["devices"]]
        typer.echo(
            f"{c['kind']:<10} {' vs '.join(devices):<30} {c['status']:<8} "
            f"differing={len(c['differing'])} first={c.get('first')} roots={[r['id'] for r in c['roots']]}"
        )
    return EXIT_OK if data.get("clean") is True else EXIT_DIFFERS


def register(app: typer.Typer) -> None:
    """Add this group's commands to the controller app; errors end in controller.cli's main()."""

    @app.command("run")
    def run(
        devices: DevicesOpt,
        out: OutOpt,
        campaign: CampaignOpt = None,
        resume: ResumeOpt = False,
        json_out: JsonOpt = False,
    ) -> None:
        """Run a campaign on every device of the farm at once; exit 0 within tolerance, 1 differences, 2 cannot run."""
        raise typer.Exit(run_command(devices, out, campaign, resume, json_out))

    @app.command("report")
    def report(out: Annotated[Path, typer.Argument(help="A campaign folder holding report.json.")]) -> None:
        """Print the summary of a stored report.json; exit 0 clean, 1 differences, 2 no or damaged report."""
        raise typer.Exit(report_command(out))
