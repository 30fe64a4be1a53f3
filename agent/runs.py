"""Run manager: one run at a time per device, a queue with positions, cancel, release, age limit.

Each run lives in <workspace>/runs/<run id>/ (in/: staged blobs, out/: what the
program wrote, run.json: the finished record, see agent.records).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Iterator, Mapping, Optional, Sequence

from agent import events as ev
from agent import records
from agent.blobs import BlobStore
from agent.config import AgentConfig
from agent.dumpwatch import DumpWatcher, RunWatch
from agent.errors import NotFoundError, QuotaExceeded, RequestError, StateError
from agent.manifest import FileEntry, Hasher, build_manifest
from agent.process import Process, record_process
from agent.quota import Quota, tree_size
from agent.runners import IN_DIR, OUT_DIR, Runner, make_runner
from agent.spec import RunRequest, check_numbers

log = logging.getLogger(__name__)

_RUN_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]{0,63}$")
EXPIRE_EVERY_S = 60.0


def run_timeout(asked: float, default: float, cap: float) -> float:
    """The deadline a run gets: asked (0: the default), never above cap, always finite.

    Written so that a NaN anywhere ends at the cap: `min(nan, cap)` is nan, which no clock reaches.
    """
    timeout = asked if asked > 0 else default
    return timeout if timeout <= cap else cap


class Run:
    """One run's state and its event log; readers block on the condition for new events."""

    def __init__(self, run_id: str, req: RunRequest, folder: Path) -> None:
        self.id = run_id
        self.req = req
        self.folder = folder
        self.state = ev.QUEUED
        self.position = 0
        self.created = time.time()
        self.ended: Optional[float] = None
        self.finished: Optional[ev.FinishedRecord] = None
        self.completed: dict[str, FileEntry] = {}
        self.process: Optional[Process] = None
        self.cancel_requested = False
        self._events: list[ev.Event] = []
        self._cond = threading.Condition()

    @property
    def out_dir(self) -> Path:
        return self.folder / OUT_DIR

    def emit(self, event: ev.Event) -> None:
        with self._cond:
            self._events.append(event)
            if isinstance(event, ev.FileEvent):
                self.completed[event.entry.name] = event.entry
            self._cond.notify_all()

    def follow(self, poll_s: float = 1.0) -> Iterator[Optional[ev.Event]]:
        """Every event from the first, until (and including) finished.

        Yields None after poll_s without news, so a reader can notice its caller has gone.
        """
        i = 0
        while True:
            with self._cond:
                if i >= len(self._events):
                    self._cond.wait(poll_s)
                batch = self._events[i:]
            if not batch:
                yield None
                continue
            i += len(batch)
            for e in batch:
                yield e
                if isinstance(e, ev.FinishedEvent):
                    return


