"""Run a call that must not block: the test fails instead of hanging when it still runs after a bound."""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict


def finishes_within(fn: Callable[[], Any], seconds: float) -> Dict[str, Any]:
    """Run fn in a daemon thread; {"value": ...} or {"error": exc}; AssertionError if still running after seconds."""
    out: Dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as err:  # noqa: BLE001 - handed to the test
            out["error"] = err

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still blocked after {seconds} s"
    return out
