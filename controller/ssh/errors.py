"""Errors of the SSH side: each one says which board, where, and what to do."""

from __future__ import annotations

from controller.errors import ControllerError


class SshError(ControllerError):
    """A user-fixable problem reaching or preparing a board over SSH.

    The message is one line: ``<device> (<host>:<port>): <what> [; <how to fix>]``.
    """

    def __init__(self, device: str, where: str, what: str) -> None:
        self.device = device
        self.where = where
        self.what = what
        super().__init__(f"{device} ({where}): {what}")


class HostUnreachable(SshError):
    """The board's sshd (or the jump host) cannot be reached at all; the scheduler retries it like any
    device trouble (every ControllerError of an attempt is)."""


class HostKeyUnknown(SshError):
    """Strict policy and the board's host key is not in known_hosts."""


class HostKeyMismatch(SshError):
    """The board's host key differs from the one in known_hosts."""


class AuthFailed(SshError):
    """sshd refused the login (wrong key, wrong user, no agent key)."""


class BoardNotReady(SshError):
    """The board lacks what the agent needs (Python >= 3.8, grpcio, protobuf)."""


class AgentNotRunning(SshError):
    """The board is reachable but nothing listens on the agent's port there
    (never started, stopped, or crashed); retried like an unreachable agent."""


class AgentPortBusy(SshError):
    """Another program already listens on the agent's port on the board."""


class AgentStartFailed(SshError):
    """The agent was started but exited, or never answered its health check."""


class NotDeployed(SshError):
    """No token for this device: it was never deployed from this farm."""


class RemoteCommandFailed(SshError):
    """A command on the board failed in a way not covered above."""
