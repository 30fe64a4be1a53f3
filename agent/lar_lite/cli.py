"""``lar-lite``: the load_and_run command line on MegEngine Lite (console script ``main``).

Parses argv before anything heavy is imported: numpy and megenginelite load
only when a model is run, and ``MGB_USE_MEGDNN_DBG`` must already be in the
environment then (MegEngine reads it once). Every failure is one line on
stderr, ``lar-lite: error: ...``, and the exit code of agent.lar_lite.errors' table.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import List, Optional, Sequence

from agent.lar_lite import exit_guard
from agent.lar_lite.errors import UsageError, describe
from agent.lar_lite.flags import parse_args, usage


def _check_debug_env() -> None:
    """MegDNN throws "Debug level must be 0/1/2." deep inside a forward; say it up front."""
    level = os.environ.get("MGB_USE_MEGDNN_DBG")
    if level is not None and level.strip() not in ("0", "1", "2"):
        raise UsageError(f"MGB_USE_MEGDNN_DBG must be 0, 1 or 2, got {level!r}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point; returns the exit status. `--debug` (lar-lite's own, not load_and_run's) shows tracebacks."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING, format="lar-lite: %(levelname)s: %(message)s"
    )
    try:
        code = _run(args)
    except BrokenPipeError:
        # stdout was closed early (e.g. piped into head): not an error of the run.
        # Point stdout at devnull so the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 141
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - the one place every failure ends
        if debug:
            traceback.print_exc()  # printed, not raised: see exit_guard
            code = 1
        else:
            line, hint, code = describe(exc)
            print(f"lar-lite: error: {line}" + (f" (hint: {hint})" if hint else ""), file=sys.stderr)
    if exit_guard.armed():
        exit_guard.leave(code)  # never through the C exit handlers once ours is registered
    return code


def _run(args: List[str]) -> int:
    opts = parse_args(args)
    if opts.help:
        print(usage())
        return 0
    _check_debug_env()
    # Heavy imports only now that the command line is known to be sound.
    from agent.lar_lite.engine import load_lite
    from agent.lar_lite.run import LarRun

    lite = load_lite()
    lar = LarRun(opts, lite, sys.stdout, sys.stderr)
    try:
        lar.run()
    finally:
        lar.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
