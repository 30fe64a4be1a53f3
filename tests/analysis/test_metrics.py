"""Metrics: MegEngine's error bit for bit, chunking-invariant, NaN/Inf and tolerance edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.metrics import ErrorAccumulator, megengine_error, tensor_metrics


def _megengine_err(v0, v1):
    """MegEngine's formula as its tool writes it (np.max over a stacked list)."""
    v0 = np.ascontiguousarray(v0, dtype=np.float32)
    v1 = np.ascontiguousarray(v1, dtype=np.float32)
    vdiv = np.max([np.abs(v0), np.abs(v1), np.ones_like(v0)], axis=0)
    return np.abs(v0 - v1) / vdiv


def test_error_is_bitwise_megengines() -> None:
    rng = np.random.default_rng(0)
    a = (rng.standard_normal(10000) * 10).astype(np.float32)
    b = a + (rng.standard_normal(10000) * 1e-5).astype(np.float32)
    ours = megengine_error(a, b)
    assert ours.dtype == np.float32
    assert ours.tobytes() == _megengine_err(a, b).tobytes()


def test_identical_tensors() -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    m = tensor_metrics(a, a.copy(), 1e-7)
    assert m.bitwise_equal and m.max_err == 0 and m.count_over_tol == 0 and m.first_index is None
    assert m.cosine == 1.0 and m.sqnr_db == math.inf and m.max_abs == 0 and m.mean_abs == 0
    assert m.finite and not m.maybe_not_finite and m.n_elems == 12


def test_known_values() -> None:
    a = np.array([0.0, 1.0, 2.0, -4.0, 0.5], np.float32)
    b = np.array([0.0, 1.0, 2.5, -4.0, 0.25], np.float32)
    m = tensor_metrics(a, b, 0.1)
    # errors: 0, 0, 0.5/2.5, 0, 0.25/max(0.5, 1)
    assert m.max_err == 0.25 and m.count_over_tol == 2 and m.first_index == 2
    assert m.first_values == (2.0, 2.5, float(np.float32(0.5) / np.float32(2.5)))
    assert m.max_abs == 0.5 and m.mean_abs == pytest.approx(0.75 / 5)
    assert m.max_rel == pytest.approx(0.5)  # |0.5-0.25| / 0.5, no floor of 1
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    assert m.cosine == pytest.approx(a64 @ b64 / np.linalg.norm(a64) / np.linalg.norm(b64), rel=1e-6)
    assert m.sqnr_db == pytest.approx(10 * math.log10((a64 @ a64) / ((a64 - b64) @ (a64 - b64))), rel=1e-6)


def test_tolerance_compares_in_float32_like_megengine() -> None:
    """err == float32(1e-7) is not over a tolerance of 1e-7 (numpy casts it to float32)."""
    a = np.zeros(4, np.float32)
    b = a.copy()
    b[2] = np.float32(1e-7)
    assert float(megengine_error(a, b)[2]) > 1e-7  # as doubles it would be over
    for full in (True, False):
        m = tensor_metrics(a, b, 1e-7, full=full)
        assert m.first_index is None and not m.over_tolerance
        m = tensor_metrics(a, b, 9.9e-8, full=full)
        assert m.first_index == 2


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 3000),
    chunk=st.integers(1, 700),
    seed=st.integers(0, 1000),
    tol=st.sampled_from([0.0, 1e-6, 1e-3]),
    nan_at=st.one_of(st.none(), st.floats(0, 1, exclude_max=True)),
)
def test_chunking_does_not_change_the_result(n, chunk, seed, tol, nan_at) -> None:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(n).astype(np.float32)
    b = (a + rng.standard_normal(n) * rng.choice([0, 1e-7, 1e-3], n)).astype(np.float32)
    if nan_at is not None:
        b[int(nan_at * n)] = np.nan
    whole = tensor_metrics(a, b, tol)
    for full in (True, False):
        acc = ErrorAccumulator(tol, full=full)
        for start in range(0, n, chunk):
            sa, sb = a[start : start + chunk], b[start : start + chunk]
            acc.add(sa, sb, equal_bytes=sa.tobytes() == sb.tobytes())
        part = acc.result()
        assert part.first_index == whole.first_index and repr(part.first_values) == repr(whole.first_values)
        assert (part.nan_a, part.nan_b, part.bitwise_equal) == (whole.nan_a, whole.nan_b, whole.bitwise_equal)
        if full:
            assert part.max_err == whole.max_err and part.count_over_tol == whole.count_over_tol
            assert part.max_abs == whole.max_abs and part.max_rel == whole.max_rel
            assert part.mean_abs == pytest.approx(whole.mean_abs, rel=1e-5, abs=1e-12)
            assert part.cosine == pytest.approx(whole.cosine, rel=1e-5)
    err = megengine_error(a, b)
    over = np.flatnonzero(err > np.float32(tol))
    if nan_at is None:
        assert whole.max_err == float(err.max())
        assert whole.count_over_tol == over.size
        assert whole.first_index == (int(over[0]) if over.size else None)


