"""Run one configured program in its own process group: bounded output capture, timeout,
cancel, peak RSS (wait4) and a periodic tick for dump watching and quota checks."""

from __future__ import annotations

import collections
import json
import logging
import math
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

log = logging.getLogger(__name__)

#: Longest log line streamed; longer lines are cut (the tail files keep them whole up to the byte bound).
MAX_LINE = 4096
#: Wait-loop period: how often the exit, the deadline and the tick (quota checks) are looked at.
TICK_S = 0.01
KILL_GRACE_S = 1.0


@dataclass(frozen=True)
class Outcome:
    exit_code: int  # valid when signal == 0
    signal: int
    wall_s: float
    peak_rss_bytes: int
    stop_reason: Optional[str]  # "timeout" | "cancelled" | "quota" | None
    stop_detail: str
    stdout_tail: bytes
    stderr_tail: bytes


class _Tail:
    """Keeps the last `limit` bytes of a stream, line by line."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.lines: collections.deque[bytes] = collections.deque()
        self.size = 0
        self.dropped = False

    def add(self, line: bytes) -> None:
        self.lines.append(line)
        self.size += len(line)
        while self.size > self.limit and self.lines:
            self.size -= len(self.lines.popleft())
            self.dropped = True

    def value(self) -> bytes:
        head = b"[larfarm: earlier output dropped; only the tail is kept]\n" if self.dropped else b""
        return head + b"".join(self.lines)


class Process:
    """One execution. start(), then wait(); stop() may be called from any thread."""

    def __init__(
        self,
        argv: tuple[str, ...],
        env: dict[str, str],
        cwd: Path,
        timeout_s: float,
        on_log: Callable[[str, str], None],
        on_tick: Callable[[], Optional[str]],
        log_lines_max: int,
        log_tail_bytes: int,
        max_file_bytes: Optional[int] = None,
        next_tick_in: Optional[Callable[[], float]] = None,
    ) -> None:
        """next_tick_in: seconds until on_tick wants to run again (the wait loop sleeps at most TICK_S)."""
        if not (timeout_s > 0 and math.isfinite(timeout_s)):
            raise ValueError(f"timeout_s must be a positive finite number, got {timeout_s!r}")
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.timeout_s = timeout_s
        self.on_log = on_log
        self.on_tick = on_tick
        self.log_lines_max = log_lines_max
        self.log_tail_bytes = log_tail_bytes
        self.max_file_bytes = max_file_bytes
        self.next_tick_in = next_tick_in
        self._stop = threading.Event()
        self._stop_reason: Optional[str] = None
        self._stop_detail = ""
        self._popen: Optional[subprocess.Popen] = None
        self._streamed = 0
        self._streamed_lock = threading.Lock()

    def start(self) -> int:
        """Start the program (OSError when it cannot be executed); returns its pid."""
        self._t0 = time.monotonic()
        self._popen = subprocess.Popen(
            list(self.argv),
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # own process group: a timeout or cancel kills all of it
            close_fds=True,
        )
        if self.max_file_bytes is not None:
            _limit_file_size(self._popen.pid, self.max_file_bytes)
        self._tails = {"stdout": _Tail(self.log_tail_bytes), "stderr": _Tail(self.log_tail_bytes)}
        self._readers = [
            threading.Thread(target=self._read, args=(self._popen.stdout, "stdout"), daemon=True),
            threading.Thread(target=self._read, args=(self._popen.stderr, "stderr"), daemon=True),
        ]
        for t in self._readers:
            t.start()
        return self._popen.pid

    def stop(self, reason: str, detail: str = "") -> None:
        """Ask the process group to end (cancel, timeout, quota); wait() reports the reason."""
        if self._stop_reason is None:
            self._stop_reason, self._stop_detail = reason, detail
        self._stop.set()

    def _read(self, pipe, stream: str) -> None:
        tail = self._tails[stream]
        for raw in iter(lambda: pipe.readline(1 << 16), b""):
            tail.add(raw)
            with self._streamed_lock:
                n = self._streamed
                self._streamed += 1
            if n < self.log_lines_max:
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                self.on_log(stream, text[:MAX_LINE])
            elif n == self.log_lines_max:
                self.on_log(
                    stream, f"[larfarm: more than {self.log_lines_max} lines; the rest is only in {stream}.log]"
                )
        pipe.close()

    def _kill_group(self, sig: int) -> None:
        try:
            os.killpg(self._popen.pid, sig)  # type: ignore[union-attr]
        except (ProcessLookupError, PermissionError):
            pass

    def wait(self) -> Outcome:
        """Wait for the end (polling wait4 so timeout, cancel and ticks are served); then reap stragglers."""
        proc = self._popen
        if proc is None:
            raise RuntimeError("wait() before start()")
        deadline = self._t0 + self.timeout_s
        killed_at: Optional[float] = None
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            now = time.monotonic()
            if self._stop_reason is None and now >= deadline:
                self.stop("timeout", f"timed out after {self.timeout_s:g} s")
            if self._stop_reason is None:
                problem = self.on_tick()
                if problem:
                    self.stop("quota", problem)
            if self._stop_reason is not None:
                if self._stop_reason == "quota":
                    # no grace: every moment more it writes is beyond the quota
                    self._kill_group(signal.SIGKILL)
                    killed_at = killed_at or now
                elif killed_at is None:
                    self._kill_group(signal.SIGTERM)
                    killed_at = now
                elif now - killed_at > KILL_GRACE_S:
                    self._kill_group(signal.SIGKILL)
            self._stop.wait(TICK_S if self.next_tick_in is None else min(TICK_S, self.next_tick_in()))
        wall = time.monotonic() - self._t0
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -sig
        proc.returncode = code  # we reaped it ourselves; keep Popen consistent (no waitstatus_to_exitcode on 3.8)
        # Children left in the group would hold the pipes open: end them too.
        self._kill_group(signal.SIGKILL)
        for t in self._readers:
            t.join(timeout=5)
        return Outcome(
            exit_code=code,
            signal=sig,
            wall_s=wall,
            peak_rss_bytes=int(rusage.ru_maxrss) * 1024,  # Linux reports KiB
            stop_reason=self._stop_reason,
            stop_detail=self._stop_detail,
            stdout_tail=self._tails["stdout"].value(),
            stderr_tail=self._tails["stderr"].value(),
        )


def _limit_file_size(pid: int, limit: int) -> None:
    """RLIMIT_FSIZE for the started program: the kernel stops a file at `limit` bytes (SIGXFSZ).

    Set just after the start (prlimit), since a preexec_fn is not safe in a threaded agent; the
    program has only begun loading by then. Where prlimit is missing the quota checks still hold.
    """
    try:
        import resource

        resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, limit))
    except (ImportError, AttributeError, OSError, ValueError) as err:
        log.debug("cannot limit file size of pid %d: %s", pid, err)


def _start_ticks(pid: int) -> Optional[int]:
    """Process start time in clock ticks (/proc/<pid>/stat field 22): with the pid, names one process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def record_process(path: Path, pid: int) -> None:
    """Note a started program so a later agent can stop it if this one dies mid-run."""
    path.write_text(json.dumps({"pid": pid, "start": _start_ticks(pid)}))


def kill_recorded(path: Path) -> bool:
    """Kill the process group of a program an earlier agent left running; True when one was found.

    The start time must match, so a recycled pid is never touched.
    """
    try:
        data = json.loads(path.read_text())
        pid, start = int(data["pid"]), data["start"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if start is None or _start_ticks(pid) != start:
        return False
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    log.warning("killed process group %d left running by an earlier agent", pid)
    return True
