"""Compare two dump files' payloads in C-order chunks, and run such comparisons on threads.

Payloads are streamed in chunks, so memory stays bounded by a few chunks per
worker, never by the tensor or the folder. Pairs run on worker threads in
order (numpy and file reads release the GIL). A chunk whose bytes are
identical on both sides is bitwise equal without float math.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Callable, Iterable, Iterator, Optional, TypeVar

import numpy as np

from analysis.dump_bin import DumpFile
from analysis.errors import DumpFormatError
from analysis.files import open_regular
from analysis.metrics import ErrorAccumulator, TensorMetrics

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
    n = fa.n_elems
    k = min(chunk_elems, n)
    # Two read buffers and their float views, made once per pair and refilled chunk
    # by chunk (unbuffered reads go straight into them): no allocation per chunk.
    buf_a, buf_b = _buffer(0, k * da.itemsize), _buffer(1, k * db.itemsize)
    view_a, view_b = np.frombuffer(buf_a, dtype=da), np.frombuffer(buf_b, dtype=db)
    done = 0
    try:
        # one errstate per tensor, not per chunk: entering it costs several microseconds
        with (
            open_regular(fa.path, "rb", buffering=0) as f1,
            open_regular(fb.path, "rb", buffering=0) as f2,
            np.errstate(all="ignore"),
        ):
            f1.seek(fa.data_offset)
            f2.seek(fb.data_offset)
            while done < n:
                if n - done < k:  # the last, shorter chunk
                    k = n - done
                    buf_a, buf_b = bytearray(k * da.itemsize), bytearray(k * db.itemsize)
                    view_a, view_b = np.frombuffer(buf_a, dtype=da), np.frombuffer(buf_b, dtype=db)
                _read_into(f1, fa, buf_a)
                _read_into(f2, fb, buf_b)
                a = view_a if da == np.float32 else view_a.astype(np.float32)
                b = view_b if db == np.float32 else view_b.astype(np.float32)
                acc.add_quiet(a, b, equal_bytes=same_type and buf_a == buf_b)  # bytearray == is a memcmp
                done += k
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


def _read_into(f, dump: DumpFile, buf: bytearray) -> None:
    # an unbuffered read may return less than asked (a signal, a pipe): go on until full or EOF
    view = memoryview(buf)
    got = f.readinto(view)
    while got and got < len(buf):
        more = f.readinto(view[got:])
        if not more:
            break
        got += more
    if got != len(buf):
        raise DumpFormatError(dump.path, f.tell(), "file shrank while reading the payload")


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
