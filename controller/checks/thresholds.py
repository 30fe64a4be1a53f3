"""Suggested threshold of a comparison, from analysis's threshold statistics.

A thin seam: the statistic itself lives in analysis; this only adapts its
result to the single cut a report shows.
"""

from __future__ import annotations

from typing import Optional, Sequence

import analysis


def suggest_threshold(errors: Sequence[float], tolerance: float) -> Optional[float]:
    """A cut above the tolerance that keeps the critical vars, or None when nothing differs."""
    if not any(e > tolerance for e in errors):
        return None
    try:
        from analysis import thresholds as th
    except ImportError:  # analysis's thresholds module not present in this checkout
        return None
    return th.suggest(list(errors), tolerance)  # type: ignore[attr-defined]


__all__ = ["suggest_threshold", "analysis"]
