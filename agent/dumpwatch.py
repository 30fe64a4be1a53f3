"""Watch a run's output folder: its size (for the quota) and each binary dump file once it is complete.

MegEngine writes each dump file with one fwrite, one file after another, so a
file is complete as soon as a newer one appears, and every file is complete
once the process has ended.

Sizing and hashing are separate steps: `scan()` only lists and stats (cheap, run
every few milliseconds so a fast writer is stopped close to the quota), `report()`
hashes the complete files and may take longer.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Optional

from agent.errors import QuotaExceeded
from agent.manifest import BIN_DIR, FileEntry, Hasher
from agent.quota import Quota

log = logging.getLogger(__name__)


class DumpWatcher:
    def __init__(
        self, out_dir: Path, hasher: Hasher, run_dir: Optional[Path] = None, skip: Iterable[Path] = ()
    ) -> None:
        """run_dir: the program's working folder, whose files beyond out_dir and `skip` count too
        (a program may write beside its dump folder; those bytes use the disk all the same)."""
        self.out_dir = out_dir
        self.hasher = hasher
        self.run_dir = run_dir
        self.skip = tuple(str(p) for p in (out_dir, *skip))
        self.reported: dict[str, FileEntry] = {}

    def scan(self, final: bool = False) -> tuple[list[str], int]:
        """(complete bin dump files not yet reported, bytes now written), without reading any file."""
        files: list[tuple[int, str]] = []
        total = 0
        bin_dir = self.out_dir / BIN_DIR
        try:
            with os.scandir(bin_dir) as it:
                for e in it:
                    if e.is_file(follow_symlinks=False):
                        st = e.stat(follow_symlinks=False)
                        total += st.st_size
                        files.append((st.st_mtime_ns, e.name))
        except (FileNotFoundError, NotADirectoryError):
            pass
        total += _tree_bytes(self.out_dir, (str(bin_dir),))
        if self.run_dir is not None:
            total += _tree_bytes(self.run_dir, self.skip)
        files.sort()
        ready = files if final else files[:-1]  # the newest may still be being written
        return [f"{BIN_DIR}/{name}" for _mtime, name in ready if f"{BIN_DIR}/{name}" not in self.reported], total

    def report(self, names: Iterable[str]) -> list[FileEntry]:
        """Hash the given complete files; each is reported once."""
        new = []
        for rel in names:
            if rel in self.reported:
                continue
            entry = self.hasher.entry(self.out_dir, rel)
            if entry is not None:
                self.reported[rel] = entry
                new.append(entry)
        return new

    def poll(self, final: bool = False) -> tuple[list[FileEntry], int]:
        """(newly complete bin dump files, bytes now in the output folder)."""
        ready, total = self.scan(final)
        return self.report(ready), total


def _tree_bytes(root: Path, skip: tuple[str, ...] = ()) -> int:
    """Bytes of the regular files under root, symlinks not followed, the folders in `skip` left out."""
    total = 0
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            it = os.scandir(folder)
        except OSError:
            continue
        with it:
            for e in it:
                try:
                    if e.is_dir(follow_symlinks=False):
                        if e.path not in skip:
                            stack.append(e.path)
                    elif e.is_file(follow_symlinks=False):
                        total += e.stat(follow_symlinks=False).st_size
                except OSError:
                    continue  # gone meanwhile
    return total


#: Shortest gap between two quota checks of a running program's output.
QUOTA_POLL_S = 0.01
#: How often complete dump files are hashed and reported while the program runs.
REPORT_EVERY_S = 0.2


class RunWatch:
    """A running program's output: its size against the quota (the process's tick) and, on a thread
    of its own, complete dump files hashed and reported, so hashing big files never delays a check."""

    def __init__(self, watcher: DumpWatcher, quota: Quota, what: str, emit: Callable[[FileEntry], None]) -> None:
        self.watcher = watcher
        self.quota = quota
        self.what = what
        self.emit = emit
        self._next_check = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._report, name="dump-report", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def tick(self) -> Optional[str]:
        """None, or why the run must stop (its output outgrew the quota)."""
        now = time.monotonic()
        if now < self._next_check:
            return None
        _ready, size = self.watcher.scan()
        # a folder of many files takes a while to list: never spend more than a fifth of a core on it
        self._next_check = now + max(QUOTA_POLL_S, 4 * (time.monotonic() - now))
        try:
            self.quota.check_growth(size, self.what)
        except QuotaExceeded as err:
            return str(err)
        return None

    def _report(self) -> None:
        while not self._stop.wait(REPORT_EVERY_S):
            try:
                new = self.watcher.poll()[0]
            except OSError as err:  # a file swapped for something odd: the final manifest decides
                log.warning("%s: cannot report a dump file yet: %s", self.what, err)
                continue
            for entry in new:
                self.emit(entry)

    def finish(self) -> Optional[str]:
        """After the program ended: report the remaining files; why the output is over the quota, if it is."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        new, size = self.watcher.poll(final=True)
        for entry in new:
            self.emit(entry)
        try:
            self.quota.check_growth(size, self.what)
        except QuotaExceeded as err:
            return str(err)
        return None
