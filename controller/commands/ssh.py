"""`controller deploy|status|stop`: agents on boards reached over SSH (thin over controller.ssh)."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any, Callable, List, Optional, Tuple

import typer

from controller.errors import ControllerError, UsageError, describe

log = logging.getLogger(__name__)

DevicesOpt = Annotated[Path, typer.Option("--devices", help="The farm file (farm.yaml) listing the ssh: devices.")]
DeviceOpt = Annotated[
    Optional[List[str]], typer.Option("--device", help="Only this device (repeatable); default: every ssh: device.")
]
JobsOpt = Annotated[int, typer.Option("--jobs", min=1, max=256, help="Boards handled at once.")]

#: one board's result: (name, target, what the action returned, or the exception it raised)
BoardResult = Tuple[str, Any, Any, Optional[BaseException]]


def _debug(ctx: typer.Context) -> bool:
    """The root command's --debug (controller.cli puts its settings in ctx.obj)."""
    return bool(getattr(ctx.obj, "debug", False))


def _ssh_devices(devices: Path, names: Optional[List[str]]) -> Tuple[Path, list]:
    """(farm folder, [(name, SshTarget)]) for the selected ssh: devices."""
    from controller.farm import load_farm

    farm = load_farm(devices)
    base = Path(farm.base_dir or ".")
    if names:
        picked = []
        for name in names:
            try:
                dev = farm.device(name)
            except KeyError:
                known = ", ".join(d.name for d in farm.devices)
                raise UsageError(f"{devices}: no device named {name!r} (devices: {known})") from None
            if dev.ssh is None:
                raise UsageError(f"{devices}: device {name!r} has no ssh: block, so it is not deployed over SSH")
            picked.append(dev)
    else:
        picked = [d for d in farm.devices if d.ssh is not None]
        if not picked:
            raise UsageError(f"{devices}: no device has an ssh: block")
    return base, [(d.name, d.ssh) for d in picked]


def _each(targets: list, jobs: int, fn: Callable[[str, Any], Any], debug: bool = False) -> List[BoardResult]:
    """Run fn on every board in parallel; keep the farm's order for output.

    One board's failure, even a bug, must not hide the others' results: it is kept and reported
    by `_report` through the controller's error table. With --debug a bug ends the command with
    its traceback instead.
    """

    def one(item):
        name, target = item
        try:
            return name, target, fn(name, target), None
        except ControllerError as exc:
            return name, target, None, exc
        except Exception as exc:  # noqa: BLE001 - reported per board below
            if debug:
                raise
            log.debug("%s: unexpected error", name, exc_info=True)
            return name, target, None, exc

    with ThreadPoolExecutor(max_workers=min(jobs, len(targets))) as pool:
        return list(pool.map(one, targets))


def _board_error(name: str, exc: BaseException) -> None:
    """One board's failure as one line on stderr, worded by the error table."""
    from controller.output import Output

    failure = describe(exc)
    line = failure.line if failure.line.startswith(name) else f"{name}: {failure.line}"
    Output().error(line, failure.hint)


def _report(results: List[BoardResult], line: Callable[[str, Any], str]) -> int:
    """One line per board (its error on stderr); exit status 1 when any board failed."""
    failed = 0
    for name, _, ok, err in results:
        if err is not None:
            failed += 1
            _board_error(name, err)
        else:
            typer.echo(line(name, ok))
    return 1 if failed else 0


def register(app: typer.Typer) -> None:
    """Add this group's commands to the controller app."""

    @app.command("deploy")
    def deploy_cmd(ctx: typer.Context, devices: DevicesOpt, device: DeviceOpt = None, jobs: JobsOpt = 8) -> None:
        """Put the agent on ssh: boards, start it detached, and check its health through an SSH tunnel."""

        def body() -> int:
            from controller.ssh.deploy import deploy
            from controller.ssh.package import PackageError, build_agent_package

            base, targets = _ssh_devices(devices, device)
            try:
                package = build_agent_package()
            except PackageError as exc:
                raise PackageError(f"cannot package the agent: {exc}") from None

            def line(name: str, ok) -> str:
                replaced = f", replaced {', '.join(ok.replaced)}" if ok.replaced else ""
                return (
                    f"{name} ({ok.where}): agent {ok.agent_version} running ({ok.how} pid {ok.pid}), "
                    f"{ok.python}, healthy via SSH tunnel{replaced}"
                )

            return _report(_each(targets, jobs, lambda n, t: deploy(n, t, base, package), _debug(ctx)), line)

        raise typer.Exit(body())

    @app.command("status")
    def status_cmd(
        ctx: typer.Context,
        devices: DevicesOpt,
        device: DeviceOpt = None,
        jobs: JobsOpt = 8,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    ) -> None:
        """Per ssh: board: reachable, agent running (unit/pid), health through the tunnel, agent version."""

        def body() -> int:
            from controller.ssh.deploy import status

            base, targets = _ssh_devices(devices, device)
            results = _each(targets, jobs, lambda n, t: status(n, t, base), _debug(ctx))
            bad = 0
            for name, _target, st, err in results:
                if err is not None:
                    bad += 1
                    _board_error(name, err)
                    continue
                healthy = st.reachable and st.running and st.health == "SERVING"
                bad += 0 if healthy else 1
                if as_json:
                    import dataclasses

                    typer.echo(json.dumps(dataclasses.asdict(st)))
                elif not st.reachable:
                    typer.echo(f"{name} ({st.where}): unreachable: {st.error}")
                elif st.error:
                    typer.echo(f"{name} ({st.where}): reachable; {st.error}")
                elif not st.running:
                    typer.echo(
                        f"{name} ({st.where}): reachable; agent not running"
                        + ("" if st.deployed else " (never deployed)")
                    )
                else:
                    typer.echo(
                        f"{name} ({st.where}): reachable; agent running ({st.how} pid {st.pid}); "
                        f"health {st.health}; version {st.agent_version}"
                    )
            # Non-zero when any board is not up: scripts can wait on `controller status`.
            return 1 if bad else 0

        raise typer.Exit(body())

    @app.command("stop")
    def stop_cmd(
        ctx: typer.Context,
        devices: DevicesOpt,
        device: DeviceOpt = None,
        jobs: JobsOpt = 8,
        forget_token: Annotated[bool, typer.Option("--forget-token", help="Also delete the local token file.")] = False,
    ) -> None:
        """Stop the agent on ssh: boards (its systemd --user unit or its pid) and remove the pid file."""

        def body() -> int:
            from controller.ssh.deploy import stop

            base, targets = _ssh_devices(devices, device)

            def line(name: str, ok) -> str:
                what = f"stopped {', '.join(ok.stopped)}" if ok.stopped else "no agent was running"
                return f"{name} ({ok.where}): {what}"

            return _report(_each(targets, jobs, lambda n, t: stop(n, t, base, forget_token), _debug(ctx)), line)

        raise typer.Exit(body())
