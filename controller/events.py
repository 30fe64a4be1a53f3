"""Progress events the scheduler emits; only the CLI turns them into rich progress bars."""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

# phases of a device, in order
QUEUED = "queued"
CONNECTING = "connecting"
UPLOADING = "uploading"
RUNNING = "running"
FETCHING = "fetching"
DONE = "done"
RETRY = "retry"
UNHEALTHY = "unhealthy"
CANCELLED = "cancelled"


@dataclasses.dataclass(frozen=True)
class DeviceEvent:
    """What one device is doing now; bytes count the current phase's transfer."""

    device: str
    phase: str
    detail: str = ""
    bytes_done: int = 0
    bytes_total: int = 0
    rate_bps: float = 0.0
    runs_done: int = 0
    runs_total: int = 0


Listener = Callable[[DeviceEvent], None]


def ignore(_event: DeviceEvent) -> None:
    """A listener that drops events (library use without a terminal)."""


def maybe(listener: Optional[Listener]) -> Listener:
    return listener or ignore
