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
import resource
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
        self.largest = 0  # the largest file seen by the last scan (bin dump folder or any other)

    def scan(self, final: bool = False) -> tuple[list[str], int]:
        """(complete bin dump files not yet reported, bytes now written), without reading any file."""
        files: list[tuple[int, str]] = []
        total = largest = 0
        bin_dir = self.out_dir / BIN_DIR
        try:
            with os.scandir(bin_dir) as it:
                for e in it:
                    if e.is_file(follow_symlinks=False):
                        st = e.stat(follow_symlinks=False)
                        total += st.st_size
                        largest = max(largest, st.st_size)
                        files.append((st.st_mtime_ns, e.name))
        except (FileNotFoundError, NotADirectoryError):
            pass
        sizes = [_tree_bytes(self.out_dir, (str(bin_dir),))]
        if self.run_dir is not None:
            sizes.append(_tree_bytes(self.run_dir, self.skip))
        total += sum(n for n, _ in sizes)
        self.largest = max([largest] + [big for _, big in sizes])
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


def _tree_bytes(root: Path, skip: tuple[str, ...] = ()) -> tuple[int, int]:
    """(bytes, largest file) of the regular files under root, symlinks not followed, `skip` left out."""
    total = largest = 0
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
                        n = e.stat(follow_symlinks=False).st_size
                        total += n
                        largest = max(largest, n)
                except OSError:
                    continue  # gone meanwhile
    return total, largest


#: Longest gap between two full quota checks (listing and sizing the output) of a running program.
QUOTA_POLL_S = 0.01
#: Gap between two quick looks at how many bytes the program has written (/proc/<pid>/io, one small
#: read): a dump writer can put 2-3 GB/s into the page cache, 20-30 MiB within one full-check gap.
QUOTA_FAST_POLL_S = 0.001
#: Within this many bytes of the quota, the program only gets CPU time nobody else wants (SCHED_IDLE).
NEAR_QUOTA_BYTES = 64 << 20
#: How often complete dump files are hashed and reported while the program runs.
REPORT_EVERY_S = 0.2


def written_bytes(pid: int) -> Optional[int]:
    """Bytes the process has passed to write() so far (/proc/<pid>/io wchar); None where unreadable."""
    try:
        with open(f"/proc/{pid}/io", "rb") as f:
            for line in f:
                if line.startswith(b"wchar:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


class RunWatch:
    """A running program's output: its size against the quota (the process's tick) and, on a thread
    of its own, complete dump files hashed and reported, so hashing big files never delays a check.

    Listing a dump folder every millisecond would cost too much, and every 10 ms is too slow for a
    fast writer (on 2 busy cores the overshoot reached 12-30 MiB over a 20 MiB quota), so between
    full checks the bytes the program has written are read every millisecond, and a full check runs
    as soon as they could have filled the free quota. Every full check also lowers the program's
    RLIMIT_FSIZE to the largest file plus the free bytes, so the kernel stops a file (SIGXFSZ) there.
    """

    def __init__(
        self, watcher: DumpWatcher, quota: Quota, what: str, emit: Callable[[FileEntry], None], dumping: bool = True
    ) -> None:
        """dumping: the run writes per-var dumps, so near the quota it may yield the CPU (see _yield_cpu)."""
        self.watcher = watcher
        self.dumping = dumping
        self.quota = quota
        self.what = what
        self.emit = emit
        self.pid: Optional[int] = None  # the program, once started
        self._file_limit: Optional[int] = None
        self._idle = False  # whether the program was made SCHED_IDLE
        self._next_check = 0.0
        self._written: Optional[int] = None  # the program's written bytes at the last full check
        self._left = 0  # free bytes after the last full check
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._report, name="dump-report", daemon=True)

    def start(self, pid: Optional[int] = None) -> None:
        self.pid = pid
        self._thread.start()

    def tick(self) -> Optional[str]:
        """None, or why the run must stop (its output outgrew the quota)."""
        now = time.monotonic()
        written = written_bytes(self.pid) if self.pid is not None else None
        if now < self._next_check and not self._may_be_over(written):
            return None
        cpu0 = time.thread_time()
        _ready, size = self.watcher.scan()
        cost = time.thread_time() - cpu0  # CPU time: on a loaded machine wall time counts the waits too
        self._written, self._left = written, self.quota.free() - size
        self._limit_files(self.watcher.largest + self._left)
        if self.dumping and self._left < NEAR_QUOTA_BYTES:
            self._yield_cpu()
        # a folder of many files takes a while to list: never spend more than a fifth of a core on it
        self._next_check = now + max(QUOTA_POLL_S, 4 * cost)
        try:
            self.quota.check_growth(size, self.what)
        except QuotaExceeded as err:
            return str(err)
        return None

    def _may_be_over(self, written: Optional[int]) -> bool:
        """Whether what the program wrote since the last full check could have used up the free bytes
        (an overestimate: rewritten files and log lines count too, so it only triggers a full check)."""
        if written is None or self._written is None:
            return False
        return written - self._written >= self._left

    def next_check_in(self) -> float:
        """Seconds until the next look is due (the process's wait loop sleeps no longer)."""
        if self.dumping and self._written is not None:  # a run without dumps is not woken every millisecond
            return QUOTA_FAST_POLL_S
        return max(0.0, self._next_check - time.monotonic())

    def _yield_cpu(self) -> None:
        """Near the quota, make the program's threads SCHED_IDLE: a core running only such threads
        counts as idle, so the checking thread, when it wakes, preempts the writer at once instead of
        waiting for another task's time slice while the writer goes on (on 2 busy cores a writer did
        15 MiB in one 5 ms wait; a nice +5..+10 writer still overshot: the wait is on the other core).
        Only dumping runs: those are not timing runs (writing every var dominates their time) and
        their dumped values do not depend on scheduling; only a run within 64 MiB of a full workspace
        on a busy machine is slowed. Runs without dumps keep their priority. Later threads inherit it."""
        if self.pid is None or self._idle:
            return
        self._idle = True
        try:
            tids = os.listdir(f"/proc/{self.pid}/task")
        except OSError:
            tids = [str(self.pid)]
        for tid in tids:
            try:
                os.sched_setscheduler(int(tid), os.SCHED_IDLE, os.sched_param(0))
            except (AttributeError, OSError, ValueError) as err:  # gone, or not Linux
                log.debug("cannot make thread %s of pid %d SCHED_IDLE: %s", tid, self.pid, err)

    def _limit_files(self, most: int) -> None:
        """Lower the program's RLIMIT_FSIZE soft limit to one byte past `most` (the largest file plus
        the free bytes: the file being written may use them all; past: a file stopped there is over
        the quota, not a run that merely failed); only ever downwards."""
        limit = max(1, most + 1)
        if self.pid is None or (self._file_limit is not None and limit >= self._file_limit):
            return
        try:
            hard = resource.prlimit(self.pid, resource.RLIMIT_FSIZE)[1]
            resource.prlimit(self.pid, resource.RLIMIT_FSIZE, (limit if hard < 0 else min(limit, hard), hard))
            self._file_limit = limit
        except (AttributeError, OSError, ValueError) as err:  # gone already, or no prlimit (not Linux)
            log.debug("cannot lower the file size limit of pid %d: %s", self.pid, err)
            self.pid = None

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
