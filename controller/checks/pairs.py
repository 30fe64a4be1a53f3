"""Compare two stored runs digest-first, with analysis doing every metric and the root search.

Vars whose dump files have the same sha256 in both manifests are identical by
construction: their error is exactly 0 and no byte of them is read (or fetched).
Only the rest is loaded and handed to analysis's metric of record.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

from analysis.dump_bin import parse_dump_name, read_header
from analysis.errors import AnalysisError
from analysis.graph import VarGraph
from analysis.compare import compare_dumps, ordered_map
from analysis.roots import amplification, find_roots, first_var
from analysis.thresholds import error_stats

from controller.checks.result import Comparison, Root, VarPoint
from controller.errors import StoreError
from controller.store import RunRecord

log = logging.getLogger(__name__)


def _var_ids(digests: Dict[str, str]) -> Dict[int, str]:
    """`bin/<hex>` -> var id (output dumps only; `-inpK` files are inputs seen by an opr)."""
    out: Dict[int, str] = {}
    for name in digests:
        parsed = parse_dump_name(name.split("/", 1)[1])
        if parsed is not None and parsed[1] is None:
            out[parsed[0]] = name
    return out


def run_graph(run_dir: Path) -> VarGraph:
    """The var graph of a stored run: the text dump's, completed with the titles of fetched files."""
    graph = VarGraph(nodes={})
    text = run_dir / "io.txt"
    if text.is_file():
        try:
            graph = VarGraph.from_text_dump(text)
        except AnalysisError as exc:
            log.warning("%s: text dump unusable, using binary titles only (%s)", text, exc)
    bin_dir = run_dir / "bin"
    if bin_dir.is_dir() and any(bin_dir.iterdir()):
        try:
            titles = VarGraph.from_dump_folder(bin_dir)
            graph = graph.merge(titles) if graph.nodes else titles
        except AnalysisError as exc:
            log.warning("%s: titles unusable (%s)", bin_dir, exc)
    return graph


def var_error(path_a: Path, path_b: Path, tolerance: float) -> float:
    """MegEngine's metric (max over the tensor) for one var; a shape mismatch is infinite."""
    for path in (path_a, path_b):
        if not path.is_file():
            raise StoreError(f"{path}: needed for a comparison but not in the store")
    metrics = compare_dumps(read_header(path_a), read_header(path_b), tolerance, full=True)
    if metrics is None or metrics.max_err is None:  # shapes differ
        return math.inf
    return float(metrics.max_err)


def compare_runs(
    label: str,
    devices: Sequence[str],
    a: RunRecord,
    dir_a: Path,
    b: RunRecord,
    dir_b: Path,
    tolerance: float,
    graph: Optional[VarGraph] = None,
) -> Comparison:
    """Compare run b against reference run a: differing vars, first, roots, suggested threshold."""
    da, db = a.bin_digests(), b.bin_digests()
    ids_a, ids_b = _var_ids(da), _var_ids(db)
    common = sorted(set(ids_a) & set(ids_b))
    errors: Dict[int, float] = {}
    to_read = []
    for vid in common:
        if da[ids_a[vid]] == db.get(ids_b[vid]):
            errors[vid] = 0.0  # same digest: identical bytes, nothing read
        else:
            to_read.append(vid)
    identical = len(errors)
    # analysis's ordered_map: two threads, results in var order (numpy and reads drop the GIL)
    for vid, err in zip(
        to_read, ordered_map(lambda v: var_error(dir_a / ids_a[v], dir_b / ids_b[v], tolerance), to_read)
    ):
        errors[vid] = err
    # a var dumped on one side only cannot be compared: it counts as differing
    for vid in set(ids_a) ^ set(ids_b):
        errors[vid] = math.inf
    if graph is None:
        graph = run_graph(dir_a)
        other = run_graph(dir_b)
        graph = graph.merge(other) if graph.nodes else other
    inputs_of = {vid: graph.inputs_of(vid) for vid in errors}
    differing = sorted(v for v, e in errors.items() if e > tolerance)
    roots = _roots(differing, errors, inputs_of, graph)
    # step 5: the distribution of the errors and a cut in its largest log-gap over the tolerance
    stats = error_stats(list(errors.values()), floor=tolerance)
    threshold = stats.suggestion.tolerance if stats.suggestion is not None else None
    at_thr: Tuple[int, ...] = ()
    roots_thr: Tuple[Root, ...] = ()
    if threshold is not None:
        at_thr = tuple(v for v in differing if errors[v] > threshold)
        roots_thr = _roots(list(at_thr), errors, inputs_of, graph)
    first = first_var(differing)
    order = [v for v in graph.execution_order() if v in errors] if graph.nodes else []
    order += sorted(set(errors) - set(order))
    series = tuple(_point(v, errors[v], graph) for v in order)
    return Comparison(
        label=label,
        devices=tuple(devices),
        runs=(a.run_id, b.run_id),
        tolerance=tolerance,
        differing=tuple(differing),
        first=first,
        first_var=_point(first, errors[first], graph) if first is not None else None,
        roots=roots,
        threshold=threshold,
        roots_at_threshold=roots_thr,
        differing_at_threshold=at_thr,
        series=series,
        compared=len(errors),
        identical_by_digest=identical,
        distribution=stats.to_dict(),
    )


def _point(vid: int, err: float, graph: VarGraph) -> VarPoint:
    try:
        node = graph.node(vid)
        return VarPoint(vid, err, node.opr, node.opr_type, node.name)
    except KeyError:
        return VarPoint(vid, err)


def _roots(differing: Sequence[int], errors: Dict[int, float], inputs_of, graph: VarGraph) -> Tuple[Root, ...]:
    amp = amplification(errors, inputs_of)
    out = []
    for vid in find_roots(differing, inputs_of):
        p = _point(vid, errors[vid], graph)
        out.append(Root(vid, p.opr, p.type, p.name, errors[vid], amp.get(vid)))
    return tuple(out)
