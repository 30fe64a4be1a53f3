"""The agent's error tree (one root, user-fixable request errors, an internal-error class) and the table
that words them on the command line."""

from __future__ import annotations

from typing import Dict, Optional, Tuple


class AgentError(Exception):
    """Root of every error the agent raises on purpose; str() is one clear line."""


class ConfigError(AgentError):
    """The agent's config (file or command line) is wrong: names the file and field."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        super().__init__(f"{where}: {message}")


class RequestError(AgentError):
    """A request is malformed or asks for something not allowed (INVALID_ARGUMENT)."""


class UnsafePathError(RequestError):
    """A name or path from a request would leave the workspace (traversal, NUL, symlink)."""


class NotFoundError(AgentError):
    """The run, file or blob named does not exist (NOT_FOUND)."""


class QuotaExceeded(AgentError):
    """Storing this would exceed the workspace quota or a size bound (RESOURCE_EXHAUSTED)."""


class StateError(AgentError):
    """The run is not in a state that allows this call (FAILED_PRECONDITION)."""


class BlobVerifyError(AgentError):
    """Uploaded bytes do not match the announced sha256 or size (DATA_LOSS)."""


class InternalError(AgentError):
    """A bug in the agent, not the caller's fault (INTERNAL)."""


# -- how each error looks on the agent's command line: the one table, applied by agent.cli.main()

EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

BUG_HINT = "a bug in the agent; rerun with --debug for the traceback and report it"

#: exception class -> (exit code, hint); the nearest class on an exception's MRO decides
EXIT_TABLE: Dict[type, Tuple[int, Optional[str]]] = {
    AgentError: (EXIT_USAGE, None),
    InternalError: (EXIT_INTERNAL, BUG_HINT),
    OSError: (EXIT_USAGE, None),
    KeyboardInterrupt: (EXIT_INTERRUPTED, None),
    BaseException: (EXIT_INTERNAL, BUG_HINT),
}


def describe(exc: BaseException) -> Tuple[str, Optional[str], int]:
    """(one line, hint or None, exit code) for `exc`, by EXIT_TABLE."""
    code, hint = next(EXIT_TABLE[k] for k in type(exc).__mro__ if k in EXIT_TABLE)
    if isinstance(exc, KeyboardInterrupt):
        text = "interrupted"
    elif isinstance(exc, OSError) and not isinstance(exc, AgentError) and exc.filename:
        text = f"{exc.filename}: {exc.strerror or exc}"
    elif code == EXIT_INTERNAL and not isinstance(exc, InternalError):
        text = f"internal error: {type(exc).__name__}: {exc}"
    else:
        text = str(exc)
    lines = text.strip().splitlines()
    return (lines[0] if lines else type(exc).__name__), hint, code
