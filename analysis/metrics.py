"""Per-tensor error metrics, computed chunk by chunk so memory stays small.

The metric of record is MegEngine's (``compare_binary_iodump.check``): both
tensors cast to float32, per element ``|a-b| / max(|a|, |b|, 1)`` in float32,
the max over the tensor; an element mismatches when its error is strictly
greater than the tolerance. Beside it we keep max abs, max rel, mean abs,
cosine similarity, SQNR, the count over tolerance and NaN/Inf counts.

Chunks are fed in C order, so the first index over tolerance is the same one
MegEngine reports. A chunk whose bytes are identical on both sides skips the
float math: its error is zero by definition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import numpy as np

_F32 = np.float32
_TINY = np.float32(np.finfo(np.float32).tiny)
_ONE = np.float32(1.0)
# A float32 sum of n values of magnitude <= m cannot overflow while n * m stays
# well below FLT_MAX (3.4e38); past this we ask numpy for the exact float32 sum.
_SUM_OVERFLOW_GUARD = 1e37
# |a-b| <= 1e19 and |a| < 1.9e19 (a's float32 squares sum finitely) give |b| < 3e19:
# no float32 sum of fewer than 1e18 such values can overflow.
_DIFF_BOUND = 1e19


@dataclass(frozen=True)
class TensorMetrics:
    """Every metric of one tensor pair (A = reference side, B = the other side).

    ``max_err`` is MegEngine's metric; it is ``inf`` where one side has a NaN
    or Inf the other side does not have at the same place (a NaN on both sides,
    or the same Inf, counts as agreement). An element is over tolerance when
    its error is greater than the tolerance cast to float32, as in MegEngine. ``first_index`` is the flat C-order
    index of the first element over ``tolerance`` and ``first_values`` its
    (a, b, err) as float32 values widened to Python floats. ``max_abs`` and the
    other extra metrics are None when only MegEngine's check was asked for
    (``full=False``); so are ``max_err`` and ``count_over_tol``, which that
    check stops computing at the first mismatch.
    """

    n_elems: int
    tolerance: float
    bitwise_equal: bool
    max_err: Optional[float]
    count_over_tol: Optional[int]
    first_index: Optional[int]
    first_values: Optional[Tuple[float, float, float]]
    nan_a: int
    nan_b: int
    inf_a: int
    inf_b: int
    # True when a float32 sum of either side might not be finite (NaN/Inf or
    # overflow); MegEngine reports such pairs as "not finite" before anything else.
    maybe_not_finite: bool
    max_abs: Optional[float] = None
    max_rel: Optional[float] = None
    mean_abs: Optional[float] = None
    cosine: Optional[float] = None
    sqnr_db: Optional[float] = None
    # Per-element errors counted per power of two: (exponent e, count) pairs, for
    # the report's histogram; see ErrorAccumulator.error_histogram.
    error_histogram: Optional[Tuple[Tuple[int, int], ...]] = None

    @property
    def over_tolerance(self) -> bool:
        """True when some element's error is strictly greater than the tolerance."""
        return self.first_index is not None

    @property
    def finite(self) -> bool:
        """True when neither side holds a NaN or an Inf."""
        return not (self.nan_a or self.nan_b or self.inf_a or self.inf_b)


def megengine_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """MegEngine's per-element error ``|a-b| / max(|a|, |b|, 1)``, in float32.

    Bit for bit what ``compare_binary_iodump.check`` computes (the max with 1
    is exact, so np.maximum gives the same float32 divisor as its np.max).
    """
    a = np.asarray(a, dtype=_F32)
    b = np.asarray(b, dtype=_F32)
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.abs(a - b)
        den = np.maximum(np.maximum(np.abs(a), np.abs(b)), _ONE)
        return d / den


def _dot(x: np.ndarray, y: np.ndarray) -> float:
    """x . y as a Python float; retried in float64 when float32 overflows."""
    r = float(np.dot(x, y))  # BLAS: no numpy floating-point warnings to silence
    if not math.isfinite(r):
        r = float(np.dot(x.astype(np.float64), y.astype(np.float64)))
    return r


