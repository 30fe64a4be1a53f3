"""The agent never blocks on a FIFO put where a run's file was: hashing and Fetch refuse it at once."""

from __future__ import annotations

import os
import threading

import pytest

from agent.errors import UnsafePathError
from agent.manifest import sha256_of
from agent.paths import open_confined


def _within(fn, seconds: float = 10.0):
    out: dict = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as err:  # noqa: BLE001 - handed to the test
            out["error"] = err

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "blocked opening a FIFO"
    return out


@pytest.fixture
def fifo(tmp_path):
    (tmp_path / "bin").mkdir()
    path = tmp_path / "bin" / "000005"
    os.mkfifo(path)
    return path


def test_fetch_refuses_a_fifo_at_once(fifo, tmp_path) -> None:
    out = _within(lambda: open_confined(tmp_path, "bin/000005", "fetch"))
    assert isinstance(out.get("error"), UnsafePathError) and "not a regular file" in str(out["error"])


def test_hashing_refuses_a_fifo_at_once(fifo) -> None:
    out = _within(lambda: sha256_of(fifo))
    assert isinstance(out.get("error"), OSError) and "not a regular file" in str(out["error"])
