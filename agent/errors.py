"""The agent's error tree: one root, user-fixable request errors, and an internal-error class."""

from __future__ import annotations


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
