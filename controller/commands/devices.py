"""`controller devices --adb`: the phones attached to this PC, with what farm.yaml needs to name them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Optional

import typer

AdbOpt = Annotated[bool, typer.Option("--adb", help="List Android phones that `adb devices` sees.")]
AdbProgramOpt = Annotated[Optional[Path], typer.Option("--adb-program", help="The adb program (default: on PATH).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the phones as JSON.")]


def devices_command(adb: bool, program: Path | None, json_mode: bool) -> int:
    """Print each phone: serial, state, model, ABI, Android, SoC, free space; 1 when none is usable."""
    from controller import adb as adb_mod
    from controller.errors import ControllerError

    if not adb:
        raise ControllerError("say which devices to list: --adb (phones on this PC)")
    target = adb_mod.AdbTarget(serial="x", adb=str(program)) if program else None
    phones = adb_mod.list_phones(adb_mod.adb_program(target))
    if json_mode:
        typer.echo(json.dumps([dataclasses.asdict(p) for p in phones], indent=2))
    elif not phones:
        typer.echo("no phones attached (USB debugging on? for Wi-Fi: adb connect HOST:PORT)")
    else:
        for p in phones:
            if p.state != "device":
                typer.echo(f"{p.serial}  {p.state}: {p.problem}")
                continue
            free = p.workdir_free_bytes
            where = f"{free / (1 << 30):.1f} GiB free" if free is not None else "free space unknown"
            typer.echo(f"{p.serial}  {p.model}  {p.abi}  Android {p.android_version}  {p.soc or p.platform}  {where}")
        usable = [p for p in phones if p.state == "device"]
        if usable:
            typer.echo("\nfarm.yaml:\ndevices:")
            for p in usable:
                name = "".join(c if c.isalnum() or c in "_.-" else "-" for c in (p.model or "phone")).strip("-")
                typer.echo(f"  - name: {name or 'phone'}-{p.serial.replace(':', '-').replace('.', '-')}")
                typer.echo(f"    adb: {{serial: '{p.serial}'}}")
    return 0 if any(p.state == "device" for p in phones) else 1


def register(app: typer.Typer) -> None:
    """Add `controller devices`; errors end in controller.cli's shell."""

    @app.command("devices")
    def devices(adb: AdbOpt = False, adb_program: AdbProgramOpt = None, json_out: JsonOpt = False) -> None:
        """List devices this PC can reach: with --adb, attached Android phones and their facts."""
        raise typer.Exit(devices_command(adb, adb_program, json_out))
