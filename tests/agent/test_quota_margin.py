"""A run that writes faster than any check is stopped within a small margin of the workspace quota.

Once, with a 20 MiB quota, one run wrote 335 MiB before it was stopped: the size was looked at
every 0.2 s, and a program that ignores SIGTERM had another second to write.
"""

from __future__ import annotations

import time

import pytest

from controller.agent_client import RunSpec
from tests.agent.conftest import PROGRAMS, script_runner

QUOTA = 20 << 20
FILLER = PROGRAMS / "disk_filler.py"
#: What a run may hold beyond the quota when it is stopped. Measured here (a writer at full speed,
#: 1 MiB files, 2 cores shared): see the printed figure; the bound leaves room for a loaded machine.
MARGIN = 8 << 20


def _stopped_run(agent):
    with agent.client() as c:
        model = c.upload_blob(b"m")
        t0 = time.monotonic()
        fin = list(c.run(RunSpec(model_sha256=model, timeout_s=60)))[-1]
        took = time.monotonic() - t0
    held = sum(p.stat().st_size for p in (agent.workspace / "runs").rglob("*") if p.is_file() and "/in/" not in str(p))
    return fin, held, took


@pytest.mark.parametrize("mode", [[], ["--one-file"]], ids=["many files", "one growing file"])
def test_a_fast_writer_is_stopped_near_the_quota(agent_factory, mode) -> None:
    agent = agent_factory(
        {"load_and_run": script_runner(FILLER, "--total", str(2 << 30), *mode)},
        config={"quota": QUOTA},
    )
    fin, held, took = _stopped_run(agent)
    assert fin.state == "quota_exceeded", fin
    print(f"quota {QUOTA >> 20} MiB: run stopped holding {held / (1 << 20):.1f} MiB after {took:.2f} s: {fin.error}")
    assert held <= QUOTA + MARGIN, f"{held / (1 << 20):.1f} MiB written with a {QUOTA >> 20} MiB quota"
