"""Scheduler overhead over 1, 4 and 8 devices, and bytes moved by digest-first shake checks.

Agents are started beforehand (like phones whose agents already run) and run a
fake load_and_run that takes a fixed 2 s per run and writes real-format dumps;
the 1-device campaign is the baseline of the 4- and 8-device figures.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import List

import yaml

from controller.campaign import load_campaign
from controller.campaign_run import run_campaign
from controller.farm import load_farm
from controller.local_agent import LocalAgent
from tests.controller.campaigns import FAKE_MODEL
from tests.controller.fake_lar import wrapper

REPO = Path(__file__).resolve().parents[1]
RUN_S = 2.0


def start_agents(n: int, program: Path) -> List[LocalAgent]:
    agents = [LocalAgent(f"dev{i}", "lite", program) for i in range(n)]
    for a in agents:
        a.start()
    return agents


def write_files(tmp: Path, agents: List[LocalAgent], campaign: str) -> None:
    devices = []
    for a in agents:
        token = tmp / f"{a.name}.token"
        token.write_text(a.token)
        devices.append({"name": a.name, "address": a.address, "token_file": token.name})
    (tmp / "farm.yaml").write_text(yaml.safe_dump({"devices": devices}))
    (tmp / "model.mge").write_bytes(FAKE_MODEL)
    (tmp / "campaign.yaml").write_text(campaign)


def timed_campaign(tmp: Path, agents: List[LocalAgent], campaign: str, tag: str):
    write_files(tmp, agents, campaign)
    out = tmp / f"out-{tag}"
    start = time.monotonic()
    report = run_campaign(load_farm(tmp / "farm.yaml"), load_campaign(tmp / "campaign.yaml"), out)
    return time.monotonic() - start, report


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="larfarm-bench-"))
    try:
        slow = wrapper(tmp / "slow_lar.py", REPO, vars=20, size=256, sleep_s=RUN_S)
        campaign = (
            "name: sched\nmodel: model.mge\ninputs:\n  data: {shape: [1, 8], seed: 1}\nchecks: [shake]\nrepeats: 3\n"
        )
        agents = start_agents(8, slow)
        try:
            times = {}
            for n in (1, 4, 8):
                wall, report = timed_campaign(tmp, agents[:n], campaign, f"n{n}")
                if not all(d.healthy for d in report.devices):
                    print(f"bench_scheduler: a device failed at n={n}", file=sys.stderr)
                    return 1
                times[n] = wall
                print(f"# {n} devices x 3 runs of {RUN_S:g} s: {wall:.2f} s", flush=True)
        finally:
            for a in agents:
                a.stop()
        print(f"BENCH scheduler_4dev_vs_1dev {times[4] / times[1]:.3f} x target <= 1.3")
        print(f"BENCH scheduler_8dev_vs_1dev {times[8] / times[1]:.3f} x target <= 1.3")

        shaky = wrapper(tmp / "shaky_lar.py", REPO, vars=100, size=4096, shake=0.1)
        agents = start_agents(1, shaky)
        try:
            shake = (
                "name: shake\nmodel: model.mge\ninputs:\n  data: {shape: [1, 8], seed: 1}\n"
                "checks: [shake]\nrepeats: 3\n"
            )
            _, needed = timed_campaign(tmp, agents, shake, "needed")
            _, full = timed_campaign(tmp, agents, shake + "fetch: all\n", "all")
        finally:
            for a in agents:
                a.stop()
        check = next(c for c in needed.checks if c.kind == "shake")
        pct = 100.0 * needed.bytes_fetched / needed.bytes_dumped
        print(
            f"# shake: {len(check.details['spread'])} of 100 vars shake; reproducible removes it: "
            f"{check.details['reproducible_removes_shake']}; fetched {needed.bytes_fetched} of "
            f"{needed.bytes_dumped} dumped bytes (fetch: all moved {full.bytes_fetched})"
        )
        print(f"BENCH shake_fetched_fraction {pct:.2f} % target <= 15")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
