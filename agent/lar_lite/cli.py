"""``lar-lite``: the load_and_run command line on MegEngine Lite (console script ``main``).

Parses argv before anything heavy is imported: numpy and megenginelite load
only when a model is run, and ``MGB_USE_MEGDNN_DBG`` must already be in the
environment then (MegEngine reads it once). Every failure is one line on
stderr, ``lar-lite: error: ...``, and a non-zero exit.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Optional, Sequence

from agent.lar_lite.errors import EngineError, LarLiteError, UsageError
from agent.lar_lite.flags import parse_args, usage

#: Exit codes: 1 engine/runtime/input failure, 2 bad command line.
EXIT_FAIL, EXIT_USAGE = 1, 2


def _check_debug_env() -> None:
    """MegDNN throws "Debug level must be 0/1/2." deep inside a forward; say it up front."""
    level = os.environ.get("MGB_USE_MEGDNN_DBG")
    if level is not None and level.strip() not in ("0", "1", "2"):
        raise UsageError(f"MGB_USE_MEGDNN_DBG must be 0, 1 or 2, got {level!r}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="lar-lite: %(levelname)s: %(message)s")
    try:
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
    except UsageError as exc:
        print(f"lar-lite: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (LarLiteError, EngineError) as exc:
        print(f"lar-lite: error: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print("lar-lite: error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # stdout was closed early (e.g. piped into head): not an error of the run.
        # Point stdout at devnull so the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return 0


if __name__ == "__main__":
    sys.exit(main())
