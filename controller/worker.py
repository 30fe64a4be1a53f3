"""One device's share of a campaign: upload, run the plan, fetch what the checks need, record it."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Callable, ContextManager, Dict, List, Mapping, Optional, Protocol

from controller import events as ev
from controller import plan
from controller.agent_client import AgentClient, AgentClientError, Facts, FileComplete, Finished, Started
from controller.campaign import Campaign
from controller.errors import Cancelled, ControllerError, DeviceUnreachable, RunFailed
from controller.graph_options import GraphOptions
from controller.ssh.errors import SshError
from controller.store import RunRecord, Store, sha256_file

log = logging.getLogger(__name__)

#: grace beyond the run's own timeout before the controller cancels it itself
DEADLINE_GRACE_S = 30.0
#: files per fetch call: small batches give progress updates and bound a lost stream's cost
FETCH_BATCH = 64


@dataclasses.dataclass
class DeviceOutcome:
    """How a device's work ended: records by role, or why the device is unhealthy."""

    device: str
    address: str
    records: Dict[str, RunRecord]
    healthy: bool = True
    reason: str = ""
    attempts: int = 0
    facts: Optional[Facts] = None  # None when the agent never answered
    # role -> one line: runs the program refused under the device's graph options (MegEngine's
    # message); the device stays healthy and its checks needing those runs say why they are skipped
    failed: Dict[str, str] = dataclasses.field(default_factory=dict)


class Endpointish(Protocol):
    """What an open_endpoint() context yields (controller.endpoint.Endpoint)."""

    client: AgentClient
    address: str


