"""Content-addressed blob store (models, inputs, algo-policy caches), verified on arrival."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from agent.errors import BlobVerifyError, NotFoundError, QuotaExceeded
from agent.paths import check_sha256
from agent.quota import Quota

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int
    already_present: bool


class BlobStore:
    """Blobs live at <root>/<sha[:2]>/<sha>; uploads land in <root>/tmp first."""

    def __init__(self, root: Path, quota: Quota, max_blob_bytes: int) -> None:
        self.root = root
        self.quota = quota
        self.max_blob_bytes = max_blob_bytes
        self._tmp = root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)
        for stale in self._tmp.iterdir():  # uploads cut off by a previous agent process
            stale.unlink(missing_ok=True)

    def path(self, sha: str) -> Path:
        check_sha256(sha, "blob")
        return self.root / sha[:2] / sha

    def has(self, sha: str) -> bool:
        """True if held; asking also marks the blob as used, which keeps it from expiring."""
        p = self.path(sha)
        if not p.is_file():
            return False
        _touch(p)
        return True

    def require(self, sha: str, what: str) -> Path:
        """Path of a blob the request names; NotFoundError if it was never uploaded."""
        check_sha256(sha, what)
        p = self.path(sha)
        if not p.is_file():
            raise NotFoundError(f"{what}: blob {sha[:12]} is not on this agent; upload it first")
        _touch(p)
        return p

    def missing(self, shas: Iterable[str]) -> list[str]:
        out = []
        for sha in shas:
            check_sha256(sha, "blob")
            if not self.has(sha):
                out.append(sha)
        return out

    def receive(self, sha: str, size: int, chunks: Iterator[bytes]) -> StoredBlob:
        """Store the blob whose bytes come from chunks; verify size and sha256 before it is visible."""
        check_sha256(sha, "blob")
        if size > self.max_blob_bytes:
            raise QuotaExceeded(f"blob {sha[:12]} is {size} bytes; this agent accepts at most {self.max_blob_bytes}")
        if self.has(sha):
            return StoredBlob(sha, size, True)  # the rest of the stream is not read
        self.quota.reserve(size, f"blob {sha[:12]}")
        tmp = self._tmp / f"{sha[:12]}.{secrets.token_hex(4)}"
        ok = False
        try:
            h = hashlib.sha256()
            n = 0
            with open(tmp, "wb") as f:
                for data in chunks:
                    n += len(data)
                    if n > size:
                        raise BlobVerifyError(f"blob {sha[:12]}: more bytes than the announced {size}")
                    h.update(data)
                    f.write(data)
            if n != size:
                raise BlobVerifyError(f"blob {sha[:12]}: got {n} bytes, announced {size}")
            if h.hexdigest() != sha:
                raise BlobVerifyError(f"blob {sha[:12]}: bytes hash to {h.hexdigest()[:12]}, not the announced sha256")
            final = self.path(sha)
            final.parent.mkdir(exist_ok=True)
            if final.exists():  # a concurrent upload of the same blob won
                return StoredBlob(sha, size, True)
            os.replace(tmp, final)
            ok = True
            log.info("stored blob %s (%d bytes)", sha[:12], size)
            return StoredBlob(sha, size, False)
        finally:
            if not ok:
                tmp.unlink(missing_ok=True)
                self.quota.release(size)

    def expire(self, cutoff: float, in_use: set) -> int:
        """Delete blobs not asked for or used since cutoff (epoch seconds), except those in use."""
        freed = 0
        for sub in self.root.iterdir():
            if not (sub.is_dir() and len(sub.name) == 2):
                continue
            for f in sub.iterdir():
                try:
                    st = f.stat()
                    if f.name in in_use or st.st_mtime >= cutoff:
                        continue
                    f.unlink()
                except FileNotFoundError:
                    continue
                freed += st.st_size
                log.info("expired blob %s (%d bytes, unused since the age limit)", f.name[:12], st.st_size)
        self.quota.release(freed)
        return freed

    def used_bytes(self) -> int:
        total = 0
        for sub in self.root.iterdir():
            if sub.is_dir() and len(sub.name) == 2:
                total += sum(f.stat().st_size for f in sub.iterdir() if f.is_file())
        return total


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except OSError:
        pass
