"""Compare two binary dump folders (or two dump files, or two runs' file lists) var by var.

The per-var work (payloads streamed in chunks on two threads, in var id order)
is ``analysis.compare_tensors``'; this module pairs the files, skips those known
identical by digest, and assembles the RunDiff with its graph.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from analysis.compare_tensors import (  # noqa: F401 (re-exported: the drop-in CLIs and tests import them from here)
    CHUNK_ELEMS,
    DEFAULT_WORKERS,
    _as_float32,
    compare_dumps,
    ordered_map,
)
from analysis.dump_bin import DumpEntry, DumpFile, dump_entry_key, list_dump_folder, read_header
from analysis.dump_names import DumpRecord
from analysis.errors import AnalysisError, DumpFolderError, DumpFormatError, PathLike
from analysis.results import COMPARED, ERROR, IDENTICAL_BY_DIGEST, ONLY_A, ONLY_B, RunDiff, Tolerance, VarDiff

if TYPE_CHECKING:  # the graph module (text dump parser) is not needed to compare folders
    from analysis.graph import VarGraph

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Job:
    name: str
    a: Optional[DumpEntry]
    b: Optional[DumpEntry]
    full: bool
    identical: bool = False


def compare_files(a: PathLike, b: PathLike, tolerance: Union[float, Tolerance] = 1e-3, *, full: bool = True) -> VarDiff:
    """Compare two single dump files (as MegEngine's tool does when given files)."""
    pa, pb = Path(a), Path(b)
    ea = DumpEntry(name=pa.name, path=pa, var_id=-1, input_index=None)
    eb = DumpEntry(name=pb.name, path=pb, var_id=-1, input_index=None)
    tol = Tolerance.of(tolerance)
    return _compare_job(_Job(pa.name, ea, eb, full), tol)


TolLike = Union[float, Tolerance, Callable[[int], float]]


def compare_folders(
    a: PathLike,
    b: PathLike,
    tolerance: TolLike = 1e-3,
    *,
    full: bool = True,
    workers: int = DEFAULT_WORKERS,
    inputs_of: Optional[Mapping[int, Sequence[int]]] = None,
    order: Optional[Sequence[int]] = None,
    graph_source: Optional[str] = None,
) -> RunDiff:
    """Compare every dump file of folder ``a`` with the same-named file of ``b``.

    Files on one side only, and files that cannot be read, are reported in the
    result, never fatal. ``inputs_of``/``order`` come from a text dump's graph
    when the caller has one; otherwise the graph is read from the titles.
    Raises DumpFolderError when a folder is missing, is a file or is empty.
    """
    diffs, stray_a, stray_b, tol = _compare_sides(_Side.listed(a), _Side.listed(b), tolerance, full, workers)
    return _run_diff(a, b, tol, diffs, stray_a, stray_b, inputs_of, order, graph_source)


def compare_runs(
    a: PathLike,
    b: PathLike,
    tolerance: TolLike = 1e-3,
    *,
    records_a: Optional[Iterable[DumpRecord]] = None,
    records_b: Optional[Iterable[DumpRecord]] = None,
    graph: Optional[VarGraph] = None,
    graph_source: Optional[str] = None,
    full: bool = True,
    workers: int = DEFAULT_WORKERS,
) -> RunDiff:
    """Compare two runs' dump folders, skipping every var whose bytes are known equal.

    ``a``/``b`` are the runs' ``--bin-io-dump`` folders. ``records_a``/``records_b``
    are the runs' file lists (manifests; names ``bin/<dump name>``): a side given
    one is described by it instead of by listing its folder, and a var whose
    file has the same sha256 on both sides is never opened: it gets status
    ``identical_by_digest`` (error 0, bitwise equal). Only the other files need
    to be in the folders (a store holding only the fetched files is enough).
    ``graph`` (parsed once by the caller, e.g. from a text dump) gives the
    inputs, execution order and the names of vars that were not read; without
    it the graph comes from the titles read. With no records and no graph this
    is exactly :func:`compare_folders`.
    """
    side_a = _Side.listed(a) if records_a is None else _Side.from_records(a, records_a)
    side_b = _Side.listed(b) if records_b is None else _Side.from_records(b, records_b)
    diffs, stray_a, stray_b, tol = _compare_sides(side_a, side_b, tolerance, full, workers)
    inputs_of: Optional[Dict[int, Tuple[int, ...]]] = None
    order: Optional[List[int]] = None
    if graph is not None:
        diffs = tuple(_named_from_graph(d, graph) for d in diffs)
        inputs_of = {vid: node.inputs for vid, node in graph.nodes.items()}
        order = graph.execution_order()
        graph_source = graph_source or "graph"
    return _run_diff(a, b, tol, diffs, stray_a, stray_b, inputs_of, order, graph_source)


@dataclass(frozen=True)
class _Side:
    """One run's dump files by name, with their sha256 when a file list gave them."""

    entries: Mapping[str, DumpEntry]
    digests: Optional[Mapping[str, str]]
    stray: Tuple[str, ...] = ()

    @classmethod
    def listed(cls, folder: PathLike) -> _Side:
        listing = list_dump_folder(folder)
        return cls({e.name: e for e in listing.entries}, None, listing.stray)

    @classmethod
    def from_records(cls, folder: PathLike, records: Iterable[DumpRecord]) -> _Side:
        """The side a file list describes; its folder is not listed (it may hold only some files)."""
        entries: Dict[str, DumpEntry] = {}
        digests: Dict[str, str] = {}
        for r in records:
            if r.var_id is None:
                continue  # not a binary dump (the text dump, logs)
            name = r.basename
            entries[name] = DumpEntry(name=name, path=Path(folder) / name, var_id=r.var_id, input_index=r.input_index)
            digests[name] = r.sha256
        if not entries:
            raise DumpFolderError(folder, "its file list names no binary dump files")
        return cls(entries, digests)

    def digest(self, name: str) -> Optional[str]:
        return None if self.digests is None else self.digests.get(name)


def _compare_sides(
    side_a: _Side, side_b: _Side, tolerance: TolLike, full: bool, workers: int
) -> Tuple[Tuple[VarDiff, ...], Tuple[str, ...], Tuple[str, ...], Callable[[int], float]]:
    tol = Tolerance.of(tolerance)
    by_a, by_b = side_a.entries, side_b.entries
    names = sorted(set(by_a) | set(by_b), key=lambda n: dump_entry_key(by_a.get(n) or by_b[n]))
    jobs = []
    for n in names:
        da, db = side_a.digest(n), side_b.digest(n)
        jobs.append(_Job(n, by_a.get(n), by_b.get(n), full, identical=da is not None and da == db))
    diffs = tuple(ordered_map(lambda job: _compare_job(job, tol), jobs, workers))
    return diffs, side_a.stray, side_b.stray, tol


def _run_diff(
    a: PathLike,
    b: PathLike,
    tol: Callable[[int], float],
    diffs: Tuple[VarDiff, ...],
    stray_a: Tuple[str, ...],
    stray_b: Tuple[str, ...],
    inputs_of: Optional[Mapping[int, Sequence[int]]],
    order: Optional[Sequence[int]],
    graph_source: Optional[str],
) -> RunDiff:
    graph: Dict[int, Tuple[int, ...]]
    if inputs_of is None:
        graph = {d.var_id: d.inputs for d in diffs if d.input_index is None}
        source = "titles"
    else:
        graph = {int(k): tuple(v) for k, v in inputs_of.items()}
        source = graph_source or "text dump"
    if order is None:
        order = sorted({d.var_id for d in diffs})
    # A policy callable has no single value: report the smallest one it used.
    default_tol = tol.default if isinstance(tol, Tolerance) else min((d.tolerance for d in diffs), default=0.0)
    return RunDiff(
        a=str(a),
        b=str(b),
        tolerance=default_tol,
        vars=diffs,
        inputs_of=graph,
        order=tuple(order),
        graph_source=source,
        stray_a=stray_a,
        stray_b=stray_b,
    )


def _named_from_graph(d: VarDiff, graph: VarGraph) -> VarDiff:
    """Fill a var's opr and names from the graph where no title was read (identical by digest)."""
    if d.opr_type or d.input_index is not None or d.var_id not in graph.nodes:
        return d
    node = graph.nodes[d.var_id]
    return replace(d, opr_name=node.opr, opr_type=node.opr_type, var_name=node.name, inputs=node.inputs)


def _compare_job(job: _Job, tol: Callable[[int], float]) -> VarDiff:
    entry = job.a or job.b
    if entry is None:
        raise ValueError(f"{job.name}: a job needs a file on at least one side")
    if job.identical:
        # Same sha256 on both sides: equal bytes by construction; no file is opened.
        return VarDiff(
            name=job.name,
            var_id=entry.var_id,
            input_index=entry.input_index,
            status=IDENTICAL_BY_DIGEST,
            tolerance=tol(entry.var_id),
        )
    headers: Dict[str, DumpFile] = {}
    errors: List[str] = []
    for side, e in (("a", job.a), ("b", job.b)):
        if e is None:
            continue
        try:
            headers[side] = read_header(e.path)
        except DumpFormatError as exc:
            errors.append(str(exc))
    ha, hb = headers.get("a"), headers.get("b")
    known = ha or hb
    var_id = entry.var_id if entry.var_id >= 0 else known.var_id if known is not None else -1
    tolerance = tol(var_id)
    base = _titled(
        VarDiff(
            name=job.name,
            var_id=var_id,
            input_index=entry.input_index,
            status=COMPARED,
            tolerance=tolerance,
            shape_a=ha.shape if ha else None,
            shape_b=hb.shape if hb else None,
            dtype_a=ha.dtype.name if ha else None,
            dtype_b=hb.dtype.name if hb else None,
        ),
        ha,
        hb,
    )
    if errors:
        return replace(base, status=ERROR, error="; ".join(errors))
    if hb is None:
        return replace(base, status=ONLY_A)
    if ha is None:
        return replace(base, status=ONLY_B)
    try:
        metrics = compare_dumps(ha, hb, tolerance, full=job.full)
    except AnalysisError as exc:
        return replace(base, status=ERROR, error=str(exc))
    return replace(base, metrics=metrics)


def _titled(v: VarDiff, *headers: Optional[DumpFile]) -> VarDiff:
    """The var with opr name/type, var name and input ids from the first title that parses."""
    for h in headers:
        if h is None:
            continue
        try:
            title = h.title_info()
        except AnalysisError as exc:
            log.debug("%s", exc)
            continue
        return replace(
            v,
            opr_name=title.var.owner_opr,
            opr_type=title.var.owner_type,
            var_name=title.var.name,
            inputs=title.input_ids,
        )
    return v
