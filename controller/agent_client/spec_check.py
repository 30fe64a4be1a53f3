"""A run spec's numbers checked before it leaves for the agent: the bounds the agent enforces too.

The agent (agent/spec.py) refuses the same values; checking here gives the user the
field's name at once instead of a round trip and an agent-side error.
"""

from __future__ import annotations

import math

from controller.agent_client.errors import AgentRequestError
from controller.agent_client.types import RunSpec

#: The same bounds the agent enforces (agent/spec.py).
MAX_ITER = 100_000
MAX_MULTITHREAD = 1024
MAX_TIMEOUT_S = 366 * 24 * 3600.0


def _range_text(name: str, low: int, high: int) -> str:
    return f"{name} must be 0, 1 or 2" if (low, high) == (0, 2) else f"{name} must be at least {low} and at most {high}"


def check_spec(spec: RunSpec) -> None:
    """Refuse a spec the agent would refuse, before it leaves; the message names the field."""
    t = spec.timeout_s
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or not 0 <= t <= MAX_TIMEOUT_S:
        raise AgentRequestError(
            f"run spec: timeout_s must be a finite number between 0 and {MAX_TIMEOUT_S:g}, got {t!r}"
        )
    for name, value, low, high in (
        ("iter", spec.iter, 1, MAX_ITER),
        ("warmup_iter", spec.warmup_iter, 0, MAX_ITER),
        ("multithread", spec.multithread, 1, MAX_MULTITHREAD),
        ("megdnn_dbg", spec.megdnn_dbg, 0, 2),
    ):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise AgentRequestError(f"run spec: {_range_text(name, low, high)} (a whole number), got {value!r}")
    for item in spec.inputs:
        dims = item.shape
        if dims is not None and not all(
            isinstance(d, int) and not isinstance(d, bool) and 0 < d <= 1 << 31 for d in dims
        ):
            raise AgentRequestError(f"run spec: input {item.name!r}: each shape dim must be between 1 and {1 << 31}")