class DeviceWorker:
    """Runs one device's plan against its agent; the scheduler calls `work()` on a thread."""

    def __init__(
        self,
        device: str,
        runner: str,
        campaign: Campaign,
        store: Store,
        open_endpoint: Callable[[], ContextManager[Endpointish]],
        blobs: Mapping[str, Path],
        listener: ev.Listener,
        cancel: threading.Event,
        where: str,
        options: Optional[GraphOptions] = None,
    ) -> None:
        self.device = device
        self.options = options if options is not None else campaign.options  # the device's effective ones
        self.runner = runner
        self.campaign = campaign
        self.store = store
        self.open_endpoint = open_endpoint  # a connected AgentClient for this device, for one attempt
        self.blobs = blobs  # "model" and input names -> host files
        self.emit = listener
        self.cancel_event = cancel
        self.where = where
        # how farm.yaml reaches the device ("local", "ssh:host:22", an address): an agent restarted
        # between attempts may listen elsewhere, so each attempt starts from this, not the last address
        self.configured_where = where
        self._lock = threading.Lock()
        self._client: Optional[AgentClient] = None
        self._agent_run: Optional[str] = None
        self._runs_total = len(plan.base_runs(campaign, self.options))
        self._runs_done = 0
        self.failed: Dict[str, str] = {}

    # -- cancellation, called from another thread

    def cancel(self) -> None:
        """Ask the agent to stop the run in flight (Ctrl-C); the worker then stops."""
        self.cancel_event.set()
        self._cancel_remote()

    def _cancel_remote(self) -> None:
        with self._lock:
            client, run = self._client, self._agent_run
        if client is not None and run:
            try:
                client.cancel(run)
            except AgentClientError as exc:
                log.debug("%s: cancel of %s: %s", self.device, run, exc)

    # -- the job

    def _event(self, phase: str, detail: str = "", done: int = 0, total: int = 0, rate: float = 0.0) -> None:
        self.emit(ev.DeviceEvent(self.device, phase, detail, done, total, rate, self._runs_done, self._runs_total))

    def work(self) -> DeviceOutcome:
        """The device's plan with retries; never raises for device trouble (it is reported)."""
        attempts = self.campaign.retries + 1
        last = ""
        for attempt in range(1, attempts + 1):
            if self.cancel_event.is_set():
                raise Cancelled("cancelled")
            self._runs_done, self._runs_total = 0, len(plan.base_runs(self.campaign, self.options))
            self.where = self.configured_where
            try:
                self._event(ev.CONNECTING, self.where)
                with self.open_endpoint() as endpoint:
                    self.where = endpoint.address
                    outcome = self._attempt(endpoint.client)
                    outcome.attempts = attempt
                    outcome.address = endpoint.address
                    self._event(ev.DONE, f"{len(outcome.records)} runs")
                    return outcome
            except Cancelled:
                self._event(ev.CANCELLED)
                raise
            except (AgentClientError, ControllerError, OSError) as exc:  # SSH, local start, store, runs
                if self.cancel_event.is_set():
                    self._event(ev.CANCELLED)
                    raise Cancelled("cancelled") from None
                last = self._reason(exc)
                log.info("%s: attempt %d/%d failed: %s", self.device, attempt, attempts, last)
                if attempt < attempts:
                    self._event(ev.RETRY, f"attempt {attempt + 1}/{attempts}: {last}")
                    self.cancel_event.wait(min(2.0 * attempt, 5.0))  # back off, but wake for Ctrl-C
            finally:
                with self._lock:
                    self._client, self._agent_run = None, None
        self._event(ev.UNHEALTHY, last)
        return DeviceOutcome(self.device, self.where, {}, healthy=False, reason=last, attempts=attempts)

    def _reason(self, exc: Exception) -> str:
        """Why an attempt failed, without naming the device again: lines show `name (where): reason`."""
        if isinstance(exc, SshError) and exc.device == self.device:
            # the board's own sshd is already in `where`; a jump host is not
            where = f"ssh:{exc.where}"
            if where == self.where:
                return exc.what
            if where.startswith(self.where + " "):  # "<board> via jump <host:port>"
                return f"{where[len(self.where) + 1 :]}: {exc.what}"
            return f"{exc.where}: {exc.what}"
        if isinstance(exc, DeviceUnreachable) and exc.name == self.device:
            return f"unreachable: {exc.reason}"
        if isinstance(exc, RunFailed) and exc.device == self.device:
            return exc.reason if exc.run_id == "-" else f"run {exc.run_id} failed: {exc.reason}"
        return str(exc)

    def _attempt(self, client: AgentClient) -> DeviceOutcome:
        with self._lock:
            self._client = client
        known = client.facts()
        runner = next((r for r in known.runners if r.name == self.runner), None)
        if runner is None or not runner.available:
            have = ", ".join(r.name for r in known.runners if r.available) or "none"
            raise RunFailed(self.device, "-", f"agent has no usable runner {self.runner!r} (has: {have})")
        facts = dataclasses.asdict(known)  # as run.json and the report hold them
        shas = self._upload(client)
        records: Dict[str, RunRecord] = {}
        fresh: Dict[str, RunRecord] = {}
        todo = plan.base_runs(self.campaign, self.options)
        self.failed = {}
        self._run_all(client, todo, shas, facts, records, fresh)
        if not records:
            raise RunFailed(
                self.device, plan.run_id(self.device, plan.DEFAULT), self.failed.get(plan.DEFAULT, "no run")
            )
        if "shake" in self.campaign.checks and plan.DEFAULT in records:
            default = records[plan.DEFAULT]
            shaking = any(
                plan.differing(records[r], default) for r in plan.shake_roles(self.campaign) if r != plan.DEFAULT
            )
            if shaking:
                more = plan.repro_runs(self.campaign)
                self._runs_total += len(more)
                self._run_all(client, more, shas, facts, records, fresh)
        self._redo_stale(client, shas, facts, records, fresh)
        self._fetch(client, records, fresh)
        for rec in fresh.values():
            try:
                client.release(rec.agent_run_id)
            except AgentClientError as exc:
                log.debug("%s: release of %s: %s", self.device, rec.agent_run_id, exc)
        return DeviceOutcome(self.device, self.where, records, facts=known, failed=dict(self.failed))

    def _upload(self, client: AgentClient) -> Dict[str, str]:
        """Upload model and inputs as blobs; only those the agent lacks move any bytes."""
        digests = {key: sha256_file(path) for key, path in self.blobs.items()}
        missing = set(client.missing_blobs(sorted(set(digests.values()))))
        total = sum(self.blobs[k].stat().st_size for k, d in digests.items() if d in missing)
        done, start = 0, time.monotonic()
        for key, path in self.blobs.items():
            if digests[key] not in missing:
                continue
            self._event(ev.UPLOADING, path.name, done, total)
            client.upload_blob(path, sha256=digests[key])  # hashed just above
            missing.discard(digests[key])
            done += path.stat().st_size
            self._event(ev.UPLOADING, path.name, done, total, done / max(time.monotonic() - start, 1e-6))
        return digests

    def _run_all(
        self,
        client: AgentClient,
        todo: List[plan.PlannedRun],
        shas: Dict[str, str],
        facts: Dict[str, object],
        records: Dict[str, RunRecord],
        fresh: Dict[str, RunRecord],
    ) -> None:
        for planned in todo:
            if self.cancel_event.is_set():
                raise Cancelled("cancelled")
            rid = plan.run_id(self.device, planned.role)
            done = self.store.load_complete(rid)
            if done is not None:
                log.info("%s: %s complete in the store, not redone", self.device, rid)
                records[planned.role] = done
            else:
                try:
                    rec = self._run_one(client, planned, shas, facts)
                except OptionRunFailed as exc:
                    # The same options fail the same way on a retry: report it, run the rest.
                    self.failed[planned.role] = _one_line(exc.reason)
                    self._event(ev.RUNNING, f"{planned.role} failed: {self.failed[planned.role]}")
                    self._runs_done += 1
                    continue
                records[planned.role] = rec
                fresh[planned.role] = rec
            self._runs_done += 1

    def _run_one(
        self, client: AgentClient, planned: plan.PlannedRun, shas: Dict[str, str], facts: Dict[str, object]
    ) -> RunRecord:
        rid = plan.run_id(self.device, planned.role)
        # whatever an earlier, unfinished or superseded attempt left here is not this run's
        shutil.rmtree(self.store.run_dir(rid), ignore_errors=True)
        inputs = {k: v for k, v in shas.items() if k != "model"}
        spec = plan.build_spec(self.campaign, planned, self.runner, shas["model"], inputs, self.device, self.options)
        rec = RunRecord(
            run_id=rid,
            device=self.device,
            role=planned.role,
            spec=_jsonable(dataclasses.asdict(spec)),
            facts=facts,
            started_at=time.time(),
        )
        self._event(ev.RUNNING, planned.role)
        overdue = threading.Event()

        def deadline() -> None:  # the agent should have ended it by now: stop it from here
            overdue.set()
            self._cancel_remote()

        timer = threading.Timer(self.campaign.timeout_s + DEADLINE_GRACE_S, deadline)
        timer.daemon = True
        finished: Optional[Finished] = None
        files = 0
        try:
            timer.start()
            for event in client.run(spec):
                if isinstance(event, Started) or not self._agent_run:
                    with self._lock:
                        self._agent_run = event.run_id
                    rec.agent_run_id = event.run_id
                if self.cancel_event.is_set():
                    self._cancel_remote()
                if isinstance(event, FileComplete):
                    files += 1
                    self._event(ev.RUNNING, f"{planned.role}: {files} files")
                elif isinstance(event, Finished):
                    finished = event
        finally:
            timer.cancel()
            with self._lock:
                self._agent_run = None
        if self.cancel_event.is_set():
            raise Cancelled("cancelled")
        if finished is None:  # the client raises before this; kept for safety
            raise RunFailed(self.device, rid, "no finished event")
        rec.finished_at = time.time()
        rec.wall_s = finished.wall_s
        rec.state = finished.state
        rec.exit_code = finished.exit_code
        rec.error = finished.error
        rec.manifest = finished.manifest  # DumpRecords, var ids as the agent parsed them
        if not finished.ok:
            rec.status = "failed"
            self.store.save(rec)
            why = finished.error or f"exit {finished.exit_code}"
            if overdue.is_set():
                why = f"no result {self.campaign.timeout_s + DEADLINE_GRACE_S:g} s after it started; cancelled"
            # RunFailed already says "failed"; other end states (timed_out, cancelled) are named
            if finished.state == "failed" and not planned.plain and self.options.given():
                raise OptionRunFailed(self.device, rid, why)
            raise RunFailed(self.device, rid, why if finished.state == "failed" else f"{finished.state}: {why}")
        if not any(f.is_bin_dump for f in rec.manifest):
            rec.status = "failed"
            self.store.save(rec)
            raise RunFailed(self.device, rid, "the run wrote no binary dump files")
        return rec

    def _redo_stale(
        self,
        client: AgentClient,
        shas: Dict[str, str],
        facts: Dict[str, object],
        records: Dict[str, RunRecord],
        fresh: Dict[str, RunRecord],
    ) -> None:
        """Redo resumed runs that lack files a check now needs (e.g. a check added on --resume).

        With digest-first fetching a complete run holds only what the earlier checks
        needed; the rest lived on an agent that may be gone, so such a run is made again.
        """
        planned = {p.role: p for p in plan.base_runs(self.campaign, self.options) + plan.repro_runs(self.campaign)}
        for _ in range(len(planned)):
            need = plan.needed_files(self.campaign, records)
            stale = [r for r, rec in records.items() if r not in fresh and not need[r] <= set(rec.fetched)]
            if not stale:
                return
            for role in stale:
                log.warning("%s: %s lacks files a check needs now; redoing it", self.device, records[role].run_id)
                self._runs_total += 1
                records[role] = fresh[role] = self._run_one(client, planned[role], shas, facts)
                self._runs_done += 1

    def _fetch(self, client: AgentClient, records: Dict[str, RunRecord], fresh: Dict[str, RunRecord]) -> None:
        """Fetch what the checks need from the runs made now, verify, then mark them complete."""
        need = plan.needed_files(self.campaign, records)
        total = sum(fresh[r].size_of(n) for r in fresh for n in need[r])
        done, start = 0, time.monotonic()
        self._event(ev.FETCHING, "", 0, total)
        for role, rec in fresh.items():
            names = sorted(need[role])
            have = self.store.local_have(rec, names)
            todo = [n for n in names if n not in have]
            hashed = dict(have)  # digests taken from the bytes as they were read or received
            for i in range(0, len(todo), FETCH_BATCH):
                if self.cancel_event.is_set():
                    raise Cancelled("cancelled")
                got = client.fetch(rec.agent_run_id, self.store.run_dir(rec.run_id), todo[i : i + FETCH_BATCH], have)
                hashed.update((f.name, f.sha256) for f in got)
                n = sum(f.size for f in got)
                done += n
                rec.bytes_fetched += n
                self._event(ev.FETCHING, role, done, total, done / max(time.monotonic() - start, 1e-6))
            self.store.verify(rec, names, hashed)  # no second read of what the fetch just hashed
            rec.fetched = names
        for rec in fresh.values():
            rec.status = "complete"
            self.store.save(rec)


class OptionRunFailed(RunFailed):
    """A run with graph options that the program itself failed (the model cannot take an option)."""


def _one_line(text: str) -> str:
    """The last non-empty line of a program's error (MegEngine's message), for reports."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else text


def _jsonable(value: Any) -> Any:
    """A dataclass dict as JSON holds it: string keys, lists for tuples."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, GraphOptions):  # every option, so run.json says what was off too
        return value.model_dump()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
