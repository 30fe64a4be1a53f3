"""Fixtures for the agent tests: real `agent serve` processes on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.support.agent import (
    PROGRAMS,
    RunningAgent,
    agent_factory,  # noqa: F401  (a fixture, used by name)
    script_runner,
    start_agent,
)

FAKE_DUMPER = PROGRAMS / "fake_dumper.py"


def standard_runners(tmp: Path) -> dict:
    """Runners every shared-agent test can use: named for what the program does."""
    return {
        "load_and_run": script_runner(
            FAKE_DUMPER,
            "--files",
            "4",
            "--delay",
            "0.05",
            extra_flags_allow=["--verbose-extra", "--profile"],
            env_allow=["OMP_NUM_THREADS"],
        ),
        "slow_dumper": script_runner(FAKE_DUMPER, "--files", "4", "--delay", "0.5"),
        "lite": script_runner(FAKE_DUMPER, "--files", "2", type="lite"),
        "failing": script_runner(FAKE_DUMPER, "--files", "1", "--exit-code", "3"),
        "crasher": script_runner(PROGRAMS / "crasher.py"),
        "flood": script_runner(PROGRAMS / "flood_output.py"),
        "sleeper": script_runner(PROGRAMS / "sleeper.py", str(tmp / "sleeper.pids")),
        "missing": {"path": "/nonexistent/load_and_run", "type": "load_and_run"},
    }


@pytest.fixture(scope="module")
def shared_agent(tmp_path_factory) -> Iterator[RunningAgent]:
    """One agent per test module, with the standard runners and a short default timeout."""
    base = tmp_path_factory.mktemp("agent")
    agent = start_agent(base, standard_runners(base), config={"run_timeout_s": 60, "log_lines_max": 50})
    yield agent
    agent.stop()


@pytest.fixture(scope="module")
def model_sha(shared_agent: RunningAgent) -> str:
    with shared_agent.client() as c:
        return c.upload_blob(b"not really a model, the fake dumper only hashes it")
