"""Compare two runs whose graphs differ: vars paired by analysis.match, layouts undone.

Each pair (A's var, B's var) becomes one VarDiff in A's terms (A's id, names
and graph; B's beside them). Pairs whose layouts already agree stream their
payloads exactly as an id-matched compare does; the others are read whole,
undone to the logical layout (NCHWc, NHWCD4, weight blocks) and compared
there. Vars without a counterpart (a conv fused into a ConvBias, a relayout
copy) are listed with the reason and never count as differences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Set, Tuple, Union

import numpy as np

from analysis.compare_tensors import DEFAULT_WORKERS, compare_dumps, ordered_map
from analysis.dump_bin import DumpEntry, list_dump_folder, read_header
from analysis.errors import AnalysisError, PathLike
from analysis.layouts import EXACT
from analysis.match import Matching, RunVars, folder_loader, pair_by_id, pair_runs
from analysis.match.pairing import candidate_alignments
from analysis.metrics import TensorMetrics, tensor_metrics
from analysis.results import COMPARED, ERROR, RunDiff, Tolerance, VarDiff
from analysis.title import parse_title


@dataclass(frozen=True)
class _PairJob:
    a: int
    b: int
    entry_a: DumpEntry
    entry_b: DumpEntry
    secondary: bool


def graphs_differ(a: PathLike, b: PathLike) -> bool:
    """True when the titles describe different graphs: a shared id names another var, or each side has own vars.

    Files missing on one side only (a run cut short) are still the same graph: they stay one-sided by id.
    """
    la, lb = list_dump_folder(a), list_dump_folder(b)
    ids_a, ids_b = {e.var_id for e in la.outputs}, {e.var_id for e in lb.outputs}
    if (ids_a - ids_b and ids_b - ids_a) or not ids_a & ids_b:
        return True
    # Same options give byte-identical titles (naive kernels too): only titles that differ are parsed.
    # A shape that changed under the same var is a finding of an id comparison, not another graph.
    by_a = {e.var_id: e for e in la.outputs}
    by_b = {e.var_id: e for e in lb.outputs}
    for vid in sorted(ids_a & ids_b):
        try:
            ta, tb = read_header(by_a[vid].path).title, read_header(by_b[vid].path).title
            if ta == tb:
                continue
            va, vb = parse_title(ta).var, parse_title(tb).var
        except AnalysisError:
            continue  # the comparison reports the unreadable file
        if (va.owner_type, va.owner_opr, va.name) != (vb.owner_type, vb.owner_opr, vb.name):
            return True
    return False


def compare_graph_matched(
    a: PathLike,
    b: PathLike,
    tolerance: Union[float, Tolerance, Callable[[int], float]] = 1e-3,
    *,
    full: bool = True,
    workers: int = DEFAULT_WORKERS,
    matching: Optional[Matching] = None,
    by_rules: bool = False,
) -> RunDiff:
    """Pair B's vars with A's by graph (unless ``matching`` is given) and compare each pair.

    Identical graphs pair by id at no cost unless ``by_rules`` (for measuring the rules).
    """
    tol: Callable[[int], float] = Tolerance.of(tolerance)
    list_a, list_b = list_dump_folder(a), list_dump_folder(b)
    ra, rb = RunVars.from_dump_folder(list_a), RunVars.from_dump_folder(list_b)
    if matching is None and not by_rules and ra.signature() == rb.signature():
        matching = pair_by_id(ra, rb)  # the same graph: ids are the pairing, at no cost
        matching = Matching("graph", matching.pairs, matching.unmatched_a, matching.unmatched_b)
    elif matching is None:
        matching = pair_runs(ra, rb, folder_loader(list_a, list_b))
    by_a = {e.var_id: e for e in list_a.outputs}
    by_b = {e.var_id: e for e in list_b.outputs}
    primary = _primaries(matching, rb)
    # A var's inputs seen through the vars that were not compared, so the graph stays connected.
    feeds = _through_uncompared(ra, set(primary))
    jobs = [_PairJob(x, y, by_a[x], by_b[y], primary.get(x) != y) for x, y in matching.pairs if x in by_a and y in by_b]
    diffs = tuple(ordered_map(lambda job: _compare_pair(job, ra, rb, tol, feeds), jobs, workers))
    default_tol = (
        tolerance.default
        if isinstance(tolerance, Tolerance)
        else (
            float(tolerance) if isinstance(tolerance, (int, float)) else min((d.tolerance for d in diffs), default=0.0)
        )
    )
    return RunDiff(
        a=str(a),
        b=str(b),
        tolerance=default_tol,
        vars=diffs,
        inputs_of=feeds,
        order=tuple(ra.order),
        graph_source="titles",
        stray_a=list_a.stray,
        stray_b=list_b.stray,
        matching=matching.kind,
        pairs=tuple((j.a, j.b) for j in jobs),
        unmatched_a=matching.unmatched_a,
        unmatched_b=matching.unmatched_b,
    )


def _primaries(matching: Matching, rb: RunVars) -> Dict[int, int]:
    """Per A var, the B var that is its main partner: B's group root when it is one, else the first."""
    primary: Dict[int, int] = {}
    for x, y in matching.pairs:
        if x not in primary or (not rb.is_alias(y) and rb.is_alias(primary[x])):
            primary[x] = y
    return primary


