"""Synthetic dump folders for analysis tests: a small network run twice.

Titles follow MegEngine's grammar (formats spec §1.6); values are computed by
real numpy ops, so an error injected at one opr propagates to its consumers
the way it would in an engine run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from analysis.dump_bin import dump_name, write_dump

DTYPE_CODES = {"Float32": 0, "Int32": 4, "Float16": 9, "Complex64": 14}


def _layout(shape: Sequence[int], dtype: str) -> str:
    strides, acc = [], 1
    for d in reversed(shape):
        strides.append(acc)
        acc *= d
    dims = ",".join(f"{d}({s})" for d, s in zip(shape, reversed(strides), strict=True))
    return f"{{{dims} {dtype}}}"


def var_info(vid: int, shape: Sequence[int], name: str, opr_type: str, dtype: str = "Float32") -> str:
    """One ``{id:..}`` item of a title."""
    return (
        f"{{id:{vid}, layout:{_layout(shape, dtype)}, {dtype}, owner:{name}{{{opr_type}}}, "
        f'name:{name}, slot:0, CompNode("cpu0:0" from "cpu0:0"), s, 4, 8}}'
    )


@dataclass(frozen=True)
class Var:
    id: int
    name: str
    opr_type: str
    inputs: Tuple[int, ...]
    op: Optional[Callable[..., np.ndarray]] = None  # None: a leaf (input or constant)


def title(
    var: Var, net: Dict[int, Var], shapes: Dict[int, Tuple[int, ...]], dtypes: Optional[Dict[int, str]] = None
) -> str:
    dtypes = dtypes or {}
    items = [var_info(i, shapes[i], net[i].name, net[i].opr_type, dtypes.get(i, "Float32")) for i in var.inputs]
    own = var_info(var.id, shapes[var.id], var.name, var.opr_type, dtypes.get(var.id, "Float32"))
    return _title_text(own, items)


def _title_text(own: str, inputs: Sequence[str]) -> str:
    """``var=OWN owner_opr_inputs=...``: one input bare, several as ``0=.. 1=..``."""
    ins = inputs[0] if len(inputs) == 1 else " ".join(f"{k}={x}" for k, x in enumerate(inputs))
    return f"var={own} owner_opr_inputs={ins}"


def network() -> List[Var]:
    """data, two weights, conv-like matmul, relu, second matmul, add (residual), softmax."""
    return [
        Var(5, "data", "Host2DeviceCopy", ()),
        Var(7, "w1", "ImmutableTensor", ()),
        Var(9, "fc1", "MatrixMul", (5, 7), lambda x, w: x @ w),
        Var(12, "relu1", "Elemwise", (9,), lambda x: np.maximum(x, 0)),
        Var(14, "w2", "ImmutableTensor", ()),
        Var(16, "fc2", "MatrixMul", (12, 14), lambda x, w: x @ w),
        Var(18, "res", "Elemwise", (16, 12), lambda a, b: a + b),
        Var(20, "tanh", "Elemwise", (18,), np.tanh),
        Var(23, "out", "Elemwise", (20, 9), lambda a, b: a * 0.5 + b),
    ]


def run_network(
    folder: Path, *, seed: int = 0, noise: float = 0.0, inject: Optional[Dict[int, float]] = None, noise_seed: int = 1
) -> Dict[int, np.ndarray]:
    """Evaluate the network and dump every var into ``folder`` (created).

    ``noise``: relative error added to every computed opr's output (the
    accumulated-rounding kind); ``inject``: var id -> a relative error added to
    that opr's output only (the faulty-kernel kind; on a leaf it changes the
    input or weight itself). ``noise`` never touches leaves.
    """
    folder.mkdir(parents=True, exist_ok=True)
    base = np.random.default_rng(seed)
    rng = np.random.default_rng(noise_seed)
    inject = inject or {}
    net = {v.id: v for v in network()}
    values: Dict[int, np.ndarray] = {
        5: base.standard_normal((4, 16)).astype(np.float32),
        7: (base.standard_normal((16, 16)) / 4).astype(np.float32),
        14: (base.standard_normal((16, 16)) / 4).astype(np.float32),
    }
    for vid, rel in inject.items():
        if vid in values:
            values[vid] = (values[vid] * (1 + rel * rng.standard_normal(values[vid].shape))).astype(np.float32)
    for v in network():
        if v.op is None:
            continue
        out = np.asarray(v.op(*(values[i] for i in v.inputs)), dtype=np.float32)
        rel = noise + inject.get(v.id, 0.0)
        if rel:
            out = (out * (1 + rel * rng.standard_normal(out.shape))).astype(np.float32)
        values[v.id] = out
    shapes = {k: tuple(a.shape) for k, a in values.items()}
    for vid, arr in values.items():
        write_dump(folder / dump_name(vid), title(net[vid], net, shapes), 0, arr.shape, arr)
    return values


def write_var(
    folder: Path,
    vid: int,
    data: np.ndarray,
    *,
    name: str = "v",
    opr_type: str = "Elemwise",
    inputs: Sequence[Tuple[int, Tuple[int, ...]]] = (),
    dtype: str = "Float32",
) -> Path:
    """Dump one var with a grammatical title (inputs given as (id, shape))."""
    folder.mkdir(parents=True, exist_ok=True)
    data = np.asarray(data)
    items = [var_info(i, s, f"in{i}", "Elemwise") for i, s in inputs]
    t = _title_text(var_info(vid, data.shape, name, opr_type, dtype), items)
    return write_dump(folder / dump_name(vid), t, DTYPE_CODES[dtype], data.shape, data)