def test_nan_and_inf_agreement() -> None:
    a = np.array([np.nan, np.inf, -np.inf, 1.0, 2.0], np.float32)
    same = tensor_metrics(a, a.copy(), 0.0)
    assert same.bitwise_equal and same.max_err == 0 and same.first_index is None
    assert (same.nan_a, same.nan_b, same.inf_a, same.inf_b) == (1, 1, 2, 2)
    assert same.maybe_not_finite and not same.finite
    b = np.array([np.nan, np.inf, np.inf, 1.0, 2.0], np.float32)  # -inf became +inf
    m = tensor_metrics(a, b, 0.0)
    assert not m.bitwise_equal and m.max_err == math.inf and m.first_index == 2 and m.count_over_tol == 1
    c = np.array([0.0, np.inf, -np.inf, 1.0, 2.0], np.float32)  # a NaN on one side only
    m = tensor_metrics(a, c, 0.0)
    assert m.first_index == 0 and m.max_err == math.inf and (m.nan_a, m.nan_b) == (1, 0)


def test_negative_zero_is_not_bitwise_equal_but_has_no_error() -> None:
    a = np.zeros(3, np.float32)
    b = -a
    m = tensor_metrics(a, b, 0.0)
    assert not m.bitwise_equal and m.max_err == 0 and m.first_index is None


def test_sum_overflow_is_flagged_like_megengines_finite_check() -> None:
    a = np.full(4, 3e38, np.float32)
    with np.errstate(over="ignore"):
        assert np.isinf(a.sum())
    for full in (True, False):
        assert tensor_metrics(a, a.copy(), 0.0, full=full).maybe_not_finite
        assert tensor_metrics(a, a * np.float32(0.5), 0.0, full=full).maybe_not_finite
    assert not tensor_metrics(np.ones(4, np.float32), np.ones(4, np.float32), 0.0).maybe_not_finite


def test_integer_and_half_inputs_are_cast_to_float32() -> None:
    a = np.arange(6, dtype=np.int32)
    b = a.copy()
    b[4] = 7
    m = tensor_metrics(a, b, 0.0)
    assert m.first_index == 4 and m.first_values == (4.0, 7.0, float(np.float32(3) / np.float32(7)))
    h = np.array([1, 2, 3], np.float16)
    assert tensor_metrics(h, h + np.float16(1), 0.1).count_over_tol == 3


def test_check_only_mode_leaves_out_what_it_did_not_compute() -> None:
    a = np.linspace(0, 1, 100, dtype=np.float32)
    m = tensor_metrics(a, a + np.float32(1e-3), 1e-6, full=False)
    assert m.first_index == 0 and m.max_err is None and m.count_over_tol is None and m.cosine is None
    assert m.over_tolerance


def test_zero_tensors_cosine_and_sqnr() -> None:
    z = np.zeros(5, np.float32)
    assert tensor_metrics(z, z.copy(), 0.0).cosine == 1.0
    m = tensor_metrics(z, np.ones(5, np.float32), 0.0)
    assert m.cosine == 0.0 and m.sqnr_db == -math.inf


def test_chunk_size_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError):
        ErrorAccumulator(0.0).add(np.zeros(2, np.float32), np.zeros(3, np.float32))


