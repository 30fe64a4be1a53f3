"""Undo MegEngine's layout passes so that one logical tensor compares with itself.

The layout options rewrite activations and weights into blocked forms with no
marker in the title (NCHW44/NCHW88) or with ``@ I2D{..}`` (NHWCD4, channels
padded to a multiple of 4). A dumped tensor only tells its shape, so each
shape gets the few readings it can have (:func:`views`); two vars align where
a reading of each gives the same logical shape (:func:`alignments`), and the
values pick among readings when several fit (``(1,2,8,8,8)`` is both
NCHW88 and the plain (N, C/c, c, H, W) intermediate).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

Shape = Tuple[int, ...]
#: Block sizes of the NCHWc layouts (NCHW44 and NCHW88).
BLOCKS = (4, 8)
#: Readings ranked: the same shape, a known layout, a known layout with padding cropped, a plain reshape.
EXACT, LAYOUT, CROPPED, RESHAPED = 0, 1, 2, 3


@dataclass(frozen=True)
class View:
    """One reading of a dumped shape: its label, the logical shape it gives, and how to get there."""

    label: str
    shape: Shape
    undo: Optional[Callable[[np.ndarray], np.ndarray]] = None  # None: the array as it is
    padded: bool = False  # NHWCD4: channels may be padded up to a multiple of 4

    def apply(self, arr: np.ndarray) -> np.ndarray:
        return arr if self.undo is None else self.undo(arr)


@dataclass(frozen=True)
class Alignment:
    """How to bring var a and var b to one logical shape; ``rank`` orders the candidates."""

    rank: int
    view_a: View
    view_b: View
    shape: Shape

    @property
    def label(self) -> str:
        """``nchw88->nchw`` style text for reports ("" when both sides are as they are)."""
        la, lb = self.view_a.label, self.view_b.label
        if la == lb == "as_is":
            return ""
        return f"A {la}, B {lb}"

    def apply(self, a: np.ndarray, b: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Both arrays in the logical layout, padding cropped, reshaped where the reading is a reshape."""
        xa = _crop(self.view_a.apply(a), self.shape)
        xb = _crop(self.view_b.apply(b), self.shape)
        return xa.reshape(self.shape), xb.reshape(self.shape)


def _crop(x: np.ndarray, shape: Shape) -> np.ndarray:
    if x.shape == shape or x.ndim != len(shape):
        return x
    return x[tuple(slice(0, d) for d in shape)]


def _t(perm: Sequence[int], out: Shape) -> Callable[[np.ndarray], np.ndarray]:
    perm = tuple(perm)
    return lambda x: np.ascontiguousarray(x.transpose(perm)).reshape(out)


def views(shape: Shape, fmt: Optional[str] = None) -> List[View]:
    """Every reading of a dumped tensor of ``shape`` (format ``fmt`` from the title), ``as_is`` first."""
    out = [View("as_is", tuple(shape))]
    n = len(shape)
    if fmt and fmt.startswith("I2D{2") and n == 5:
        # NHWCD4 activation or bias: (N, H, C/4, W, 4), channels padded to a multiple of 4.
        N, H, C4, W, c = shape
        logical = (N, C4 * c, H, W)
        out.append(View("nhwcd4", logical, _t((0, 2, 4, 1, 3), logical), padded=True))
    elif fmt and fmt.startswith("I2D{3") and n == 5:
        # NHWCD4 weight: (OC/4, FH, FW, IC, 4), input channels padded.
        oc4, fh, fw, ic, c = shape
        logical = (oc4 * c, ic, fh, fw)
        out.append(View("nhwcd4_weight", logical, _t((0, 4, 3, 1, 2), logical), padded=True))
    elif fmt and fmt.startswith("I2D{1") and n == 5:
        # NHWCD4 depthwise weight: (G/4, 1, FH, FW, 4).
        g4, one, fh, fw, c = shape
        dw4: Shape = (g4 * c, one, 1, fh, fw)
        out.append(View("nhwcd4_depthwise_weight", dw4, _t((0, 4, 1, 2, 3), dw4), padded=True))
    elif not fmt:
        if n == 5 and shape[4] in BLOCKS:
            N, C, H, W, c = shape
            # Padded: the global layout transform pads 3 input channels to 4 (and the first filter with them).
            out.append(View(f"nchw{c}{c}", (N, C * c, H, W), _t((0, 1, 4, 2, 3), (N, C * c, H, W)), padded=True))
            oc, fh, fw, ic, c = shape  # first-layer (hybrid) weight
            out.append(View(f"hybrid_weight{c}", (oc * c, ic, fh, fw), _t((0, 4, 3, 1, 2), (oc * c, ic, fh, fw))))
        if n == 5 and shape[2] in BLOCKS:
            N, C, c, H, W = shape  # (N, C/c, c, H, W) between relayouts: a plain reshape
            out.append(View(f"nc{c}hw", (N, C * c, H, W), _reshaper((N, C * c, H, W))))
        if n == 6 and shape[4] == shape[5] and shape[5] in BLOCKS:
            oc, ic, fh, fw, c, _ = shape
            dense: Shape = (oc * c, ic * c, fh, fw)
            out.append(View(f"dense_weight{c}", dense, _t((0, 5, 1, 4, 2, 3), dense), padded=True))
        if n == 6 and shape[1] == shape[2] == 1 and shape[5] in BLOCKS:
            G, _, _, FH, FW, c = shape
            dw: Shape = (G * c, 1, 1, FH, FW)
            out.append(View(f"depthwise_weight{c}", dw, _t((0, 5, 1, 2, 3, 4), dw)))
        if n == 7 and shape[5] == shape[6] and shape[6] in BLOCKS:
            g, oc, ic, fh, fw, c, _ = shape  # group conv weight, channel-wise blocks
            grouped: Shape = (g, oc * c, ic * c, fh, fw)
            out.append(View(f"group_weight{c}", grouped, _t((0, 1, 6, 2, 5, 3, 4), grouped)))
    return out


