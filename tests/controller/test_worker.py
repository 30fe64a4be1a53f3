"""Worker behaviour against a real agent on loopback: upload dedup, shake with --reproducible, deadlines."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, List

import pytest
import yaml

from controller import events as ev
from controller.campaign import load_campaign
from controller.campaign_run import run_campaign
from controller.farm import load_farm
from controller.local_agent import LocalAgent
from controller.store import open_stored_run
from tests.controller.campaigns import fake_program, write_fake_campaign


@pytest.fixture
def agent_factory(tmp_path: Path) -> Iterator:
    started: List[LocalAgent] = []

    def start(name: str, **settings: object) -> LocalAgent:
        agent = LocalAgent(name, "lite", fake_program(tmp_path, name, **settings))
        agent.start()
        started.append(agent)
        return agent

    yield start
    for a in started:
        a.stop()


def farm_of(tmp: Path, agents: List[LocalAgent]) -> Path:
    devices = []
    for a in agents:
        (tmp / f"{a.name}.token").write_text(a.token + "\n")
        devices.append({"name": a.name, "address": a.address, "token_file": f"{a.name}.token"})
    (tmp / "farm.yaml").write_text(yaml.safe_dump({"devices": devices}))
    return tmp / "farm.yaml"


def test_second_campaign_uploads_nothing(tmp_path: Path, agent_factory) -> None:
    agent = agent_factory("dev", vars=10, size=16)
    farm = load_farm(farm_of(tmp_path, [agent]))
    camp = load_campaign(write_fake_campaign(tmp_path, "[shake]"))
    first: List[ev.DeviceEvent] = []
    run_campaign(farm, camp, tmp_path / "o1", listener=first.append)
    second: List[ev.DeviceEvent] = []
    report = run_campaign(farm, camp, tmp_path / "o2", listener=second.append)
    assert any(e.phase == ev.UPLOADING for e in first)
    assert not any(e.phase == ev.UPLOADING for e in second)  # the agent has both blobs by digest
    assert report.devices[0].healthy and report.devices[0].address == agent.address
    assert report.devices[0].facts["cpu_cores"] >= 1 and report.devices[0].facts["hostname"]
    # run.json keeps the agent's manifest: the var ids the agent parsed, and every file checks out
    stored = open_stored_run(tmp_path / "o2" / "fake" / "dev.default")
    dumps = [r for r in stored.dump_records() if r.is_bin_dump]
    assert len(dumps) == 10 and all(r.name == f"bin/{r.var_id:06x}" for r in dumps)


def test_shake_then_reproducible_removes_it(tmp_path: Path, agent_factory) -> None:
    agent = agent_factory("shaky", vars=20, size=64, shake=0.1)
    report = run_campaign(
        load_farm(farm_of(tmp_path, [agent])), load_campaign(write_fake_campaign(tmp_path, "[shake]")), tmp_path / "out"
    )
    shake = report.checks[0]
    assert shake.kind == "shake" and shake.status == "differs"
    assert set(shake.details["spread"]) == {"10", "20"}  # every 10th var shakes
    assert shake.details["reproducible_removes_shake"] is True
    assert len(shake.runs) == 4  # 2 repeats + 2 reproducible repeats
    # digest-first: only the shaking vars (and the small text dumps) moved
    assert 0 < report.bytes_fetched < 0.15 * report.bytes_dumped


def test_run_past_its_deadline_marks_device_unhealthy(tmp_path: Path, agent_factory) -> None:
    slow = agent_factory("slow", sleep_s=30.0)
    quick = agent_factory("quick")
    camp = load_campaign(write_fake_campaign(tmp_path, "[shake]", "timeout_s: 1\nretries: 0\n"))
    report = run_campaign(load_farm(farm_of(tmp_path, [slow, quick])), camp, tmp_path / "out")
    by = {d.name: d for d in report.devices}
    assert not by["slow"].healthy and "timed_out" in by["slow"].reason
    assert by["quick"].healthy
    assert not report.clean


@pytest.mark.timeout(300, method="thread")  # pytest-timeout's SIGALRM mode kept interrupt_main from landing
def test_interrupt_cancels_the_run_on_the_agent(tmp_path: Path, agent_factory) -> None:
    """An agent the controller did not start keeps running: Ctrl-C must stop the run there."""
    import _thread
    import threading
    import time

    from controller.errors import Cancelled

    pid_file = tmp_path / "program.pid"
    agent = agent_factory("remote", sleep_s=60.0, pid_file=str(pid_file))
    camp = load_campaign(write_fake_campaign(tmp_path, "[shake]"))

    def interrupt_once_running() -> None:
        deadline = time.monotonic() + 30
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        _thread.interrupt_main()

    threading.Thread(target=interrupt_once_running, daemon=True).start()
    with pytest.raises(Cancelled):
        run_campaign(load_farm(farm_of(tmp_path, [agent])), camp, tmp_path / "out")
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _running(pid):
        time.sleep(0.05)
    assert not _running(pid)  # the agent killed the program when the controller cancelled
    assert agent.alive()  # the agent itself is untouched, only its run was cancelled
    assert not (tmp_path / "out" / "fake" / "remote.default" / "run.json").exists()


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_resume_with_a_new_check_redoes_only_what_lacks_files(tmp_path: Path, agent_factory) -> None:
    agent = agent_factory("dev", vars=20, size=16)
    farm = load_farm(farm_of(tmp_path, [agent]))
    out = tmp_path / "out"
    run_campaign(farm, load_campaign(write_fake_campaign(tmp_path, "[shake]")), out)
    before = {r: (out / "fake" / f"dev.{r}" / "run.json").read_text() for r in ("default", "repeat-2")}
    # naive added on --resume: its differing vars were never fetched from the default run
    report = run_campaign(farm, load_campaign(write_fake_campaign(tmp_path, "[naive, shake]")), out, resume=True)
    assert (out / "fake" / "dev.repeat-2" / "run.json").read_text() == before["repeat-2"]
    assert (out / "fake" / "dev.default" / "run.json").read_text() != before["default"]
    naive = next(c for c in report.checks if c.kind == "naive")
    assert naive.first.var_id == 10 and [r.var_id for r in naive.roots] == [10]
