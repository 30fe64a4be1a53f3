"""Workspace quota: one byte budget shared by blobs and run folders."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from agent.errors import QuotaExceeded


def tree_size(root: Path) -> int:
    """Bytes of the regular files under root (symlinks are not followed)."""
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except FileNotFoundError:
                continue
            total += st.st_size
    return total


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


class Quota:
    """Counts bytes held (blobs + finished runs) and reserved (uploads in flight)."""

    def __init__(self, limit: int, used: int = 0) -> None:
        self.limit = limit
        self._used = used
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        with self._lock:
            return self._used

    def free(self) -> int:
        with self._lock:
            return max(0, self.limit - self._used)

    def reserve(self, n: int, what: str) -> None:
        """Take n bytes or raise QuotaExceeded saying how much is free."""
        with self._lock:
            if self._used + n > self.limit:
                raise QuotaExceeded(
                    f"{what} needs {_human(n)} but only {_human(max(0, self.limit - self._used))} "
                    f"of the {_human(self.limit)} workspace quota is free; release finished runs"
                )
            self._used += n

    def add(self, n: int) -> None:
        """Account for n bytes already on disk (may go over the limit; later reserves fail)."""
        with self._lock:
            self._used += n

    def release(self, n: int) -> None:
        with self._lock:
            self._used = max(0, self._used - n)

    def check_growth(self, extra: int, what: str) -> None:
        """Raise QuotaExceeded when extra bytes on top of what is held exceed the limit."""
        with self._lock:
            over = self._used + extra > self.limit
            free = max(0, self.limit - self._used)
        if over:
            raise QuotaExceeded(
                f"{what} outgrew the workspace quota: {_human(extra)} written, "
                f"{_human(free)} of {_human(self.limit)} was free"
            )
