"""Scheduling device work: an interface, and one implementation with a queue per device.

Work is I/O-bound (gRPC to agents that compute off-host), so one thread per
device suffices; all devices proceed in parallel, each device's jobs in order.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Callable, Dict, List, Optional, Protocol, Sequence, TypeVar

from controller.errors import Cancelled

log = logging.getLogger(__name__)

T = TypeVar("T")

#: how long Ctrl-C waits for the agents to confirm their runs stopped
CANCEL_WAIT_S = 20.0


class Job(Protocol):
    """A unit of device work: `work()` runs it, `cancel()` stops it from another thread."""

    device: str

    def work(self): ...

    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """Runs jobs and returns their results in submission order."""

    def run(self, jobs: Sequence[Job]) -> List[object]: ...


class _DeviceQueue:
    """One device's queue, drained in order by its own thread."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.jobs: queue.Queue[Optional[tuple[Job, Future]]] = queue.Queue()
        self.thread = threading.Thread(target=self._drain, name=f"device-{device}", daemon=True)
        self.thread.start()

    def submit(self, job: Job) -> Future:
        fut: Future = Future()
        self.jobs.put((job, fut))
        return fut

    def close(self) -> None:
        self.jobs.put(None)

    def _drain(self) -> None:
        while True:
            item = self.jobs.get()
            if item is None:
                return
            job, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(job.work())
            except BaseException as exc:  # handed to the waiting thread, which re-raises
                fut.set_exception(exc)


class PerDeviceQueueScheduler:
    """All devices in parallel, each device's jobs one after another."""

    def __init__(self, on_cancel: Optional[Callable[[], None]] = None) -> None:
        self.on_cancel = on_cancel

    def run(self, jobs: Sequence[Job]) -> List[object]:
        queues: Dict[str, _DeviceQueue] = {}
        futures: List[Future] = []
        for job in jobs:
            q = queues.get(job.device)
            if q is None:
                q = queues[job.device] = _DeviceQueue(job.device)
            futures.append(q.submit(job))
        for q in queues.values():
            q.close()
        try:
            for fut in futures:
                # short waits keep the main thread able to take Ctrl-C
                while True:
                    try:
                        fut.result(timeout=0.2)
                        break
                    except FutureTimeout:
                        continue
                    except Cancelled:
                        raise
                    except Exception:
                        break  # collected below, after every job is done
        except (KeyboardInterrupt, Cancelled):
            self._cancel(jobs, futures, queues)
            raise Cancelled(
                "interrupted: runs on the agents were cancelled; completed runs are kept "
                "in the store (continue with --resume)"
            ) from None
        results: List[object] = []
        for fut in futures:
            exc = fut.exception()  # every future is done here
            if exc is not None:
                raise exc
            results.append(fut.result())
        return results

    def _cancel(self, jobs: Sequence[Job], futures: List[Future], queues: Dict[str, _DeviceQueue]) -> None:
        log.warning("cancelling: stopping runs on the agents")
        if self.on_cancel is not None:
            self.on_cancel()
        for fut in futures:
            fut.cancel()
        for job in jobs:
            job.cancel()
        for q in queues.values():
            q.thread.join(CANCEL_WAIT_S / max(len(queues), 1))
