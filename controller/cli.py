"""`controller`: the host command line. Each command group lives in controller/commands/."""

from __future__ import annotations

import faulthandler
import logging
import signal
import sys

import typer

try:  # recent typer carries its own copy of click; older ones use click itself
    from typer._click import exceptions as _usage
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as _usage

from controller.commands import compare as compare_cmd
from controller.commands import devices as devices_cmd
from controller.commands import run as run_cmd
from controller.commands import ssh as ssh_cmd

app = typer.Typer(
    name="controller",
    help="Run accuracy campaigns across a farm of MegEngine devices and compare their dumps.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


@app.callback()
def _main(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what the controller does."),
) -> None:
    """Run accuracy campaigns across a farm of MegEngine devices and compare their dumps."""
    run_cmd.DEBUG["on"] = debug
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


run_cmd.register(app)
compare_cmd.register(app)
ssh_cmd.register(app)
devices_cmd.register(app)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    # Ctrl-C and SIGTERM both cancel a campaign cleanly, even when started from a shell
    # that ignored SIGINT for background jobs.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <pid>` prints every thread's stack
    sys.exit(_run_app(sys.argv[1:]))


def _run_app(argv: list[str]) -> int:
    """Run the typer app; a usage mistake is one plain line on stderr and exit 2."""
    try:
        rc = app(args=argv, prog_name="controller", standalone_mode=False)
    except _usage.NoArgsIsHelpError as exc:
        exc.show()
        return 2
    except _usage.UsageError as exc:
        # typer would draw a boxed, wrapped panel; one line names the mistake and the way out.
        cmd = exc.ctx.command_path if exc.ctx is not None else "controller"
        print(f"{cmd}: error: {exc.format_message()} (see '{cmd} --help')", file=sys.stderr)
        return 2
    except _usage.Abort:
        return 130
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    main()