def _fits_padded(padded: Shape, exact: Shape) -> bool:
    return (
        len(padded) == len(exact)
        and padded != exact
        and all(p == e or (p > e and p - e < 4 and p % 4 == 0) for p, e in zip(padded, exact, strict=True))
    )


def _numel(shape: Shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def alignments(shape_a: Shape, fmt_a: Optional[str], shape_b: Shape, fmt_b: Optional[str]) -> List[Alignment]:
    """Ways to read var a and var b as one logical tensor, best first (empty: they cannot be one tensor)."""
    return list(_alignments(tuple(shape_a), fmt_a, tuple(shape_b), fmt_b))


@functools.lru_cache(maxsize=4096)
def _alignments(shape_a: Shape, fmt_a: Optional[str], shape_b: Shape, fmt_b: Optional[str]) -> Tuple[Alignment, ...]:
    # Graphs repeat a few shapes many times: the readings are computed once per pair of shapes.
    va, vb = views(shape_a, fmt_a), views(shape_b, fmt_b)
    found: List[Alignment] = []
    seen = set()
    for x in va:
        for y in vb:
            if x.shape == y.shape:
                rank = EXACT if x.label == y.label == "as_is" and fmt_a == fmt_b else LAYOUT
                cand = Alignment(rank, x, y, x.shape)
            elif x.padded and _fits_padded(x.shape, y.shape):
                cand = Alignment(CROPPED, x, y, y.shape)
            elif y.padded and _fits_padded(y.shape, x.shape):
                cand = Alignment(CROPPED, x, y, x.shape)
            else:
                continue
            key = (x.label, y.label)
            if key not in seen:
                seen.add(key)
                found.append(cand)
    if not found:
        # A plain reshape (e.g. a bias (1,8,3,3,3) folded from (8,3,3,3)): same elements, C order.
        # A tensor with a format marker is never a plain reshape of its raw bytes: read it first.
        for x in va[1:] if fmt_a else va:
            for y in vb[1:] if fmt_b else vb:
                if not x.padded and not y.padded and _numel(x.shape) == _numel(y.shape) and x.shape:
                    found.append(Alignment(RESHAPED, x, _then_reshape(y, x.shape), x.shape))
                    break
            if found:
                break
    found.sort(key=lambda al: al.rank)
    return tuple(found)


def _then_reshape(view: View, shape: Shape) -> View:
    """``view``'s reading, then a plain C-order reshape to ``shape``."""
    if view.undo is None:
        return View("reshape", shape, _reshaper(shape))
    undo = view.undo
    return View(f"{view.label}+reshape", shape, lambda arr: undo(arr).reshape(shape))


def _reshaper(shape: Shape) -> Callable[[np.ndarray], np.ndarray]:
    return lambda arr: arr.reshape(shape)


def best_alignments(aligns: Sequence[Alignment]) -> List[Alignment]:
    """The candidates of the best rank (several when only the values can tell them apart)."""
    if not aligns:
        return []
    top = aligns[0].rank
    return [al for al in aligns if al.rank == top]
