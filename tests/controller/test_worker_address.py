"""After an agent restart the worker names the device by where it is now, never by the dead agent's address."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Iterator, List

from controller import events as ev
from controller.agent_client import AgentUnreachable
from controller.campaign import Campaign
from controller.errors import DeviceUnreachable
from controller.store import Store
from controller.worker import DeviceWorker


class _DeadClient:
    """The first agent: it answers nothing (it was killed)."""

    def __init__(self, address: str) -> None:
        self.address = address

    def facts(self) -> None:
        raise AgentUnreachable(self.address, "connection refused")


class _Endpoint:
    def __init__(self, address: str) -> None:
        self.client = _DeadClient(address)
        self.address = address


def test_a_restart_that_fails_does_not_show_the_old_address(tmp_path: Path) -> None:
    attempts: List[int] = []

    @contextlib.contextmanager
    def open_endpoint() -> Iterator[_Endpoint]:
        attempts.append(1)
        if len(attempts) == 1:  # the first local agent started on port 41001, then died
            yield _Endpoint("127.0.0.1:41001")
            return
        # its restart fails before it has any address
        raise DeviceUnreachable("dev", "local", "local agent did not start: no such runner")

    events: List[ev.DeviceEvent] = []
    worker = DeviceWorker(
        "dev",
        "lite",
        Campaign(name="c", model="m.mge", checks=["shake"], repeats=2, retries=1),
        Store(tmp_path / "out", "c"),
        open_endpoint,
        {},
        events.append,
        threading.Event(),
        where="local",
    )
    worker.cancel_event.wait = lambda timeout=None: False  # no back-off in a test
    outcome = worker.work()
    assert len(attempts) == 2 and not outcome.healthy
    assert outcome.address == "local", outcome.address
    connecting = [e.detail for e in events if e.phase == ev.CONNECTING]
    assert connecting == ["local", "local"], connecting
