"""Layout undo: each blocked form MegEngine writes reads back as the NCHW tensor it came from."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.layouts import CROPPED, EXACT, LAYOUT, RESHAPED, alignments, best_alignments

rng = np.random.default_rng(7)


def _undo(arr_a, fmt_a, arr_b, fmt_b):
    aligns = best_alignments(alignments(arr_a.shape, fmt_a, arr_b.shape, fmt_b))
    assert aligns, "no reading makes them one tensor"
    return [al.apply(arr_a, arr_b) for al in aligns], aligns[0].rank


@pytest.mark.parametrize("c", [4, 8])
def test_nchwc_activation(c):
    x = rng.standard_normal((1, 16, 5, 7)).astype(np.float32)
    blocked = x.reshape(1, 16 // c, c, 5, 7).transpose(0, 1, 3, 4, 2).copy()  # (N, C/c, H, W, c)
    outs, rank = _undo(x, None, blocked, None)
    assert rank == LAYOUT
    assert any(np.array_equal(a, b) for a, b in outs)


def test_nhwcd4_activation_with_padded_channels():
    x = rng.standard_normal((1, 3, 4, 6)).astype(np.float32)
    padded = np.concatenate([x, np.zeros((1, 1, 4, 6), np.float32)], axis=1)  # 3 -> 4 channels
    d4 = padded.reshape(1, 1, 4, 4, 6).transpose(0, 3, 1, 4, 2).copy()  # (N, H, C/4, W, 4)
    outs, rank = _undo(x, None, d4, "I2D{2,1}")
    assert rank == CROPPED
    assert np.array_equal(*outs[0])


@pytest.mark.parametrize("c", [4, 8])
def test_dense_weight(c):
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    blocked = w.reshape(16 // c, c, 8 // c, c, 3, 3).transpose(0, 2, 4, 5, 3, 1).copy()  # (OC/c, IC/c, FH, FW, ic, oc)
    outs, _ = _undo(w, None, blocked, None)
    assert any(np.array_equal(a, b) for a, b in outs)


def test_hybrid_first_layer_weight():
    w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    hybrid = w.reshape(1, 8, 3, 3, 3).transpose(0, 3, 4, 2, 1).copy()  # (OC/c, FH, FW, IC, c)
    outs, _ = _undo(w, None, hybrid, None)
    assert any(np.array_equal(a, b) for a, b in outs)


def test_depthwise_weight():
    w = rng.standard_normal((16, 1, 1, 3, 3)).astype(np.float32)
    blocked = w.reshape(2, 8, 1, 1, 3, 3).transpose(0, 2, 3, 4, 5, 1).copy()  # (G/c, 1, 1, FH, FW, c)
    outs, _ = _undo(w, None, blocked, None)
    assert any(np.array_equal(a, b) for a, b in outs)


def test_nhwcd4_weight_with_padded_input_channels():
    w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    padded = np.concatenate([w, np.zeros((8, 1, 3, 3), np.float32)], axis=1)
    d4 = padded.reshape(2, 4, 4, 3, 3).transpose(0, 3, 4, 2, 1).copy()  # (OC/4, FH, FW, IC, 4)
    outs, _ = _undo(w, None, d4, "I2D{3,1}")
    assert np.array_equal(*outs[0])


def test_same_shape_is_exact_and_unrelated_shapes_do_not_align():
    assert alignments((2, 3), None, (2, 3), None)[0].rank == EXACT
    assert alignments((2, 3), None, (5,), None) == []
    assert alignments((8, 3, 3, 3), None, (1, 8, 3, 3, 3), None)[0].rank == RESHAPED


def test_nhwcd4_depthwise_weight():
    w = rng.standard_normal((8, 1, 1, 3, 3)).astype(np.float32)
    d4 = w.reshape(2, 4, 1, 3, 3).transpose(0, 2, 3, 4, 1).copy()  # (G/4, 1, FH, FW, 4)
    outs, _ = _undo(w, None, d4, "I2D{1,1}")
    assert any(np.array_equal(a, b) for a, b in outs)