class ErrorAccumulator:
    """Accumulates TensorMetrics over consecutive C-order chunks of a tensor pair.

    ``full=False`` computes only what MegEngine's check needs (the first index
    over tolerance and finiteness), which is what the drop-in CLI uses.
    """

    def __init__(self, tolerance: float, *, full: bool = True) -> None:
        self.tolerance = float(tolerance)
        self.full = full
        # MegEngine compares the float32 error with the tolerance cast to float32.
        self._tol32 = _F32(self.tolerance)
        self._tol_f = float(self._tol32)
        self._n = 0
        self._equal = True
        self._max_err = 0.0
        self._count = 0
        self._first: Optional[int] = None
        self._first_values: Optional[Tuple[float, float, float]] = None
        self._nan_a = self._nan_b = self._inf_a = self._inf_b = 0
        self._amax_a = 0.0
        self._amax_b = 0.0
        self._max_abs = 0.0
        self._max_rel = 0.0
        self._sum_abs = 0.0
        self._n_finite = 0
        self._saa = self._sbb = self._sab = self._sdd = 0.0
        self._work: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]] = None
        # Counts of per-element errors by float32 biased exponent (index 0: zero
        # or subnormal, 255: inf/nan); one shift and one bincount per chunk.
        self._hist = np.zeros(256, dtype=np.int64)

    def add(self, a: np.ndarray, b: np.ndarray, *, equal_bytes: bool = False) -> None:
        """Feed the next chunk: 1-D float32 arrays of the same length.

        ``equal_bytes`` says the chunk's stored bytes are identical on both
        sides, so its error is zero without any subtraction.
        """
        with np.errstate(all="ignore"):
            self.add_quiet(a, b, equal_bytes=equal_bytes)

    def add_quiet(self, a: np.ndarray, b: np.ndarray, *, equal_bytes: bool = False) -> None:
        """``add()`` for a caller already inside ``np.errstate(all="ignore")``.

        NaN, Inf and overflow are handled here, so numpy's warnings about them
        are noise; entering errstate costs several microseconds, which a
        streaming caller pays once per tensor instead of once per chunk.
        """
        n = a.size
        if n != b.size:
            raise ValueError(f"chunk sizes differ: {n} vs {b.size}")
        if n == 0:
            return
        offset = self._n
        self._n += n
        if equal_bytes:
            saa = float(np.dot(a, a))  # in float32: finite only if no float32 sum can overflow
            if math.isfinite(saa):
                # Finite sum of squares: every value is finite and small enough
                # that no float32 sum of the tensor can overflow.
                self._n_finite += n
                self._saa += saa
                self._sbb += saa
                self._sab += saa
                self._hist[0] += n
                return
        else:
            self._equal = False
        if not self.full and self._check_only(a, b, offset):
            return
        sd, s1, s2 = self._scratch(n)
        d = np.subtract(a, b, out=sd)
        np.abs(d, out=d)
        aa = np.abs(a, out=s1)
        ab = np.abs(b, out=s2)
        amax_a = float(aa.max())
        amax_b = float(ab.max())
        finite = math.isfinite(amax_a) and math.isfinite(amax_b)
        if finite:
            self._amax_a = max(self._amax_a, amax_a)
            self._amax_b = max(self._amax_b, amax_b)
            fa = fb = None
        else:
            fa, fb = self._count_nonfinite(a, b)
        den = np.maximum(aa, ab, out=aa)
        err = np.maximum(den, _ONE, out=ab)
        np.divide(d, err, out=err)
        if fa is not None and fb is not None:  # counted above: the chunk holds NaN or Inf
            self._patch_nonfinite(a, b, fa, fb, d, err)
        emax = float(err.max())
        self._max_err = max(self._max_err, emax)
        if emax > self._tol_f:
            over = err > self._tol32
            self._count += int(np.count_nonzero(over))
            if self._first is None:
                i = int(np.argmax(over))
                self._first = offset + i
                self._first_values = (float(a[i]), float(b[i]), float(err[i]))
        if self.full:
            self._accumulate_full(a, b, d, den, fa, fb)
            self._count_exponents(err, emax, s1)
        else:
            self._n_finite += n

    def _count_exponents(self, err: np.ndarray, emax: float, work: np.ndarray) -> None:
        """Add the chunk's errors to the per-power-of-two histogram (``work`` is free scratch).

        err >= 0, so its float32 bits shifted right by 23 are the biased
        exponent: the bin of [2**e, 2**(e+1)) without a log per element.
        """
        if emax == 0.0:
            self._hist[0] += err.size
            return
        exps = np.right_shift(err.view(np.uint32), 23, out=work.view(np.uint32))
        self._hist += np.bincount(exps.view(np.int32), minlength=256)[:256]

    def error_histogram(self) -> Tuple[Tuple[int, int], ...]:
        """Non-empty bins as (e, count): count of errors in [2**e, 2**(e+1)).

        e = -127 holds the exact elements (error 0, or a subnormal below
        2**-126, about 1e-38); e = 128 holds the non-finite ones.
        """
        return tuple((int(i) - 127, int(c)) for i, c in enumerate(self._hist) if c)

    def _check_only(self, a: np.ndarray, b: np.ndarray, offset: int) -> bool:
        """MegEngine's check on a finite chunk, doing as little as it can; False if not finite.

        A finite float32 sum of squares proves every value finite and too small
        for any float32 sum to overflow. Past the first mismatch only that is
        left to check, on both sides. Before it, max |a-b| is needed anyway:
        when it is at most ``_DIFF_BOUND`` and A's squares sum finitely, B =
        A - (A-B) is bounded too, so B's sum of squares is not taken (one pass
        fewer). The divisor max(|a|,|b|,1) is >= 1, so an element can only be
        over the tolerance where |a-b| is: a chunk whose max |a-b| is within
        it is done, and otherwise only the elements where |a-b| > tol (a
        superset of those over it) take MegEngine's exact float32 formula.
        """
        if self._first is not None:
            return math.isfinite(float(np.dot(a, a))) and math.isfinite(float(np.dot(b, b)))
        d = np.subtract(a, b, out=self._scratch(a.size)[0])
        np.abs(d, out=d)
        dmax = float(d.max())  # NaN or inf when a side is not finite (or a-b overflows)
        if not (dmax <= _DIFF_BOUND and math.isfinite(float(np.dot(a, a)))):
            return False
        if dmax <= self._tol_f:
            return True
        # Candidates: |a-b| > tol is implied by err > tol (the divisor is >= 1);
        # the exact float32 error of each gathered element is MegEngine's, element for element.
        cand = np.flatnonzero(d > self._tol32)
        err = megengine_error(a[cand], b[cand])
        over = np.flatnonzero(err > self._tol32)
        if over.size:
            j = int(over[0])
            i = int(cand[j])
            self._first = offset + i
            self._first_values = (float(a[i]), float(b[i]), float(err[j]))
        return True

    def _scratch(self, n: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Three float32 work arrays of n elements, reused from chunk to chunk.

        Reusing them saves an allocation (and its page faults) per temporary.
        """
        if self._work is None or self._work[0].size != n:
            # chunks repeat one size (only a tensor's last one is shorter): keep the views too
            self._work = (np.empty(n, dtype=_F32), np.empty(n, dtype=_F32), np.empty(n, dtype=_F32))
        return self._work

    def _count_nonfinite(self, a: np.ndarray, b: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        nan_a = np.isnan(a)
        nan_b = np.isnan(b)
        self._nan_a += int(np.count_nonzero(nan_a))
        self._nan_b += int(np.count_nonzero(nan_b))
        self._inf_a += int(np.count_nonzero(np.isinf(a)))
        self._inf_b += int(np.count_nonzero(np.isinf(b)))
        fa = np.isfinite(a)
        fb = np.isfinite(b)
        fin = fa & fb
        if fin.any():
            self._amax_a = max(self._amax_a, float(np.abs(a[fin]).max()))
            self._amax_b = max(self._amax_b, float(np.abs(b[fin]).max()))
        return fa, fb

    @staticmethod
    def _patch_nonfinite(
        a: np.ndarray, b: np.ndarray, fa: np.ndarray, fb: np.ndarray, d: np.ndarray, err: np.ndarray
    ) -> None:
        """Where a side is NaN/Inf: error 0 if both agree (NaN and NaN, same Inf), else inf."""
        nonfin = ~(fa & fb)
        agree = (np.isnan(a) & np.isnan(b)) | (a == b)
        value = np.where(agree, _F32(0), _F32(np.inf))
        err[nonfin] = value[nonfin]
        d[nonfin] = value[nonfin]

    def _accumulate_full(
        self,
        a: np.ndarray,
        b: np.ndarray,
        d: np.ndarray,
        den: np.ndarray,
        fa: Optional[np.ndarray],
        fb: Optional[np.ndarray],
    ) -> None:
        self._max_abs = max(self._max_abs, float(d.max()))
        rel = np.maximum(den, _TINY, out=den)
        np.divide(d, rel, out=rel)
        if fa is not None:
            fin = fa & fb
            rel[~fin] = d[~fin]
            a = np.where(fin, a, _F32(0))
            b = np.where(fin, b, _F32(0))
            dfin = np.where(fin, d, _F32(0))
            self._n_finite += int(np.count_nonzero(fin))
        else:
            dfin = d
            self._n_finite += a.size
        self._max_rel = max(self._max_rel, float(rel.max()))
        self._sum_abs += float(dfin.sum(dtype=np.float64)) if fa is not None else float(dfin.sum())
        self._saa += _dot(a, a)
        self._sbb += _dot(b, b)
        self._sab += _dot(a, b)
        self._sdd += _dot(dfin, dfin)

    def result(self) -> TensorMetrics:
        """The metrics of everything fed so far."""
        n = self._n
        nonfinite = bool(self._nan_a or self._nan_b or self._inf_a or self._inf_b)
        overflow = max(self._amax_a, self._amax_b) * max(n, 1) >= _SUM_OVERFLOW_GUARD
        extra: Dict[str, Any] = {}
        if self.full:
            extra = dict(
                max_abs=self._max_abs,
                max_rel=self._max_rel,
                mean_abs=(self._sum_abs / self._n_finite) if self._n_finite else 0.0,
                cosine=_cosine(self._saa, self._sbb, self._sab),
                sqnr_db=_sqnr_db(self._saa, self._sdd),
                error_histogram=self.error_histogram(),
            )
        return TensorMetrics(
            n_elems=n,
            tolerance=self.tolerance,
            bitwise_equal=self._equal,
            max_err=self._max_err if self.full else None,
            count_over_tol=self._count if self.full else None,
            first_index=self._first,
            first_values=self._first_values,
            nan_a=self._nan_a,
            nan_b=self._nan_b,
            inf_a=self._inf_a,
            inf_b=self._inf_b,
            maybe_not_finite=nonfinite or overflow,
            **extra,
        )


def _cosine(saa: float, sbb: float, sab: float) -> float:
    """Cosine similarity of A and B: 1 for two zero tensors, 0 if only one is zero."""
    if saa == 0.0 and sbb == 0.0:
        return 1.0
    if saa == 0.0 or sbb == 0.0:
        return 0.0
    # Dot products are accumulated per chunk in float32, so the cosine is good
    # to about 1e-7: enough to tell a wrong tensor from a noisy one.
    return max(-1.0, min(1.0, sab / math.sqrt(saa * sbb)))


def _sqnr_db(signal: float, noise: float) -> float:
    """SQNR of B against reference A in dB: inf when B equals A, -inf for a zero A."""
    if noise == 0.0:
        return math.inf
    ratio = signal / noise
    if ratio == 0.0:  # a zero A, or a noise that overflowed (|a-b| past float32's range)
        return -math.inf
    return 10.0 * math.log10(ratio)


def tensor_metrics(a: np.ndarray, b: np.ndarray, tolerance: float, *, full: bool = True) -> TensorMetrics:
    """TensorMetrics of two whole arrays of the same number of elements (cast to float32)."""
    a32 = np.ascontiguousarray(a, dtype=_F32).reshape(-1)
    b32 = np.ascontiguousarray(b, dtype=_F32).reshape(-1)
    acc = ErrorAccumulator(tolerance, full=full)
    equal = a32.size == b32.size and _same_bytes(a, b)
    acc.add(a32, b32, equal_bytes=equal)
    return acc.result()


def _same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    a = np.ascontiguousarray(a)
    b = np.ascontiguousarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
