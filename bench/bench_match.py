"""Speed of the var matching: pairing two 2,000-var graphs, and a graph-matched compare vs an id-matched one.

Pairing: run A is a conv net as the default graph dumps it (per block a weight,
a bias, the conv and its FUSE_ADD_RELU; a pooling at the end); run
B is the same net as ``enable_nchw88`` dumps it (the weight relaid through a
reshape and dimshuffle and folded again at load, a relaid bias, the ConvBias
that absorbed conv + bias + relu, the pooling in NCHW88), with fresh ids: 2,002
and 3,006 vars; timed from parsed titles, without values (best of a few). Compare: the same
two dump folders (identical graphs) compared with ``--match id`` and with
``--match graph`` in this process, best of a few alternating repeats (identical graphs pair by id
inside the graph matching, as they should), and once more with the pairing rules run in full.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Sequence

from analysis.match import MatchVar, RunVars, pair_runs

REPEATS = 3


def default_graph(blocks: int) -> List[MatchVar]:
    out = [MatchVar(5, "data", "data", "Host2DeviceCopy", (), (1, 64, 28, 28))]
    prev, vid = 5, 100
    for k in range(blocks):
        w, bias, conv, relu = vid, vid + 1, vid + 2, vid + 3
        out += [
            MatchVar(w, f"const{{64,64,3,3}}[{w}]", f"const{{64,64,3,3}}[{w}]", "ImmutableTensor", (), (64, 64, 3, 3)),
            MatchVar(bias, f"block{k}.bias", f"block{k}.bias", "ImmutableTensor", (), (1, 64, 1, 1)),
            MatchVar(conv, f"block{k}.conv", f"block{k}.conv", "ConvolutionForward", (prev, w), (1, 64, 28, 28)),
            MatchVar(relu, f"block{k}.RELU", f"FUSE_ADD_RELU[{relu}]", "Elemwise", (conv, bias), (1, 64, 28, 28)),
        ]
        prev, vid = relu, vid + 4
    out.append(MatchVar(vid, "out", "out", "PoolingForward", (prev,), (1, 64, 14, 14)))
    return out


def nchw88_graph(blocks: int) -> List[MatchVar]:
    out = [MatchVar(5, "data", "data", "Host2DeviceCopy", (), (1, 64, 28, 28))]
    data8 = 7
    out.append(MatchVar(data8, "reshape(data)[6]", "reshape(data)[6]", "Reshape", (5,), (1, 8, 8, 28, 28)))
    out.append(MatchVar(9, "dimshuffle[8]", "dimshuffle[8]", "Dimshuffle", (data8,), (1, 8, 28, 28, 8)))
    prev, vid = 9, 5000
    for k in range(blocks):
        w, rs, ds, folded, bias, cb = vid, vid + 1, vid + 2, vid + 3, vid + 4, vid + 5
        out += [
            MatchVar(w, f"const{{64,64,3,3}}[{w}]", f"const{{64,64,3,3}}[{w}]", "ImmutableTensor", (), (64, 64, 3, 3)),
            MatchVar(rs, f"reshape[{rs}]", f"reshape[{rs}]", "Reshape", (w,), (8, 8, 8, 8, 3, 3)),
            MatchVar(ds, f"dimshuffle[{ds}]", f"dimshuffle[{ds}]", "Dimshuffle", (rs,), (8, 8, 3, 3, 8, 8)),
            MatchVar(
                folded,
                f"fuse():dimshuffle[{ds}]@{ds}",
                f"fuse():dimshuffle[{ds}]@{ds}",
                "ImmutableTensor",
                (),
                (8, 8, 3, 3, 8, 8),
            ),
            MatchVar(
                bias,
                f"const{{1,8,1,1,8}}[{bias}]",
                f"const{{1,8,1,1,8}}[{bias}]",
                "ImmutableTensor",
                (),
                (1, 8, 1, 1, 8),
            ),
            MatchVar(
                cb, f"block{k}.RELU", f"block{k}.conv", "ConvBiasForward", (prev, folded, bias), (1, 8, 28, 28, 8)
            ),
        ]
        prev, vid = cb, vid + 6
    out.append(MatchVar(vid, "pool[1]", "out", "PoolingForward", (prev,), (1, 8, 14, 14, 8)))
    out.append(MatchVar(vid + 1, "dimshuffle(out)[2]", "dimshuffle(out)[2]", "Dimshuffle", (vid,), (1, 8, 8, 14, 14)))
    out.append(MatchVar(vid + 2, "out", "reshape[3]", "Reshape", (vid + 1,), (1, 64, 14, 14)))
    return out


def bench_pairing() -> None:
    blocks = 500  # default: 4 vars per block (2,002 vars); nchw88: 6 (3,006)
    ra, rb = RunVars(default_graph(blocks)), RunVars(nchw88_graph(blocks))
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        m = pair_runs(ra, rb)
        best = min(best, time.perf_counter() - t0)
    fused = sum("fused" in r for _, r in m.unmatched_a)
    if fused != blocks or m.unmatched_b:
        raise SystemExit(f"bench_match: wrong pairing ({fused} fused convs, {len(m.unmatched_b)} B vars unpaired)")
    print(f"# pairing {len(ra.vars)} vs {len(rb.vars)} vars: {len(m.pairs)} pairs, {best * 1000:.0f} ms", flush=True)
    print(f"BENCH match_pairing_2000_vs_3000_vars_s {best:.3f} s target < 1", flush=True)


def bench_compare(n_vars: int = 300, shape: Sequence[int] = (1, 64, 64, 64)) -> None:
    from analysis.compare import compare_folders
    from analysis.compare_matched import compare_graph_matched
    from bench.bench_compare import generate

    tmp = Path(tempfile.mkdtemp(prefix="bench_match_"))
    try:
        generate(tmp, n_vars, tuple(shape), "third")
        a, b = tmp / "A", tmp / "B"
        best = {"id": float("inf"), "graph": float("inf"), "paired": float("inf")}
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            by_id = compare_folders(a, b, 1e-7)
            best["id"] = min(best["id"], time.perf_counter() - t0)
            t0 = time.perf_counter()
            by_graph = compare_graph_matched(a, b, 1e-7)
            best["graph"] = min(best["graph"], time.perf_counter() - t0)
            # The same with the pairing run in full (titles read, every var paired by graph rules).
            t0 = time.perf_counter()
            compare_graph_matched(a, b, 1e-7, by_rules=True)
            best["paired"] = min(best["paired"], time.perf_counter() - t0)
        if [v.var_id for v in by_id.differing()] != [v.var_id for v in by_graph.differing()]:
            raise SystemExit("bench_match: the graph-matched compare found other differing vars than by id")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ratio = best["graph"] / best["id"]
    print(
        f"# compare {n_vars} vars of {shape}: by id {best['id']:.3f} s, by graph {best['graph']:.3f} s,"
        f" by graph with the pairing rules run in full {best['paired']:.3f} s",
        flush=True,
    )
    print(f"BENCH match_graph_vs_id_compare_ratio {ratio:.2f} x target <= 1.2", flush=True)
    print(f"BENCH match_full_pairing_vs_id_compare_ratio {best['paired'] / best['id']:.2f} x target <= 1.2", flush=True)


def main(argv: Sequence[str]) -> int:
    bench_pairing()
    bench_compare()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