def _through_uncompared(ra: RunVars, compared: Set[int]) -> Dict[int, Tuple[int, ...]]:
    """A's inputs, looking through vars that were not compared (relayouts, fused convs) to what feeds them.

    Otherwise a var after an uncompared relayout would look like a root: its only input "does not differ".
    """
    memo: Dict[int, Tuple[int, ...]] = {}

    def feeds(vid: int, seen: Set[int]) -> Tuple[int, ...]:
        if vid in compared or vid not in ra.vars:
            return (vid,)
        if vid in memo:
            return memo[vid]
        if vid in seen:
            return ()
        seen.add(vid)
        out: List[int] = []
        for i in ra.vars[vid].inputs:
            out.extend(feeds(i, seen))
        memo[vid] = tuple(dict.fromkeys(out))
        return memo[vid]

    result: Dict[int, Tuple[int, ...]] = {}
    for vid in ra.order:
        ins: List[int] = []
        for i in ra.vars[vid].inputs:
            ins.extend(feeds(i, set()))
        result[vid] = tuple(dict.fromkeys(ins))
    return result


def _compare_pair(
    job: _PairJob, ra: RunVars, rb: RunVars, tol: Callable[[int], float], feeds: Dict[int, Tuple[int, ...]]
) -> VarDiff:
    va, vb = ra.vars[job.a], rb.vars[job.b]
    tolerance = tol(job.a)
    base: Dict[str, Any] = dict(
        name=job.entry_a.name,
        var_id=job.a,
        input_index=None,
        tolerance=tolerance,
        opr_name=va.opr,
        opr_type=va.type,
        var_name=va.name,
        inputs=feeds.get(job.a, va.inputs),
        dtype_a=va.dtype or None,
        dtype_b=vb.dtype or None,
        var_id_b=job.b,
        var_name_b=vb.name,
        opr_name_b=vb.opr,
        opr_type_b=vb.type,
        secondary=job.secondary,
    )
    aligns = candidate_alignments(va, vb)
    if not aligns:
        return VarDiff(status=COMPARED, shape_a=va.shape, shape_b=vb.shape, **base)
    try:
        ha = ra.headers.get(job.a) or read_header(job.entry_a.path)
        hb = rb.headers.get(job.b) or read_header(job.entry_b.path)
        if len(aligns) == 1 and aligns[0].rank == EXACT:
            metrics = compare_dumps(ha, hb, tolerance)
            return VarDiff(status=COMPARED, shape_a=va.shape, shape_b=vb.shape, metrics=metrics, **base)
        xa = np.asarray(ha.load()).reshape(va.shape)
        xb = np.asarray(hb.load()).reshape(vb.shape)
    except AnalysisError as exc:
        return VarDiff(status=ERROR, error=str(exc), shape_a=va.shape, shape_b=vb.shape, **base)
    best: Optional[Tuple[float, TensorMetrics, str]] = None
    for al in aligns:
        pa, pb = al.apply(xa, xb)
        m = tensor_metrics(pa, pb, tolerance)
        err = m.max_err if m.max_err is not None and math.isfinite(m.max_err) else math.inf
        if best is None or err < best[0]:
            best = (err, m, al.label)
    assert best is not None
    shape = aligns[0].shape
    base["layout"] = best[2]
    return VarDiff(status=COMPARED, shape_a=shape, shape_b=shape, metrics=best[1], **base)


def choose_matching(a: PathLike, b: PathLike, match: str) -> str:
    """``id`` or ``graph`` for ``--match`` (``auto``: graph when the titles show different graphs)."""
    if match not in ("auto", "id", "graph"):
        raise ValueError(f"match must be auto, id or graph, not {match!r}")
    if match != "auto":
        return match
    return "graph" if graphs_differ(a, b) else "id"


__all__ = ["compare_graph_matched", "graphs_differ", "choose_matching", "pair_by_id"]
