"""`controller`: the host command line. Each command group lives in controller/commands/.

main() is the one shell around every command: a command raises, main() prints one line
(controller.errors' table decides the words, the hint and the exit code), and `--debug` on
the root command shows the traceback instead. Only typer's and click's public API is used,
so the shell works with typer releases that bring their own copy of click and with those
that use click itself.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import sys
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple, Type

import typer
from typer.core import TyperGroup

from controller.commands import compare as compare_cmd
from controller.commands import devices as devices_cmd
from controller.commands import run as run_cmd
from controller.commands import ssh as ssh_cmd
from controller.errors import EXIT_CANNOT_RUN, EXIT_INTERRUPTED, describe


class _Shell(TyperGroup):
    """The controller's command group: whatever a command raises ends here as one line and an exit code.

    In the group rather than only in main(), so the app behaves the same when a test or another
    program invokes it (typer's CliRunner) as from the console script.
    """

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, SystemExit, GeneratorExit):
            raise
        except _click_exception_types():
            raise
        except BrokenPipeError:  # the reader left (`| head`): nothing to say, and nothing more to write at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(EXIT_CANNOT_RUN) from None
        except BaseException as exc:  # noqa: BLE001 - the one place every command's errors end
            if settings.debug:
                raise
            failure = describe(exc)
            _line(failure.line, failure.hint)
            raise typer.Exit(failure.exit_code) from None


app = typer.Typer(
    cls=_Shell,
    name="controller",
    help="Run accuracy campaigns across a farm of MegEngine devices and compare their dumps.",
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


@dataclass
class Settings:
    """What the root options asked for; commands read it as `ctx.obj`."""

    debug: bool = False
    verbose: bool = False


#: the root options of the command being run; main() reads it once the command is over
settings = Settings()


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what the controller does."),
) -> None:
    """Run accuracy campaigns across a farm of MegEngine devices and compare their dumps."""
    settings.debug, settings.verbose = debug, verbose
    ctx.obj = settings
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if not debug:
        # paramiko logs socket teardown noise at ERROR; our errors already say what failed
        logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    if ctx.invoked_subcommand is None:  # `controller` alone: the help, as a usage mistake
        typer.echo(ctx.get_help(), err=True)
        raise typer.Exit(EXIT_CANNOT_RUN)


run_cmd.register(app)
compare_cmd.register(app)
ssh_cmd.register(app)
devices_cmd.register(app)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """The `controller` console script."""
    # Ctrl-C and SIGTERM both cancel a campaign cleanly, even when started from a shell
    # that ignored SIGINT for background jobs.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <pid>` prints every thread's stack
    sys.exit(run_app(sys.argv[1:]))


def _click_exception_types() -> Tuple[Type[BaseException], ...]:
    """The base class of click's own errors, wherever this typer keeps click (public names only)."""
    found: List[Type[BaseException]] = []
    vendored = getattr(typer, "TyperException", None)  # typer >= 0.2x: click vendored, errors derive from this
    if isinstance(vendored, type) and issubclass(vendored, BaseException):
        found.append(vendored)
    try:
        import click  # typer < 0.2x runs on click itself
    except ImportError:
        pass
    else:
        found.append(click.ClickException)
    return tuple(found)


def run_app(argv: Sequence[str]) -> int:
    """Run the typer app on argv; whatever goes wrong is one line on stderr and an exit code."""
    settings.debug = settings.verbose = False
    try:
        rc = app(args=list(argv), prog_name="controller", standalone_mode=False)
    except typer.Exit as exc:  # raised in a callback: typer leaves these to standalone mode
        return int(getattr(exc, "exit_code", 0) or 0)
    except typer.Abort:  # click turns Ctrl-C during a prompt or parse into Abort
        _line("interrupted")
        return EXIT_INTERRUPTED
    except _click_exception_types() as exc:
        return _usage(exc)
    except BaseException as exc:  # noqa: BLE001 - the one place every command's errors end
        if isinstance(exc, SystemExit):
            raise
        if settings.debug:
            raise
        failure = describe(exc)
        _line(failure.line, failure.hint)
        return failure.exit_code
    return rc if isinstance(rc, int) else 0


def _usage(exc: BaseException) -> int:
    """A usage mistake is one plain line naming the command and the way to its help, exit 2."""
    ctx = getattr(exc, "ctx", None)
    cmd = ctx.command_path if ctx is not None else "controller"
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    message = " ".join(message.split())  # click may wrap a message over lines
    if ctx is not None:
        print(f"{cmd}: error: {message} (see '{cmd} --help')", file=sys.stderr)
    else:
        print(f"{cmd}: error: {message}", file=sys.stderr)
    return int(getattr(exc, "exit_code", EXIT_CANNOT_RUN) or EXIT_CANNOT_RUN)


def _line(message: str, hint: Optional[str] = None) -> None:
    """The one stderr line of a failed command: plain text (never markup) and never wrapped."""
    from controller.output import Output

    Output().error(message, hint)


if __name__ == "__main__":
    main()
