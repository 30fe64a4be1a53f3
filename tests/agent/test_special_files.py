"""The agent never blocks on a FIFO put where a run's file was: hashing and Fetch refuse it at once."""

from __future__ import annotations

import os

import pytest

from agent.errors import UnsafePathError
from agent.manifest import sha256_of
from agent.paths import open_confined
from tests.support.bounded import finishes_within


@pytest.fixture
def fifo(tmp_path):
    (tmp_path / "bin").mkdir()
    path = tmp_path / "bin" / "000005"
    os.mkfifo(path)
    return path


def test_fetch_refuses_a_fifo_at_once(fifo, tmp_path) -> None:
    out = finishes_within(lambda: open_confined(tmp_path, "bin/000005", "fetch"), 10.0)
    assert isinstance(out.get("error"), UnsafePathError) and "not a regular file" in str(out["error"])


def test_hashing_refuses_a_fifo_at_once(fifo) -> None:
    out = finishes_within(lambda: sha256_of(fifo), 10.0)
    assert isinstance(out.get("error"), OSError) and "not a regular file" in str(out["error"])
