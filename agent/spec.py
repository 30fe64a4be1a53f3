"""A run request as the agent's domain sees it (translated from protobuf by the service layer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass(frozen=True)
class InputItem:
    """One load_and_run `--input` item; exactly one of blob_sha256, literal, shape is set."""

    name: str
    blob_sha256: Optional[str] = None
    format: str = ""
    literal: Optional[str] = None
    shape: Optional[tuple[int, ...]] = None


@dataclass(frozen=True)
class RunRequest:
    runner: str
    model_sha256: str
    inputs: tuple[InputItem, ...] = ()
    bin_io_dump: bool = False
    io_dump: bool = False
    iter: Optional[int] = None
    warmup_iter: Optional[int] = None
    reproducible: bool = False
    fast_run: bool = False
    fast_run_algo_policy_sha256: str = ""
    write_fast_run_algo_policy: bool = False
    cpu: bool = False
    cpu_default: bool = False
    multithread: Optional[int] = None
    cuda: bool = False
    lite: bool = False
    verbose: bool = False
    model_info: bool = False
    extra_flags: tuple[str, ...] = ()
    megdnn_dbg: Optional[int] = None
    env: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    timeout_s: float = 0.0
    label: str = ""
