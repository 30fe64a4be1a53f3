"""Errors of lar-lite and its runtime set-up (one tree, root LarLiteError), and the table that words them."""

from __future__ import annotations


class LarLiteError(Exception):
    """Root of lar-lite's errors: a user-fixable problem, reported as one line."""


class RuntimeSetupError(LarLiteError):
    """The MegEngine Lite runtime cannot be fetched, verified or unpacked."""


class UnsupportedPlatformError(RuntimeSetupError):
    """The official wheel only runs on x86-64 Linux."""


class RuntimeMissingError(LarLiteError):
    """The runtime is not in its cache folder (``make lite-runtime`` was not run)."""


class UsageError(LarLiteError):
    """Bad command line: unknown flag, missing value, wrong type."""


class InputSpecError(LarLiteError):
    """A ``--input`` item cannot be parsed or does not fit the model's input."""


class EngineError(LarLiteError):
    """MegEngine Lite reported an error (bad model, failed dump, kernel failure)."""


# -- how each error looks on lar-lite's command line: the one table, applied by agent.lar_lite.cli.main()

#: Exit codes: 1 engine/runtime/input failure, 2 bad command line, 70 a bug, 130 interrupted.
EXIT_FAIL, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 1, 2, 70, 130

BUG_HINT = "a bug in lar-lite; rerun with --debug for the traceback and report it"

#: exception class -> (exit code, hint); the nearest class on an exception's MRO decides
EXIT_TABLE = {
    LarLiteError: (EXIT_FAIL, None),
    UsageError: (EXIT_USAGE, None),
    OSError: (EXIT_FAIL, None),
    KeyboardInterrupt: (EXIT_INTERRUPTED, None),
    BaseException: (EXIT_INTERNAL, BUG_HINT),
}


def describe(exc: BaseException) -> tuple[str, str | None, int]:
    """(one line, hint or None, exit code) for `exc`, by EXIT_TABLE."""
    code, hint = next(EXIT_TABLE[k] for k in type(exc).__mro__ if k in EXIT_TABLE)
    if isinstance(exc, KeyboardInterrupt):
        text = "interrupted"
    elif isinstance(exc, OSError) and exc.filename:
        text = f"{exc.filename}: {exc.strerror or exc}"
    elif code == EXIT_INTERNAL:
        text = f"internal error: {type(exc).__name__}: {exc}"
    else:
        text = str(exc)
    lines = text.strip().splitlines()
    return (lines[0] if lines else type(exc).__name__), hint, code
