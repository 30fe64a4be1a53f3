"""A synthetic deep network dumped twice, for the graph report's scale tests and bench.

Blocks of ten vars (weight, conv, bias, add, relu, a three-var relayout chain,
residual, tanh) stacked to any size, evaluated with numpy on small tensors and
written as real --bin-io-dump folders. Run B adds a faulty-kernel error at one
conv (the root) and float32-level noise everywhere else, so the comparison
has exact, below-tolerance and over-tolerance vars.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np

from analysis import render, thresholds
from analysis.compare import compare_folders
from analysis.dump_bin import dump_name, write_dump
from tests.analysis.synthetic import Var, title

BLOCK = 10
TOLERANCE = 1e-4


def network(n_vars: int) -> List[Var]:
    """Var 1 is the data; then blocks of ten vars, at least ``n_vars`` vars in all."""
    out = [Var(1, "data", "Host2DeviceCopy", ())]
    x = 1
    for k in range(-(-(n_vars - 1) // BLOCK)):
        b = 2 + k * BLOCK
        p = f"block{k}."
        out += [
            Var(b, p + "weight", "ImmutableTensor", ()),
            Var(b + 1, p + "conv", "ConvolutionForward", (x, b), lambda x, w: x @ w),
            Var(b + 2, p + "bias", "ImmutableTensor", ()),
            Var(b + 3, p + "ADD", "Elemwise", (b + 1, b + 2), lambda a, c: a + c),
            Var(b + 4, p + "RELU", "Elemwise", (b + 3,), lambda a: np.maximum(a, 0)),
            Var(b + 5, p + "flat", "Reshape", (b + 4,), lambda a: a.reshape(-1)),
            Var(b + 6, p + "expand", "AxisAddRemove", (b + 5,), lambda a: a[None]),
            Var(b + 7, p + "back", "Reshape", (b + 6,), lambda a: a.reshape(8, 8)),
            Var(b + 8, p + "residual", "Elemwise", (b + 7, x), lambda a, c: 0.5 * a + c),
            Var(b + 9, p + "TANH", "Elemwise", (b + 8,), np.tanh),
        ]
        x = b + 9
    return out


def conv_of_block(k: int) -> int:
    """Var id of block k's conv."""
    return 2 + k * BLOCK + 1


def write_runs(a: Path, b: Path, *, n_vars: int = 2000, root_block: int = 3, seed: int = 0) -> Tuple[Path, Path]:
    """Dump run A and run B of the network into ``a`` and ``b``."""
    net = network(n_vars)
    by_id = {v.id: v for v in net}
    rng = np.random.default_rng(seed)
    leaves: Dict[int, np.ndarray] = {1: rng.standard_normal((8, 8)).astype(np.float32)}
    for v in net:
        if v.op is None and v.id != 1:
            shape = (8, 8) if v.name.endswith("weight") else (1, 8)
            leaves[v.id] = (rng.standard_normal(shape) / 3).astype(np.float32)
    noise = np.random.default_rng(seed + 1)
    root = conv_of_block(root_block)
    for folder, faulty in ((a, False), (b, True)):
        folder.mkdir(parents=True, exist_ok=True)
        values = dict(leaves)
        for v in net:
            if v.op is None:
                continue
            out = np.asarray(v.op(*(values[i] for i in v.inputs)), dtype=np.float32)
            if faulty and v.id == root:
                out = out * (1 + 3e-3 * noise.standard_normal(out.shape))
            elif faulty and v.opr_type not in ("Reshape", "AxisAddRemove") and v.id % 3 == 0:
                out = out * (1 + 1e-7 * noise.standard_normal(out.shape))
            values[v.id] = out.astype(np.float32)
        shapes = {k: tuple(x.shape) for k, x in values.items()}
        for vid, arr in values.items():
            write_dump(folder / dump_name(vid), title(by_id[vid], by_id, shapes), 0, arr.shape, arr)
    return a, b


def comparison(a: Path, b: Path) -> Dict[str, Any]:
    """The ``python -m analysis A B --json`` object of the two runs."""
    run = compare_folders(str(a), str(b), TOLERANCE)
    return render.to_json_data(run, thresholds.analyse(run, None))
