"""`controller`: the host command line. Each command group lives in controller/commands/."""

from __future__ import annotations

import typer

from controller.commands import run as run_cmd
from controller.commands import ssh as ssh_cmd

app = typer.Typer(
    name="controller",
    help="Run accuracy campaigns across a farm of MegEngine devices and compare their dumps.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
run_cmd.register(app)
ssh_cmd.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
