"""What lar-lite prints: load_and_run's model-info table and an output summary.

The table copies the look of load_and_run's ``--model-info`` (MegEngine's
TextTable, padding 1, centred cells, the title set into the top border). The
output summary is a lar-lite extension printed in the text io-dump's style.
"""

from __future__ import annotations

import math
from typing import List, Sequence, Tuple

import numpy as np


def text_table(title: str, rows: Sequence[Sequence[str]], padding: int = 1) -> str:
    """A bordered table like MegEngine's TextTable; ``rows[0]`` is the header row."""
    ncols = max(len(r) for r in rows)
    widths = [max(len(r[i]) for r in rows if i < len(r)) + 2 * padding for i in range(ncols)]
    plain = "+" + "+".join("-" * w for w in widths) + "+"
    # The title overwrites the start of the top border, as TextTable does.
    top = "+" + title
    skip = len(title)
    for w in widths:
        if w + 1 <= skip:
            skip -= w + 1
            continue
        rest = w + 1 - skip
        skip = 0
        if rest > 1:
            top += "-" * (rest - 1)
            rest = 1
        top += "+"
    lines = [top]
    for n, row in enumerate(rows):
        if n:
            lines.append(plain)
        cells = []
        for i, w in enumerate(widths):
            text = row[i] if i < len(row) else ""
            left = (w - len(text)) // 2 + len(text)
            cells.append(text.rjust(left) + " " * (w - left))
        lines.append("|" + "|".join(cells) + "|")
    lines.append(plain)
    return "\n".join(lines)


def shape_str(shape: Sequence[int]) -> str:
    """``{1,3,224,224}``: MegEngine's shape spelling."""
    return "{" + ",".join(str(int(d)) for d in shape) + "}"


def model_info(inputs: List[Tuple[str, Sequence[int], str]], outputs: List[Tuple[str, Sequence[int], str]]) -> str:
    """load_and_run's ``Runtime Model Info`` table for (name, shape, dtype) rows."""
    rows = [["type", "name", "shape", "dtype"]]
    rows += [["INPUT", n, shape_str(s), d] for n, s, d in inputs]
    rows += [["OUTPUT", n, shape_str(s), d] for n, s, d in outputs]
    return text_table("Runtime Model Info", rows)


def _g(value: float, digits: int) -> str:
    if math.isnan(value):
        return "-nan" if math.copysign(1.0, value) < 0 else "nan"
    return f"{value:.{digits}g}"


def value_summary(arr: np.ndarray, max_size: int = 5) -> str:
    """``[v0, ..., v4, ...]min= max= mean= l2= sd=`` as the text io-dump prints a value."""
    flat = np.asarray(arr).ravel()
    shown = ", ".join(_g(float(v), 4) for v in flat[:max_size])
    more = ", ..." if flat.size > max_size else ""
    if flat.size == 0:
        return "[]"
    x = flat.astype(np.float64)
    n = x.size
    with np.errstate(all="ignore"):  # inf/nan outputs are reported, not warned about
        total, sq = float(x.sum()), float((x * x).sum())
    stats = (
        f"min={_g(float(flat.min()), 3)} max={_g(float(flat.max()), 3)} "
        f"mean={_g(total / n, 3)} l2={_g(math.sqrt(sq / n), 3)}"
    )
    if n > 1:
        var = (n * sq - total * total) / (n * (n - 1))
        stats += f" sd={_g(math.sqrt(max(var, 0.0)), 3)}"
    else:
        stats += " sd=N/A"
    return f"[{shown}{more}]{stats}"


def output_lines(outputs: List[Tuple[str, np.ndarray]]) -> List[str]:
    """One summary line per network output, in the model's output order."""
    return [
        f"output[{i}] {name}: shape={shape_str(arr.shape)} dtype={arr.dtype.name} {value_summary(arr)}"
        for i, (name, arr) in enumerate(outputs)
    ]
