"""The agent client's exceptions: one root, one class per kind of failure, each one line."""

from __future__ import annotations

from controller.errors import ControllerError


class AgentClientError(ControllerError):
    """Root of every error this client raises; str() is one clear line (a branch of the controller's tree)."""


class AgentUnreachable(AgentClientError):
    """The agent does not answer (down, wrong address, connection lost)."""

    def __init__(self, address: str, detail: str = "") -> None:
        self.address = address
        super().__init__(f"agent at {address} is unreachable" + (f": {detail}" if detail else ""))


class AgentAuthError(AgentClientError):
    """The agent refused the token (missing or wrong)."""


class AgentRequestError(AgentClientError):
    """The agent refused the request itself (bad name, unknown runner, disallowed flag, ...)."""


class AgentNotFound(AgentClientError):
    """The run or blob named does not exist on the agent."""


class AgentQuotaError(AgentClientError):
    """The agent's workspace quota would be exceeded."""


class AgentRunError(AgentClientError):
    """A run could not be followed to its end (stream broke, no finished event)."""


class FetchVerifyError(AgentClientError):
    """A fetched file's bytes do not match the sha256 the agent announced."""
