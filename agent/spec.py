"""A run request as the agent's domain sees it (translated from protobuf by the service layer)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from agent.errors import RequestError
from agent.graph_options import GraphOptions


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
    options: GraphOptions = field(default_factory=GraphOptions)


#: Bounds of the numbers and lists a request may carry. The wire types (uint32, double) allow
#: far more; these keep every value one the runner and the run manager can act on.
MAX_ITER = 100_000
MAX_MULTITHREAD = 1024
MAX_TIMEOUT_S = 366 * 24 * 3600.0  # a year: longer is a mistake, and keeps deadlines finite
MAX_DIM = 1 << 31
MAX_INPUTS = 64
MAX_EXTRA_FLAGS = 256
MAX_ENV = 256


def _range_text(name: str, low: int, high: int) -> str:
    return f"{name} must be 0, 1 or 2" if (low, high) == (0, 2) else f"{name} must be at least {low} and at most {high}"


def check_numbers(req: RunRequest) -> None:
    """Refuse a request whose numbers or list sizes are out of range; the message names the field.

    Why here and not only in the runner: NaN compares false with everything, so a
    `timeout_s = NaN` slipped past `< 0` and `min(timeout, cap)` and the run had no deadline.
    """
    if not isinstance(req.timeout_s, (int, float)) or not math.isfinite(req.timeout_s):
        raise RequestError(f"timeout_s must be a finite number of seconds, got {req.timeout_s!r}")
    if not 0 <= req.timeout_s <= MAX_TIMEOUT_S:
        raise RequestError(
            f"timeout_s must be between 0 (the agent's default) and {MAX_TIMEOUT_S:g}, got {req.timeout_s:g}"
        )
    for name, value, low, high in (
        ("iter", req.iter, 1, MAX_ITER),
        ("warmup_iter", req.warmup_iter, 0, MAX_ITER),
        ("multithread", req.multithread, 1, MAX_MULTITHREAD),
        ("megdnn_dbg", req.megdnn_dbg, 0, 2),
    ):
        if value is not None and not low <= value <= high:
            raise RequestError(f"{_range_text(name, low, high)}, got {value}")
    for name, items, high in (
        ("inputs", req.inputs, MAX_INPUTS),
        ("extra_flags", req.extra_flags, MAX_EXTRA_FLAGS),
        ("env", req.env, MAX_ENV),
    ):
        if len(items) > high:
            raise RequestError(f"{name}: at most {high} items, got {len(items)}")
    for item in req.inputs:
        if item.shape is not None and not (0 < len(item.shape) <= 7 and all(0 < d <= MAX_DIM for d in item.shape)):
            raise RequestError(f"input {item.name!r}: shape needs 1 to 7 dims, each between 1 and {MAX_DIM}")
