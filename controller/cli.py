"""`controller`: the host command line. Each command group lives in controller/commands/."""

from __future__ import annotations

import faulthandler
import logging
import signal

import typer

from controller.commands import compare as compare_cmd
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
def _main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
          verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what the controller does.")) -> None:
    """Run accuracy campaigns across a farm of MegEngine devices and compare their dumps."""
    run_cmd.DEBUG["on"] = debug
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


run_cmd.register(app)
compare_cmd.register(app)
ssh_cmd.register(app)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    # Ctrl-C and SIGTERM both cancel a campaign cleanly, even when started from a shell
    # that ignored SIGINT for background jobs.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <pid>` prints every thread's stack
    app()


if __name__ == "__main__":
    main()
