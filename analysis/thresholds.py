"""Error statistics over vars and a suggested tolerance (step 5 of MegEngine's guide).

Across backends every var differs a little (accumulated rounding), and the
interesting oprs are where the error jumps. The rule: sort the per-var errors
of the differing vars (MegEngine's metric, over the run's tolerance) on a log
scale and take the largest gap between neighbours; if it spans at least
``min_gap_decades`` (one decade by default), the suggested tolerance is the
geometric middle of that gap. Roots are then found again at that cut. With no
such gap the errors look alike and nothing is suggested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

from analysis.results import RunDiff, exceeds, json_float

#: The smallest gap, in decades of error, that counts as a jump.
MIN_GAP_DECADES = 1.0
QUANTILES = (0.5, 0.9, 0.99)


@dataclass(frozen=True)
class Suggestion:
    """A suggested tolerance and the gap in the error distribution it sits in."""

    tolerance: float
    below: float  # largest error under the cut
    above: float  # smallest error over the cut
    gap_decades: float


@dataclass(frozen=True)
class ErrorStats:
    """Distribution of per-var errors (MegEngine's metric) of one comparison.

    ``histogram`` has one bin per decade: (low, high, count) with low <= err < high;
    ``exact`` counts vars with zero error; ``not_finite`` those with an infinite
    error (NaN/Inf disagreement or shape mismatch), which no cut can hide.
    """

    count: int
    exact: int
    not_finite: int
    histogram: Tuple[Tuple[float, float, int], ...]
    quantiles: Tuple[Tuple[float, float], ...]
    max: Optional[float]
    suggestion: Optional[Suggestion]
    reason: str

    def to_dict(self) -> Dict[str, Any]:
        s = self.suggestion
        return {
            "count": self.count,
            "exact": self.exact,
            "not_finite": self.not_finite,
            "histogram": [{"low": lo, "high": hi, "count": n} for lo, hi, n in self.histogram],
            "quantiles": {f"p{round(q * 100):d}": json_float(v) for q, v in self.quantiles},
            "max": json_float(self.max),
            "suggested_tolerance": None if s is None else s.tolerance,
            "gap": None if s is None else {"below": s.below, "above": s.above, "decades": s.gap_decades},
            "reason": self.reason,
        }


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile of already sorted values (numpy's default rule)."""
    if not sorted_values:
        raise ValueError("no values")
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def log_histogram(values: Sequence[float]) -> Tuple[Tuple[float, float, int], ...]:
    """Counts per decade of positive finite values, from the lowest decade to the highest."""
    vals = [v for v in values if v > 0 and math.isfinite(v)]
    if not vals:
        return ()
    decades = [math.floor(math.log10(v)) for v in vals]
    lo, hi = min(decades), max(decades)
    counts = {d: 0 for d in range(lo, hi + 1)}
    for d in decades:
        counts[d] += 1
    return tuple((10.0**d, 10.0 ** (d + 1), counts[d]) for d in range(lo, hi + 1))


def suggest_tolerance(
    errors: Sequence[float], floor: float = 0.0, min_gap_decades: float = MIN_GAP_DECADES
) -> Optional[Suggestion]:
    """The geometric middle of the largest log-gap among errors > ``floor``, if wide enough."""
    vals = sorted(v for v in errors if exceeds(v, floor) and v > 0 and math.isfinite(v))
    if len(vals) < 2:
        return None
    logs = [math.log10(v) for v in vals]
    best = max(range(len(vals) - 1), key=lambda i: (logs[i + 1] - logs[i], -i))
    gap = logs[best + 1] - logs[best]
    if gap < min_gap_decades:
        return None
    cut = 10.0 ** ((logs[best] + logs[best + 1]) / 2)
    return Suggestion(tolerance=float(f"{cut:.3g}"), below=vals[best], above=vals[best + 1], gap_decades=gap)


def error_stats(errors: Sequence[float], floor: float = 0.0, min_gap_decades: float = MIN_GAP_DECADES) -> ErrorStats:
    """ErrorStats of per-var errors; the suggestion considers only errors over ``floor``."""
    errs = [float(e) for e in errors]
    finite = sorted(e for e in errs if math.isfinite(e) and e > 0)
    suggestion = suggest_tolerance(errs, floor, min_gap_decades)
    over = [e for e in errs if exceeds(e, floor)]
    if suggestion is not None:
        reason = (
            f"largest gap among the {len(over)} errors over {floor:g}: {suggestion.below:.3g} .. "
            f"{suggestion.above:.3g} ({suggestion.gap_decades:.1f} decades)"
        )
    elif len([e for e in over if math.isfinite(e)]) < 2:
        reason = f"fewer than two finite errors over {floor:g}: nothing to separate"
    else:
        reason = f"no gap of {min_gap_decades:g} decade(s) or more among the errors over {floor:g}: they look alike"
    return ErrorStats(
        count=len(errs),
        exact=sum(1 for e in errs if e == 0),
        not_finite=sum(1 for e in errs if not math.isfinite(e)),
        histogram=log_histogram(finite),
        quantiles=tuple((q, quantile(finite, q)) for q in QUANTILES) if finite else (),
        max=max(errs) if errs else None,
        suggestion=suggestion,
        reason=reason,
    )


@dataclass(frozen=True)
class ThresholdReport:
    """Error statistics of a RunDiff, the cut used and the roots at that cut."""

    stats: ErrorStats
    cut: Optional[float]
    cut_source: str  # "auto", "given" or "none"
    roots: Tuple[int, ...]
    differing: int

    def to_dict(self) -> Dict[str, Any]:
        return {
            **self.stats.to_dict(),
            "cut": self.cut,
            "cut_source": self.cut_source,
            "roots_at_cut": list(self.roots),
            "differing_at_cut": self.differing,
        }


def analyse(run: RunDiff, cut: Optional[float] = None, *, min_gap_decades: float = MIN_GAP_DECADES) -> ThresholdReport:
    """Statistics of ``run``'s per-var errors, then roots at ``cut`` (or the suggested one)."""
    errors = [v.max_err for v in run.outputs() if v.max_err is not None]
    stats = error_stats(errors, run.tolerance, min_gap_decades)
    source = "given"
    if cut is None:
        if stats.suggestion is None:
            return ThresholdReport(stats, None, "none", (), 0)
        cut, source = stats.suggestion.tolerance, "auto"
    roots = tuple(v.var_id for v in run.roots(cut))
    return ThresholdReport(stats, cut, source, roots, len(run.differing(cut)))
