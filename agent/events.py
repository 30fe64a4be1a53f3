"""Run events and the finished record, as plain data (the service layer turns them into protobuf)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from agent.manifest import FileEntry

# Run states (names match the protocol's RunState enum).
QUEUED = "QUEUED"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
TIMED_OUT = "TIMED_OUT"
CANCELLED = "CANCELLED"
QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
START_FAILED = "START_FAILED"
FINAL_STATES = (SUCCEEDED, FAILED, TIMED_OUT, CANCELLED, QUOTA_EXCEEDED, START_FAILED)


@dataclass(frozen=True)
class FinishedRecord:
    state: str
    exit_code: int = 0
    signal: int = 0
    wall_s: float = 0.0
    peak_rss_bytes: int = 0
    error: str = ""
    manifest: tuple[FileEntry, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class QueuedEvent:
    position: int


@dataclass(frozen=True)
class StartedEvent:
    argv: tuple[str, ...]
    env: dict
    pid: int


@dataclass(frozen=True)
class LogEvent:
    stream: str  # "stdout" | "stderr"
    text: str


@dataclass(frozen=True)
class FileEvent:
    entry: FileEntry


@dataclass(frozen=True)
class FinishedEvent:
    record: FinishedRecord


Event = Union[QueuedEvent, StartedEvent, LogEvent, FileEvent, FinishedEvent]
