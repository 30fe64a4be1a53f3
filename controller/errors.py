"""The controller's error tree: user-fixable errors carry what and where; bugs are InternalError."""

from __future__ import annotations

from typing import Optional


class ControllerError(Exception):
    """A user-fixable problem (bad file, unreachable device, ...); the CLI prints it as one line."""

    exit_code = 2
    hint: Optional[str] = None


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
    """The result store is inconsistent or a stored file does not match its digest."""


class CampaignFailed(ControllerError):
    """The campaign could not run at all (no device reachable, nothing to compare)."""


class Cancelled(ControllerError):
    """The user interrupted the campaign (Ctrl-C); the store is left consistent."""

    exit_code = 130


class InternalError(Exception):
    """A bug in larfarm, not the user's doing: the CLI shows a traceback hint."""
