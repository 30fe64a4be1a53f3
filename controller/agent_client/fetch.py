"""Receiving side of Fetch: zero-copy data frames, and files written under a temporary name
until their size and sha256 check out."""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Optional, Union

from analysis.dump_names import DumpRecord
from controller.agent_client.errors import AgentRequestError, FetchVerifyError

#: Suffix of a file being fetched; it is renamed only once its sha256 checks out.
PARTIAL_SUFFIX = ".larfarm-partial"


def _safe_relpath(name: str) -> PurePosixPath:
    """Check a file name the agent sent before it becomes a local path (never trust the wire)."""
    p = PurePosixPath(name)
    if (
        not name
        or "\x00" in name
        or "\\" in name
        or p.is_absolute()
        or any(part in ("", ".", "..") for part in name.split("/"))
    ):
        raise AgentRequestError(f"agent sent an unsafe file name {name!r}")
    return p


def _data_payload(raw: bytes) -> Optional[memoryview]:
    """The data of a serialized FetchChunk{data} without copying it, or None for other kinds.

    FetchChunk.data is field 2 (tag byte 0x12) followed by a varint length; the
    frame is taken only when that length covers exactly the rest of the message.
    """
    if not raw or raw[0] != 0x12:
        return None
    n = shift = 0
    i = 1
    while i < len(raw) and i < 11:
        b = raw[i]
        n |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            break
        shift += 7
    else:
        return None
    if i + n != len(raw):
        return None
    return memoryview(raw)[i:]


class HashQueue:
    """One helper thread that hashes (and verifies) in arrival order; at most `limit` chunks wait,
    so a slow hash holds the receiver back instead of buffering the whole fetch in memory."""

    def __init__(self, limit: int = 32) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="fetch-sha256")
        self._slots = threading.BoundedSemaphore(limit)

    def update(self, h: hashlib._Hash, data: Union[bytes, memoryview]) -> None:
        self._slots.acquire()

        def run() -> None:
            try:
                h.update(data)
            finally:
                self._slots.release()

        self._pool.submit(run)

    def submit(self, fn, *args) -> Future:
        return self._pool.submit(fn, *args)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


class _PartialFile:
    """A fetched file being written under a temporary name until its sha256 is verified."""

    def __init__(self, dest: Path, name: str, size: int, hasher: Optional[HashQueue] = None) -> None:
        rel = _safe_relpath(name)
        # sha256 runs on its own thread (hashlib drops the GIL) while this one receives and writes.
        self._hasher = hasher
        self.name = name
        self.size = size
        self.final = dest.joinpath(*rel.parts)
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.final.with_name(f"{self.final.name}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}")
        self._f = open(self.tmp, "wb", buffering=0)
        self._h = hashlib.sha256()
        self._n = 0

    def write(self, data: Union[bytes, memoryview]) -> None:
        self._n += len(data)
        if self._n > self.size:
            raise FetchVerifyError(f"{self.name}: agent sent more than the announced {self.size} bytes")
        if self._hasher is not None:
            self._hasher.update(self._h, data)
        else:
            self._h.update(data)
        view = memoryview(data)
        while view:  # an unbuffered write may be short
            view = view[self._f.write(view) :]

    def commit(self, sha256: str, address: str) -> Future[DumpRecord]:
        """Close the file and verify it once its hashing is done (on the hasher thread, in order),
        then rename it into place; the future raises FetchVerifyError on a mismatch."""
        self._f.close()
        if self._hasher is not None:
            return self._hasher.submit(self._verify, sha256, address)  # no wait: the next file goes on
        done: Future[DumpRecord] = Future()
        try:
            done.set_result(self._verify(sha256, address))
        except FetchVerifyError as err:
            done.set_exception(err)
        return done

    def _verify(self, sha256: str, address: str) -> DumpRecord:
        got = self._h.hexdigest()
        if self._n != self.size or got != sha256:
            self.discard()
            raise FetchVerifyError(
                f"{self.name} from agent at {address}: got {self._n} bytes sha256 {got[:12]}, "
                f"expected {self.size} bytes sha256 {sha256[:12]}"
            )
        os.replace(self.tmp, self.final)
        # the fetch stream carries no var ids: the one dump-name grammar reads them from the name
        return DumpRecord.of(self.name, self.size, got)

    def discard(self) -> None:
        if not self._f.closed:
            self._f.close()
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass
