"""Compare two binary dump folders (or two dump files) var by var.

Payloads are streamed in chunks, so memory stays bounded by a few chunks per
worker, never by the tensor or the folder. Two worker threads compare pairs
in var id order (numpy and file reads release the GIL). A chunk whose bytes
are identical on both sides is bitwise equal without float math.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, TypeVar, Union

import numpy as np

from analysis.dump_bin import DumpEntry, DumpFile, dump_entry_key, list_dump_folder, read_header
from analysis.errors import AnalysisError, DumpFormatError, PathLike
from analysis.metrics import ErrorAccumulator, TensorMetrics
from analysis.results import COMPARED, ERROR, ONLY_A, ONLY_B, RunDiff, Tolerance, VarDiff

log = logging.getLogger(__name__)

#: Elements per chunk: small enough that a chunk and its temporaries stay in
#: the CPU cache, large enough that numpy's per-call overhead does not matter.
CHUNK_ELEMS = 1 << 15
#: Threads comparing pairs at once (the target machines have 2 cores).
DEFAULT_WORKERS = 2

# Types whose stored elements numpy can cast straight to float32, chunk by chunk.
_NOT_STREAMED = {"BFloat16", "Bool", "Complex64"}

T = TypeVar("T")
R = TypeVar("R")


def _streamable(f: DumpFile) -> bool:
    return not f.dtype.packed and f.dtype.name not in _NOT_STREAMED


def _as_float32(arr: np.ndarray) -> np.ndarray:
    """Values as float32; complex64 compares as its (real, imag) float32 pairs."""
    if np.iscomplexobj(arr):
        return np.ascontiguousarray(arr).view(np.float32)
    return np.ascontiguousarray(arr, dtype=np.float32)


def compare_dumps(
    fa: DumpFile, fb: DumpFile, tolerance: float, *, full: bool = True, chunk_elems: int = CHUNK_ELEMS
) -> Optional[TensorMetrics]:
    """Metrics of two dump files of the same var; None when their shapes differ.

    Raises DumpFormatError when a payload cannot be read (for example the file
    shrank since its header was read).
    """
    if fa.shape != fb.shape:
        return None
    if not (_streamable(fa) and _streamable(fb)):
        # Packed, bfloat16, bool and complex payloads are unpacked whole by the reader.
        a, b = fa.load(), fb.load()
        equal = fa.dtype.code == fb.dtype.code and a.tobytes() == b.tobytes()
        pairs = np.iscomplexobj(a) or np.iscomplexobj(b)
        if pairs:
            # Complex compares as (real, imag) float32 pairs; a real side gets imag 0.
            a, b = a.astype(np.complex64), b.astype(np.complex64)
        acc = ErrorAccumulator(tolerance, full=full)
        acc.add(_as_float32(a).reshape(-1), _as_float32(b).reshape(-1), equal_bytes=equal)
        metrics = acc.result()
        if pairs:
            # Report elements, not float32 components.
            first = metrics.first_index
            metrics = replace(metrics, n_elems=fa.n_elems, first_index=None if first is None else first // 2)
        return metrics
    return _stream(fa, fb, tolerance, full, chunk_elems)


def _stream(fa: DumpFile, fb: DumpFile, tolerance: float, full: bool, chunk_elems: int) -> TensorMetrics:
    acc = ErrorAccumulator(tolerance, full=full)
    da, db = fa.dtype.storage, fb.dtype.storage
    same_type = fa.dtype.code == fb.dtype.code
    remaining = fa.n_elems
    try:
        with open(fa.path, "rb") as f1, open(fb.path, "rb") as f2:
            f1.seek(fa.data_offset)
            f2.seek(fb.data_offset)
            while remaining > 0:
                k = min(chunk_elems, remaining)
                ra = _read_into(f1, fa, _buffer(0, k * da.itemsize))
                rb = _read_into(f2, fb, _buffer(1, k * db.itemsize))
                a = np.frombuffer(ra, dtype=da)
                b = np.frombuffer(rb, dtype=db)
                if a.dtype != np.float32:
                    a = a.astype(np.float32)
                if b.dtype != np.float32:
                    b = b.astype(np.float32)
                acc.add(a, b, equal_bytes=same_type and ra == rb)
                remaining -= k
    except OSError as exc:
        raise DumpFormatError(
            getattr(exc, "filename", None) or fa.path, None, f"cannot read: {exc.strerror or exc}"
        ) from None
    return acc.result()


_local = threading.local()


def _buffer(side: int, nbytes: int) -> bytearray:
    """A per-thread read buffer of exactly ``nbytes``, reused while the size repeats.

    Reading into reused buffers avoids a fresh allocation (and page faults) per
    chunk; bytearray equality is a memcmp.
    """
    cache = getattr(_local, "buffers", None)
    if cache is None:
        cache = _local.buffers = [bytearray(), bytearray()]
    if len(cache[side]) != nbytes:
        cache[side] = bytearray(nbytes)
    return cache[side]


def _read_into(f, dump: DumpFile, buf: bytearray) -> bytearray:
    got = f.readinto(buf)
    if got != len(buf):
        raise DumpFormatError(dump.path, f.tell(), "file shrank while reading the payload")
    return buf


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int = DEFAULT_WORKERS) -> Iterator[R]:
    """``map(fn, items)`` on ``workers`` threads, yielding results in input order.

    At most ``4 * workers`` items are in flight, so results and their memory do
    not pile up; closing the generator early cancels what has not started.
    """
    if workers <= 1:
        for item in items:
            yield fn(item)
        return
    it = iter(items)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="compare")
    pending = deque(pool.submit(fn, x) for x in itertools.islice(it, 4 * workers))
    try:
        while pending:
            result = pending.popleft().result()
            for x in itertools.islice(it, 1):
                pending.append(pool.submit(fn, x))
            yield result
    finally:
        for fut in pending:
            fut.cancel()
        pool.shutdown(wait=True)


@dataclass(frozen=True)
class _Job:
    name: str
    a: Optional[DumpEntry]
    b: Optional[DumpEntry]
    full: bool


def compare_files(a: PathLike, b: PathLike, tolerance: Union[float, Tolerance] = 1e-3, *, full: bool = True) -> VarDiff:
    """Compare two single dump files (as MegEngine's tool does when given files)."""
    pa, pb = Path(a), Path(b)
    ea = DumpEntry(name=pa.name, path=pa, var_id=-1, input_index=None)
    eb = DumpEntry(name=pb.name, path=pb, var_id=-1, input_index=None)
    tol = Tolerance.of(tolerance)
    return _compare_job(_Job(pa.name, ea, eb, full), tol)


def compare_folders(
    a: PathLike,
    b: PathLike,
    tolerance: Union[float, Tolerance, Callable[[int], float]] = 1e-3,
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
    tol = Tolerance.of(tolerance)
    folder_a = list_dump_folder(a)
    folder_b = list_dump_folder(b)
    by_a = {e.name: e for e in folder_a.entries}
    by_b = {e.name: e for e in folder_b.entries}
    names = sorted(set(by_a) | set(by_b), key=lambda n: dump_entry_key(by_a.get(n) or by_b[n]))
    jobs = [_Job(n, by_a.get(n), by_b.get(n), full) for n in names]
    diffs = tuple(ordered_map(lambda job: _compare_job(job, tol), jobs, workers))
    if inputs_of is None:
        inputs_of = {d.var_id: d.inputs for d in diffs if d.input_index is None}
        source = "titles"
    else:
        inputs_of = {int(k): tuple(v) for k, v in inputs_of.items()}
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
        inputs_of=inputs_of,
        order=tuple(order),
        graph_source=source,
        stray_a=folder_a.stray,
        stray_b=folder_b.stray,
    )


def _compare_job(job: _Job, tol: Callable[[int], float]) -> VarDiff:
    entry = job.a or job.b
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
    var_id = entry.var_id if entry.var_id >= 0 else (ha or hb).var_id if (ha or hb) else -1
    tolerance = tol(var_id)
    info = _title_fields(ha, hb)
    base = dict(
        name=job.name,
        var_id=var_id,
        input_index=entry.input_index,
        tolerance=tolerance,
        shape_a=ha.shape if ha else None,
        shape_b=hb.shape if hb else None,
        dtype_a=ha.dtype.name if ha else None,
        dtype_b=hb.dtype.name if hb else None,
        **info,
    )
    if errors:
        return VarDiff(status=ERROR, error="; ".join(errors), **base)
    if job.b is None:
        return VarDiff(status=ONLY_A, **base)
    if job.a is None:
        return VarDiff(status=ONLY_B, **base)
    try:
        metrics = compare_dumps(ha, hb, tolerance, full=job.full)
    except AnalysisError as exc:
        return VarDiff(status=ERROR, error=str(exc), **base)
    return VarDiff(status=COMPARED, metrics=metrics, **base)


def _title_fields(*headers: Optional[DumpFile]) -> Dict[str, object]:
    """Opr name/type, var name and input ids from the first title that parses."""
    for h in headers:
        if h is None:
            continue
        try:
            title = h.title_info()
        except AnalysisError as exc:
            log.debug("%s", exc)
            continue
        return dict(
            opr_name=title.var.owner_opr, opr_type=title.var.owner_type, var_name=title.var.name, inputs=title.input_ids
        )
    return {}