def test_values_one_step_off_then_one_over_at_the_end() -> None:
    """Every chunk differs under the tolerance (the bench's worst case): the first index is still MegEngine's."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal(5000).astype(np.float32)
    b = np.where(np.abs(a) < 1, np.nextafter(a, np.float32(np.inf)), a).astype(np.float32)
    b[-1] += np.float32(1e-5)
    want = int(np.flatnonzero(_megengine_err(a, b) > np.float32(1e-7))[0])
    for chunk in (64, 1000, 5000):
        acc = ErrorAccumulator(1e-7, full=False)
        for start in range(0, a.size, chunk):
            acc.add(a[start : start + chunk], b[start : start + chunk])
        m = acc.result()
        assert m.first_index == want and not m.maybe_not_finite and not m.bitwise_equal


def test_check_only_bounds_b_through_a_minus_b() -> None:
    """B's sum of squares is not taken; a large |a-b| still sends the chunk to the full path."""
    small = np.ones(4, np.float32)
    huge = np.full(4, 3e38, np.float32)
    m = tensor_metrics(small, huge, 1e-3, full=False)
    assert m.maybe_not_finite and m.first_index == 0  # B's float32 sum overflows, as MegEngine would find
    m = tensor_metrics(small, np.full(4, 1e30, np.float32), 1e-3, full=False)
    assert not m.maybe_not_finite and m.first_index == 0
    m = tensor_metrics(small, np.array([1, 1, np.nan, 1], np.float32), 1e-3, full=False)
    assert m.nan_b == 1 and m.first_index == 2


# Values where float32 rounding is at its trickiest: denormals, around 1 (where the
# divisor switches between 1 and |a|), signed zeros, the largest finite values, NaN and Inf.
_ADVERSARIAL = np.array(
    [0.0, -0.0, 1e-45, -1e-45, 1e-38, 1.0, -1.0, 0.99999994, 1.0000001, 1e-7, 1.1e-7, 9.9e-8, 3.4e38, -3.4e38]
    + [np.nan, np.inf, -np.inf],
    dtype=np.float32,
)
_pick = st.one_of(
    st.sampled_from(list(_ADVERSARIAL)),
    st.floats(-2.0, 2.0, width=32),
    st.floats(width=32, allow_nan=True, allow_infinity=True),
)


@settings(max_examples=300, deadline=None)
@given(
    a=st.lists(_pick, min_size=1, max_size=40),
    b_pick=st.lists(st.tuples(st.integers(0, 4), _pick), min_size=1, max_size=40),
    tol=st.sampled_from([0.0, 1e-45, 1e-20, 1e-7, 1.1e-7, 1e-3, 0.5, 1.0, 2.0, 1e30]),
    chunk=st.integers(1, 17),
)
def test_check_only_candidates_find_megengines_first_index(a, b_pick, tol, chunk) -> None:
    """Screening by |a-b| > tol (then MegEngine's formula on the candidates only) finds the same
    first element, values and error as the formula on every element, on adversarial data."""
    va = np.array(a, dtype=np.float32)
    vb = va.copy()
    for i, (how, x) in enumerate(b_pick[: va.size]):
        # b is a one step off, a tiny relative change off, copied, or anything at all
        if how == 0:
            vb[i] = np.nextafter(va[i], np.float32(np.inf))
        elif how == 1:
            vb[i] = va[i] * np.float32(1 + 1e-7)
        elif how == 2:
            vb[i] = -va[i]
        elif how == 3:
            vb[i] = x
    with np.errstate(all="ignore"):
        err = _megengine_err(va, vb)
        d = np.abs(va - vb)
    tol32 = np.float32(tol)
    # the screen is a superset: wherever MegEngine's error is over, |a-b| is over
    assert not np.any((err > tol32) & ~(d > tol32))
    checked = ErrorAccumulator(tol, full=False)
    full = ErrorAccumulator(tol, full=True)
    for s in range(0, va.size, chunk):
        checked.add(va[s : s + chunk], vb[s : s + chunk])
        full.add(va[s : s + chunk], vb[s : s + chunk])
    mc, mf = checked.result(), full.result()
    assert repr((mc.first_index, mc.first_values)) == repr((mf.first_index, mf.first_values))  # NaN != NaN
    if np.isfinite(va).all() and np.isfinite(vb).all():
        over = np.flatnonzero(err > tol32)
        want = int(over[0]) if over.size else None
        assert mc.first_index == want
        if want is not None:
            assert mc.first_values == (float(va[want]), float(vb[want]), float(err[want]))
