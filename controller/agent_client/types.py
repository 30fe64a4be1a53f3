"""What the controller sees of the agent: plain dataclasses, never protobuf messages.

A file a run wrote is an `analysis.dump_names.DumpRecord` from the agent's manifest on:
the store and the checks keep that same record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Union

from analysis.dump_names import DumpRecord
from controller.graph_options import GraphOptions


@dataclass(frozen=True)
class TlsConfig:
    """TLS for the channel: `ca` verifies the agent; `cert`+`key` for mutual TLS."""

    ca: Optional[Path] = None
    cert: Optional[Path] = None
    key: Optional[Path] = None
    server_name: Optional[str] = None  # overrides the name checked against the agent's cert


@dataclass(frozen=True)
class RunnerInfo:
    name: str
    path: str
    version: str
    available: bool


@dataclass(frozen=True)
class PhoneFacts:
    """An Android phone that the agent drives over adb (see agent.proto's PhoneFacts)."""

    serial: str
    model: str
    abi: str
    android_version: str
    sdk: str
    soc: str
    platform: str
    workdir_free_bytes: int


@dataclass(frozen=True)
class Facts:
    """What a device is, as its agent reports it."""

    agent_version: str
    protocol: str
    hostname: str
    arch: str
    os: str
    os_release: str
    cpu_model: str
    cpu_cores: int
    mem_total_bytes: int
    mem_available_bytes: int
    disk_free_bytes: int
    quota_bytes: int
    used_bytes: int
    python_version: str
    runners: tuple[RunnerInfo, ...]
    phone: Optional[PhoneFacts] = None  # set for an agent serving a phone over adb


@dataclass(frozen=True)
class InputSpec:
    """One load_and_run `--input` item: exactly one of blob (with format), literal, shape."""

    name: str = "data"
    blob_sha256: Optional[str] = None
    format: Optional[str] = None  # npy | ppm | pgm | json, for blob inputs
    literal: Optional[str] = None  # e.g. "[[1,2],[3,4]]"
    shape: Optional[tuple[int, ...]] = None


@dataclass(frozen=True)
class RunSpec:
    """What to run on the agent; mirrors load_and_run's options (see the agent README)."""

    model_sha256: str
    runner: str = "load_and_run"
    inputs: tuple[InputSpec, ...] = ()
    bin_io_dump: bool = True
    io_dump: bool = False
    iter: Optional[int] = None
    warmup_iter: Optional[int] = None
    reproducible: bool = False
    fast_run: bool = False
    fast_run_algo_policy_sha256: Optional[str] = None
    write_fast_run_algo_policy: bool = False
    cpu: bool = False
    cpu_default: bool = False
    multithread: Optional[int] = None
    cuda: bool = False
    lite: bool = False
    verbose: bool = False
    model_info: bool = False
    extra_flags: tuple[str, ...] = ()
    megdnn_dbg: Optional[int] = None  # MGB_USE_MEGDNN_DBG: 0 default, 1 fallback, 2 naive
    env: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = 0.0
    label: str = ""
    options: GraphOptions = field(default_factory=GraphOptions)  # the device's graph options


@dataclass(frozen=True)
class Queued:
    run_id: str
    position: int  # runs ahead of this one


@dataclass(frozen=True)
class Started:
    run_id: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    pid: int


@dataclass(frozen=True)
class LogLine:
    run_id: str
    stream: str  # "stdout" | "stderr"
    text: str


@dataclass(frozen=True)
class FileComplete:
    run_id: str
    entry: DumpRecord


#: Final states of a run, as the agent names them.


@dataclass(frozen=True)
class Finished:
    run_id: str
    state: str  # one of RUN_STATES' values
    exit_code: int
    signal: int
    wall_s: float
    peak_rss_bytes: int
    error: str
    manifest: tuple[DumpRecord, ...]  # one description of a file, from here to the report

    @property
    def ok(self) -> bool:
        return self.state == "succeeded"


RunEvent = Union[Queued, Started, LogLine, FileComplete, Finished]


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    state: str
    label: str
    queue_position: int
    finished: Optional[Finished]
