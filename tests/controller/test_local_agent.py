"""Sweeping the temp folders of local agents: a killed controller's go, a live one's stay."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, List

import pytest

from controller import local_agent
from controller.local_agent import FOLDER_PREFIX, remove_stale_folders


@pytest.fixture(autouse=True)
def own_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sweep looks in this test's own temp dir, never at real controllers' folders."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    return temp


@pytest.fixture
def spawned() -> Iterator[List[subprocess.Popen]]:
    procs: List[subprocess.Popen] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def _sleeper(procs: List[subprocess.Popen], *args: str) -> subprocess.Popen:
    """A process (own session, like an agent) whose command line names `args`."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *args], start_new_session=True)
    procs.append(proc)
    return proc


def _dead_owner(procs: List[subprocess.Popen]) -> str:
    """`pid.start` of a controller that has since died (and been reaped)."""
    proc = _sleeper(procs)
    start = local_agent._process_start(proc.pid)
    assert start is not None
    proc.kill()
    proc.wait()
    return f"{proc.pid}.{start}"


def _folder(temp: Path, owner: str, device: str = "slow") -> Path:
    folder = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{owner}-{device}-", dir=temp))
    (folder / "workspace" / "runs" / "r1").mkdir(parents=True)
    (folder / "workspace" / "runs" / "r1" / "000001").write_bytes(b"dump")
    (folder / "agent.json").write_text("{}")
    return folder


def test_a_new_agent_folder_names_this_controller(own_tempdir: Path) -> None:
    agent = local_agent.LocalAgent("dev", "load_and_run", Path(sys.executable))
    try:
        assert agent.dir.parent == own_tempdir
        assert agent.dir.name.startswith(f"{FOLDER_PREFIX}{os.getpid()}.{local_agent._process_start(os.getpid())}-dev-")
        assert remove_stale_folders() == [] and agent.dir.is_dir()  # ours: this controller is alive
    finally:
        agent.stop()
    assert not agent.dir.exists()


def test_killed_controllers_folder_goes_with_its_orphans(own_tempdir: Path, spawned: List[subprocess.Popen]) -> None:
    folder = _folder(own_tempdir, _dead_owner(spawned))
    agent = _sleeper(spawned, "serve", "--config", str(folder / "agent.json"))
    program = _sleeper(spawned, "--bin-io-dump", str(folder / "workspace" / "runs" / "r1"))
    stranger = _sleeper(spawned, str(folder) + "-not-it/agent.json")  # a longer name, not this folder
    reader = _sleeper(spawned, "tail", "-f", str(folder / "agent.log"))  # someone reading the log
    assert remove_stale_folders() == [folder]
    assert not folder.exists()
    assert agent.wait(10) != 0 and program.wait(10) != 0  # killed, not left to write into a new folder
    assert stranger.poll() is None and reader.poll() is None


def test_live_controllers_folder_is_kept(own_tempdir: Path, spawned: List[subprocess.Popen]) -> None:
    owner = _sleeper(spawned)
    folder = _folder(own_tempdir, f"{owner.pid}.{local_agent._process_start(owner.pid)}")
    agent = _sleeper(spawned, "--config", str(folder / "agent.json"))
    assert remove_stale_folders() == []
    assert (folder / "workspace" / "runs" / "r1" / "000001").is_file()
    assert agent.poll() is None


def test_recycled_pid_does_not_keep_a_dead_controllers_folder(own_tempdir: Path) -> None:
    # a live pid (ours), but another start time: the controller that made it is gone
    start = local_agent._process_start(os.getpid())
    assert start is not None
    folder = _folder(own_tempdir, f"{os.getpid()}.{start + 1}")
    assert remove_stale_folders() == [folder]


def test_folder_of_an_older_controller_by_its_pid_file(own_tempdir: Path, spawned: List[subprocess.Popen]) -> None:
    gone = _dead_owner(spawned).split(".")[0]
    old = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}slow-", dir=own_tempdir))
    (old / "controller.pid").write_text(f"{gone}\n")
    alive = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}fast-", dir=own_tempdir))
    (alive / "controller.pid").write_text(f"{os.getpid()}\n")
    unowned = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}other-", dir=own_tempdir))
    assert remove_stale_folders() == [old]
    assert alive.is_dir() and unowned.is_dir()


def test_orphans_end_within_the_wait(own_tempdir: Path, spawned: List[subprocess.Popen]) -> None:
    folder = _folder(own_tempdir, _dead_owner(spawned))
    for _ in range(5):
        _sleeper(spawned, "--config", str(folder / "agent.json"))
    t0 = time.monotonic()
    assert remove_stale_folders() == [folder]
    assert time.monotonic() - t0 < local_agent.REAP_WAIT_S
