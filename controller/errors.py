"""The controller's error tree: one root, user-fixable errors that say what and where, and InternalError for bugs.

Every exception the controller raises on purpose derives from ControllerError (the agent client's and the
SSH side's included), each class by one line of inheritance. How each one looks to the user (message,
hint, exit code) is decided in one table, `exit_table()` at the end, which controller.cli's main() applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional


class ControllerError(Exception):
    """Root of every error the controller raises on purpose; str() is one clear line."""


class ConfigError(ControllerError):
    """A farm or campaign file is invalid: names file, line and field."""

    def __init__(self, path: str, line: Optional[int], field: str, message: str) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.message = message
        where = path if line is None else f"{path}:{line}"
        text = f"{where}: {field}: {message}" if field else f"{where}: {message}"
        super().__init__(text)


class UsageError(ControllerError):
    """The command line names something that does not exist (a device, a folder)."""


class DeviceUnreachable(ControllerError):
    """A device's agent did not answer: names the device and its address."""

    def __init__(self, name: str, address: str, reason: str) -> None:
        self.name = name
        self.address = address
        self.reason = reason
        super().__init__(f"device {name} ({address}) unreachable: {reason}")


class RunFailed(ControllerError):
    """One run on one device failed (non-zero exit, timeout, lost agent)."""

    def __init__(self, device: str, run_id: str, reason: str) -> None:
        self.device = device
        self.run_id = run_id
        self.reason = reason
        super().__init__(f"device {device}: run {run_id} failed: {reason}")


class StoreError(ControllerError):
    """The result store is inconsistent, or a stored file (run.json, report.json, a dump) is damaged."""


class CampaignFailed(ControllerError):
    """The campaign could not run at all (no device reachable, nothing to compare)."""


class Cancelled(ControllerError):
    """The user interrupted the campaign (Ctrl-C); the store is left consistent."""


class InternalError(ControllerError):
    """A bug in larfarm, not the user's doing: the CLI asks for --debug and a report."""


# -- how each error looks to the user: the controller's one table

EXIT_OK, EXIT_DIFFERS, EXIT_CANNOT_RUN = 0, 1, 2
#: a bug in larfarm (sysexits' EX_SOFTWARE)
EXIT_INTERNAL = 70
#: Ctrl-C or SIGTERM, as a shell reports a SIGINT
EXIT_INTERRUPTED = 130

BUG_HINT = "a bug in larfarm; rerun with --debug for the traceback and report it"


@dataclass(frozen=True)
class Rule:
    """What the CLI prints and returns for one exception class (and its subclasses without a rule)."""

    exit_code: int
    hint: Optional[str] = None
    message: Callable[[BaseException], str] = str


@dataclass(frozen=True)
class Failure:
    """One exception as the user sees it: one line, an optional hint, the exit code."""

    line: str
    hint: Optional[str]
    exit_code: int


def _os_line(exc: BaseException) -> str:
    """`path: reason` for the store or an input file, without errno's bracketed number."""
    filename, strerror = getattr(exc, "filename", None), getattr(exc, "strerror", None)
    return f"{filename}: {strerror or exc}" if filename else f"{strerror or exc}"


def _bug_line(exc: BaseException) -> str:
    return f"internal error: {type(exc).__name__}: {exc}{where_in_larfarm(exc)}"


def exit_table() -> Dict[type, Rule]:
    """Exception class -> Rule; `describe` uses the nearest class on an exception's MRO."""
    # analysis is a library the controller calls; its user-fixable errors are the user's, not ours
    from analysis.errors import AnalysisError

    return {
        ControllerError: Rule(EXIT_CANNOT_RUN),
        AnalysisError: Rule(EXIT_CANNOT_RUN),
        OSError: Rule(EXIT_CANNOT_RUN, message=_os_line),
        Cancelled: Rule(EXIT_INTERRUPTED, message=lambda exc: "interrupted"),
        KeyboardInterrupt: Rule(EXIT_INTERRUPTED, message=lambda exc: "interrupted"),
        InternalError: Rule(EXIT_INTERNAL, hint=BUG_HINT, message=_bug_line),
        BaseException: Rule(EXIT_INTERNAL, hint=BUG_HINT, message=_bug_line),
    }


def describe(exc: BaseException) -> Failure:
    """The table's verdict for `exc`, always one line.

    A line break inside the message (a file name holding one, a library's multi-line text)
    is written as ``\\n`` rather than cut off, so the reason after it is not lost.
    """
    table = exit_table()
    rule = next(table[k] for k in type(exc).__mro__ if k in table)
    text = rule.message(exc).strip() or type(exc).__name__
    return Failure(_one_line(text), rule.hint, rule.exit_code)


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def where_in_larfarm(exc: BaseException) -> str:
    """' at <our file>:<line>' of the innermost frame in larfarm's code, to make a bug report useful."""
    import traceback

    ours = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if any(f"/{top}/" in f.filename for top in ("controller", "agent", "analysis"))
    ]
    return f" at {'/'.join(ours[-1].filename.split('/')[-3:])}:{ours[-1].lineno}" if ours else ""