class RunManager:
    """Owns the queue, the single worker thread and every run's folder."""

    def __init__(self, config: AgentConfig, blobs: BlobStore, quota: Quota) -> None:
        self.config = config
        self.blobs = blobs
        self.quota = quota
        self.root = config.workspace / "runs"
        self.root.mkdir(parents=True, exist_ok=True)
        self.runners: dict[str, Runner] = {r.name: make_runner(r) for r in config.runners}
        self._runs: dict[str, Run] = {}
        self._queue: list[Run] = []
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closing = False
        self._load_previous()
        self._worker = threading.Thread(target=self._work, name="run-worker", daemon=True)
        self._worker.start()

    # --- queries

    def get(self, run_id: str) -> Run:
        if not _RUN_ID.match(run_id or ""):
            raise RequestError(f"run id {run_id[:70]!r} is malformed")
        with self._lock:
            run = self._runs.get(run_id)
        if run is None:
            raise NotFoundError(f"run {run_id} does not exist on this agent (released or expired?)")
        return run

    def run_bytes(self) -> int:
        return sum(tree_size(p / OUT_DIR) for p in self.root.iterdir() if p.is_dir())

    # --- submit / cancel / release

    def submit(self, req: RunRequest) -> Run:
        """Validate and queue a run; errors here reach the caller before any event."""
        check_numbers(req)
        runner = self.runners.get(req.runner)
        if runner is None:
            known = ", ".join(sorted(self.runners)) or "none configured"
            raise RequestError(f"runner {req.runner!r} is not configured on this agent (known: {known})")
        runner.validate(req)
        self.blobs.require(req.model_sha256, "model")
        for item in req.inputs:
            if item.blob_sha256 is not None:
                self.blobs.require(item.blob_sha256, f"input {item.name!r}")
        if req.fast_run_algo_policy_sha256:
            self.blobs.require(req.fast_run_algo_policy_sha256, "fast_run_algo_policy")
        if self.quota.free() <= 0:
            raise QuotaExceeded("the workspace quota is used up; release finished runs first")
        self.expire()
        with self._lock:
            if self._closing:
                raise StateError("the agent is shutting down")
            if len(self._queue) >= self.config.max_queued_runs:
                raise QuotaExceeded(f"{len(self._queue)} runs are already queued (max_queued_runs)")
            run_id = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(4)}"
            run = Run(run_id, req, self.root / run_id)
            running = any(r.state == ev.RUNNING for r in self._runs.values())
            run.position = len(self._queue) + (1 if running else 0)
            self._runs[run_id] = run
            self._queue.append(run)
            run.emit(ev.QueuedEvent(run.position))
            self._wake.notify_all()
        log.info("queued run %s (runner %s) at position %d", run_id, req.runner, run.position)
        return run

    def cancel(self, run_id: str) -> str:
        run = self.get(run_id)
        with self._lock:
            if run.state == ev.QUEUED and run in self._queue:
                self._queue.remove(run)
                self._finish(run, ev.FinishedRecord(state=ev.CANCELLED, error="cancelled while queued"))
                self._renumber()
                return run.state
            run.cancel_requested = True
            proc = run.process
        if proc is not None:
            proc.stop("cancelled", "cancelled by request")
        return run.state

    def release(self, run_id: str) -> int:
        run = self.get(run_id)
        if run.state not in ev.FINAL_STATES:
            raise StateError(f"run {run_id} is {run.state.lower()}; cancel it before releasing it")
        with self._lock:
            self._runs.pop(run_id, None)
        freed = tree_size(run.out_dir)
        shutil.rmtree(run.folder, ignore_errors=True)
        self.quota.release(freed)
        log.info("released run %s (%d bytes)", run_id, freed)
        return freed

    def expire(self) -> None:
        """Drop finished runs older than keep_finished_s, and blobs unused for as long."""
        cutoff = time.time() - self.config.keep_finished_s
        with self._lock:
            old = [r.id for r in self._runs.values() if r.ended is not None and r.ended < cutoff]
            waiting = [r.req for r in self._runs.values() if r.state in (ev.QUEUED, ev.RUNNING)]
        for run_id in old:
            try:
                self.release(run_id)
            except (NotFoundError, StateError):
                pass
        in_use = set()
        for req in waiting:
            in_use.add(req.model_sha256)
            in_use.add(req.fast_run_algo_policy_sha256)
            in_use.update(i.blob_sha256 for i in req.inputs if i.blob_sha256)
        self.blobs.expire(cutoff, in_use)

    def fetch_plan(
        self, run_id: str, names: Sequence[str], have: Mapping[str, str]
    ) -> tuple[Path, list[FileEntry], list[str]]:
        """(output folder, entries to send, names skipped): only manifest names are ever served."""
        run = self.get(run_id)
        if run.finished is not None:
            available = {e.name: e for e in run.finished.manifest}
        elif run.state == ev.RUNNING:
            available = dict(run.completed)  # files already complete while the run goes on
        else:
            raise StateError(f"run {run_id} has not started yet")
        if names:
            missing = [n for n in names if n not in available]
            if missing:
                raise NotFoundError(f"run {run_id} has no file {missing[0][:100]!r}")
            wanted = [available[n] for n in dict.fromkeys(names)]
        else:
            wanted = [available[n] for n in sorted(available)]
        send = [e for e in wanted if have.get(e.name) != e.sha256]
        skipped = [e.name for e in wanted if have.get(e.name) == e.sha256]
        return run.out_dir, send, skipped

    def close(self) -> None:
        """Stop taking runs, cancel the queue and kill the running one (agent shutdown)."""
        with self._lock:
            self._closing = True
            queued = list(self._queue)
            running = [r for r in self._runs.values() if r.state == ev.RUNNING]
            self._wake.notify_all()
        for r in queued + running:
            try:
                self.cancel(r.id)
            except NotFoundError:
                pass
        self._worker.join(timeout=10)

    # --- worker

    def _renumber(self) -> None:
        """Tell queued runs their new position (caller holds the lock)."""
        running = any(r.state == ev.RUNNING for r in self._runs.values())
        for i, r in enumerate(self._queue):
            pos = i + (1 if running else 0)
            if pos != r.position:
                r.position = pos
                r.emit(ev.QueuedEvent(pos))

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closing:
                    if not self._wake.wait(EXPIRE_EVERY_S):
                        break
                if not self._queue:
                    if self._closing:
                        return
                    idle = True
                else:
                    idle = False
            if idle:
                self.expire()  # finished runs past keep_finished_s go even when no run comes
                continue
            with self._lock:
                if not self._queue:
                    continue
                run = self._queue.pop(0)
                run.state = ev.RUNNING
                run.position = 0
                self._renumber()
            try:
                self._execute(run)
            except Exception as err:  # an agent bug must not kill the worker: report it on the run
                log.exception("run %s failed inside the agent", run.id)
                with self._lock:
                    if run.finished is None:
                        self._finish(run, ev.FinishedRecord(state=ev.FAILED, error=f"agent error: {err}"))

    def _execute(self, run: Run) -> None:
        cfg = self.config
        runner = self.runners[run.req.runner]
        run.folder.mkdir(parents=True)
        try:
            cmd = runner.prepare(run.req, run.folder, self.blobs, dict(os.environ))
        except (RequestError, NotFoundError) as err:
            self._conclude(run, ev.FinishedRecord(state=ev.START_FAILED, error=str(err)))
            return
        timeout = run_timeout(run.req.timeout_s, cfg.run_timeout_s, cfg.max_run_timeout_s)
        hasher = Hasher()
        watcher = DumpWatcher(run.out_dir, hasher, run.folder, skip=(run.folder / IN_DIR,))
        watch = RunWatch(
            watcher,
            self.quota,
            f"run {run.id}'s output",
            lambda entry: run.emit(ev.FileEvent(entry)),
            dumping=bool(run.req.bin_io_dump or run.req.io_dump),
        )
        proc = Process(
            cmd.argv,
            cmd.env,
            run.folder,
            timeout,
            on_log=lambda stream, text: run.emit(ev.LogEvent(stream, text)),
            on_tick=watch.tick,
            log_lines_max=cfg.log_lines_max,
            log_tail_bytes=cfg.log_tail_bytes,
            # one file can never pass the free quota: the kernel stops it (SIGXFSZ) before any check
            max_file_bytes=self.quota.free() + 1,
            next_tick_in=watch.next_check_in,
        )
        with self._lock:
            if run.cancel_requested:
                self._conclude_locked(run, ev.FinishedRecord(state=ev.CANCELLED, error="cancelled before start"))
                return
            try:
                pid = proc.start()
            except OSError as err:
                self._conclude_locked(
                    run, ev.FinishedRecord(state=ev.START_FAILED, error=f"cannot start {cmd.argv[0]}: {err.strerror}")
                )
                return
            run.process = proc
        log.info("run %s started pid %d: %s", run.id, pid, " ".join(cmd.argv))
        record_process(run.folder / records.PROCESS_RECORD, pid)
        run.emit(ev.StartedEvent(cmd.argv, cmd.env_set, pid))
        watch.start(pid)
        out = proc.wait()
        over = watch.finish()
        (run.out_dir / "stdout.log").write_bytes(out.stdout_tail)
        (run.out_dir / "stderr.log").write_bytes(out.stderr_tail)
        manifest = tuple(build_manifest(run.out_dir, hasher))
        state, error = self._judge(out, over)
        record = ev.FinishedRecord(
            state=state,
            exit_code=out.exit_code,
            signal=out.signal,
            wall_s=out.wall_s,
            peak_rss_bytes=out.peak_rss_bytes,
            error=error,
            manifest=manifest,
        )
        self.quota.add(sum(e.size for e in manifest))
        self._conclude(run, record)

    @staticmethod
    def _judge(out, over: Optional[str] = None) -> tuple[str, str]:
        if out.stop_reason == "quota":
            return ev.QUOTA_EXCEEDED, out.stop_detail + "; the run was stopped"
        if over is not None or out.signal == signal.SIGXFSZ:
            # what it wrote between the last check and its end, or the one file the kernel stopped
            return ev.QUOTA_EXCEEDED, (over or "a file outgrew the free workspace quota") + "; the run was stopped"
        if out.stop_reason == "timeout":
            return ev.TIMED_OUT, out.stop_detail
        if out.stop_reason == "cancelled":
            return ev.CANCELLED, out.stop_detail
        if out.signal:
            return ev.FAILED, f"killed by signal {out.signal}"
        if out.exit_code != 0:
            last = out.stderr_tail.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            return ev.FAILED, f"exit code {out.exit_code}" + (f": {last[0][:300]}" if last[0] else "")
        return ev.SUCCEEDED, ""

    def _conclude(self, run: Run, record: ev.FinishedRecord) -> None:
        with self._lock:
            self._conclude_locked(run, record)

    def _conclude_locked(self, run: Run, record: ev.FinishedRecord) -> None:
        self._finish(run, record)
        run.process = None
        self._renumber()

    def _finish(self, run: Run, record: ev.FinishedRecord) -> None:
        """Record the end (caller holds the lock): persist run.json, then emit finished."""
        run.state = record.state
        run.finished = record
        run.ended = time.time()
        if run.folder.is_dir():
            records.save(run.folder, records.StoredRun(run.id, run.req.label, run.req.runner, run.ended, record))
        log.info("run %s %s %s", run.id, record.state.lower(), record.error)
        run.emit(ev.FinishedEvent(record))

    def _load_previous(self) -> None:
        """Pick up the runs kept by an earlier agent process (see agent.records)."""
        for folder in sorted(self.root.iterdir()):
            if not folder.is_dir() or not _RUN_ID.match(folder.name):
                continue
            stored = records.load(folder)
            run = Run(folder.name, RunRequest(runner=stored.runner, model_sha256="", label=stored.label), folder)
            run.state, run.finished, run.ended = stored.record.state, stored.record, stored.ended
            run.emit(ev.FinishedEvent(stored.record))
            self._runs[run.id] = run
