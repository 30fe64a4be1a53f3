"""The per-device-queue scheduler: devices in parallel, jobs of one device in order, cancellation."""

from __future__ import annotations

import threading
import time
from typing import List

import pytest

from controller.errors import Cancelled
from controller.scheduler import PerDeviceQueueScheduler


class Job:
    def __init__(
        self,
        device: str,
        log: List[str],
        gate: threading.Event,
        wait: bool = False,
        after: threading.Event | None = None,
    ) -> None:
        self.after = after  # a non-waiting job first waits for this (another device's job started)
        self.started = threading.Event()
        self.device = device
        self.log = log
        self.gate = gate
        self.wait = wait
        self.cancelled = threading.Event()

    def work(self) -> str:
        self.log.append(f"start {self.device}")
        self.started.set()
        if self.after is not None and not self.after.wait(30):
            raise RuntimeError("the other device never started")
        if self.wait:
            # released by the other device's job, or by cancel(): proves both run at once
            if not self.gate.wait(30) and not self.cancelled.is_set():
                raise RuntimeError("never released")
            if self.cancelled.is_set():
                raise Cancelled("cancelled")
        else:
            self.gate.set()
        self.log.append(f"end {self.device}")
        return self.device

    def cancel(self) -> None:
        self.cancelled.set()
        self.gate.set()


def test_devices_run_in_parallel_and_results_keep_order() -> None:
    log: List[str] = []
    gate = threading.Event()
    a = Job("a", log, gate, wait=True)
    jobs = [a, Job("b", log, gate, after=a.started)]
    assert PerDeviceQueueScheduler().run(jobs) == ["a", "b"]
    assert log.index("start a") < log.index("end b") < log.index("end a")


def test_one_device_runs_its_jobs_in_order() -> None:
    log: List[str] = []
    gate = threading.Event()
    jobs = [Job("a", log, gate), Job("a", log, gate), Job("b", log, gate)]
    PerDeviceQueueScheduler().run(jobs)
    a_events = [e for e in log if e.endswith(" a")]
    assert a_events == ["start a", "end a", "start a", "end a"]


def test_job_error_is_raised_after_all_jobs_finish() -> None:
    class Bad(Job):
        def work(self) -> str:
            raise ValueError("boom")

    log: List[str] = []
    gate = threading.Event()
    with pytest.raises(ValueError, match="boom"):
        PerDeviceQueueScheduler().run([Bad("a", log, gate), Job("b", log, gate)])
    assert "end b" in log


@pytest.mark.timeout(300, method="thread")  # pytest-timeout's SIGALRM mode kept interrupt_main from landing
def test_interrupt_cancels_every_job() -> None:
    log: List[str] = []
    gate = threading.Event()
    jobs = [Job("a", log, gate, wait=True), Job("c", log, threading.Event(), wait=True)]
    sched = PerDeviceQueueScheduler()
    main = threading.current_thread()

    def interrupt() -> None:
        while "start c" not in log or "start a" not in log:
            time.sleep(0.01)
        import _thread

        _thread.interrupt_main()

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(Cancelled, match="--resume"):
        sched.run(jobs)
    assert all(j.cancelled.is_set() for j in jobs)
    assert main is threading.current_thread()
