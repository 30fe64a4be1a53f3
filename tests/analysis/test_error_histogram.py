"""TensorMetrics.error_histogram: per-element errors counted per power of two."""

from __future__ import annotations

import numpy as np

from analysis.metrics import ErrorAccumulator, megengine_error, tensor_metrics


def _expected(a: np.ndarray, b: np.ndarray) -> dict:
    err = megengine_error(a, b).astype(np.float64)
    out: dict = {}
    for e in err:
        k = 128 if not np.isfinite(e) else (-127 if e < 2.0**-126 else int(np.floor(np.log2(e))))
        out[k] = out.get(k, 0) + 1
    return out


def test_bins_match_log2_of_each_error():
    rng = np.random.default_rng(3)
    a = rng.standard_normal(5000).astype(np.float32)
    b = (a * (1 + 10.0 ** rng.uniform(-9, -1, a.size))).astype(np.float32)
    b[:100] = a[:100]
    m = tensor_metrics(a, b, 1e-4)
    assert dict(m.error_histogram) == _expected(a, b)
    assert sum(c for _, c in m.error_histogram) == a.size


def test_chunks_add_up_and_equal_bytes_count_as_exact():
    rng = np.random.default_rng(4)
    a = rng.standard_normal(3000).astype(np.float32)
    b = a.copy()
    b[2000:] += 1e-3
    acc = ErrorAccumulator(1e-4)
    acc.add(a[:1000], b[:1000], equal_bytes=True)
    acc.add(a[1000:2000], b[1000:2000])  # equal values, not flagged: error 0 all the same
    acc.add(a[2000:], b[2000:])
    assert dict(acc.result().error_histogram) == _expected(a, b)
    assert dict(acc.result().error_histogram)[-127] == 2000


def test_non_finite_errors_have_their_own_bin():
    a = np.array([1.0, np.nan, np.inf, 2.0], dtype=np.float32)
    b = np.array([1.0, 1.0, np.inf, np.nan], dtype=np.float32)
    hist = dict(tensor_metrics(a, b, 1e-3).error_histogram)
    assert hist == {-127: 2, 128: 2}


def test_check_only_mode_has_no_histogram():
    a = np.ones(10, dtype=np.float32)
    assert tensor_metrics(a, a + 1, 1e-3, full=False).error_histogram is None
