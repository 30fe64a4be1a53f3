"""The agent's adb runner against stand-in phones through the real adb client."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.adb import Phone as AdbPhone
from controller.agent_client import AgentClientError
from controller.agent_client.types import Finished, InputSpec, LogLine, RunSpec, Started
from tests.support.adb_phone import Adb, Phone
from tests.support.agent import RunningAgent, start_agent

#: A load_and_run that only prints and waits: for unplug and cancel while it runs.
SLEEPER = [sys.executable, "-c", "import time; print('running', flush=True); time.sleep(120)"]


def adb_agent(base: Path, adb: Adb, phone: Phone, **settings) -> RunningAgent:
    program = base / "load_and_run"  # the phone's binary as the PC has it; the phone maps it to lar-lite
    base.mkdir(parents=True, exist_ok=True)
    program.write_bytes(b"\x7fELF stand-in load_and_run\n")
    program.chmod(0o755)
    runner = {
        "type": "adb",
        "path": adb.program,
        "adb": {"serial": phone.serial, "program_local": str(program), **settings},
        "env_allow": ["OMP_NUM_THREADS"],
    }
    return start_agent(base, {"adb": runner})


def upload(client, megengine_fixtures: Path) -> RunSpec:
    model = client.upload_blob(megengine_fixtures / "models" / "tiny_cnn.mge")
    data = client.upload_blob(megengine_fixtures / "inputs" / "tiny_cnn__data.npy")
    return RunSpec(model_sha256=model, runner="adb", inputs=(InputSpec("data", blob_sha256=data, format="npy"),))


def finish(client, spec: RunSpec):
    events = list(client.run(spec))
    return events, next(e for e in events if isinstance(e, Finished))


@pytest.fixture
def agent_for(tmp_path: Path, adb: Adb):
    started = []

    def make(phone: Phone, **settings) -> RunningAgent:
        agent = adb_agent(tmp_path / f"agent{len(started)}", adb, phone, **settings)
        started.append(agent)
        return agent

    yield make
    for agent in started:
        agent.stop()


def test_run_on_phone_real_dumps(adb: Adb, phones, agent_for, megengine_fixtures: Path, lite_runtime, tmp_path):
    phone = phones()
    adb.connect(phone)
    agent = agent_for(phone)
    client = agent.client()
    facts = client.facts()
    assert facts.arch == "arm64-v8a" and facts.os == "Android" and facts.cpu_model == "SM8450"
    assert facts.hostname == socket.gethostname() and facts.disk_free_bytes > 0  # the PC the phone hangs off
    # the phone's own facts in their own fields, not squeezed into the board's
    assert facts.phone is not None and facts.phone.serial == phone.serial and facts.phone.model == "Pixel 7"
    assert (facts.phone.abi, facts.phone.soc, facts.phone.platform) == ("arm64-v8a", "SM8450", "taro")
    assert facts.phone.android_version == "13" and facts.phone.sdk and facts.phone.workdir_free_bytes > 0
    spec = upload(client, megengine_fixtures)
    events, done = finish(client, RunSpec(**{**spec.__dict__, "megdnn_dbg": 2}))
    assert done.state == "succeeded", done.error
    started = next(e for e in events if isinstance(e, Started))
    assert started.env == {"MGB_USE_MEGDNN_DBG": "2"}
    assert "--bin-io-dump" in started.argv and "/data/local/tmp/load_and_run" in started.argv
    names = sorted(e.name for e in done.manifest if e.name.startswith("bin/"))
    fixture = megengine_fixtures / "runs" / "tiny_cnn" / "default" / "bin"
    assert names == sorted(f"bin/{p.name}" for p in fixture.iterdir())
    assert any(isinstance(e, LogLine) for e in events)
    # the phone keeps its blobs and program, not the run folder
    work = phone.path("/data/local/tmp/larfarm")
    assert [p.name for p in work.iterdir()] == [".blobs"] and len(list((work / ".blobs").iterdir())) == 2
    syncs = phone.opened.count("sync:")
    _events, again = finish(client, spec)
    assert again.state == "succeeded", again.error
    assert phone.opened.count("sync:") == syncs  # model, input and load_and_run already there: nothing pushed
    assert sum(s.startswith("exec:tar c") for s in phone.opened) == 2  # one stream per run
    client.fetch(done.run_id, tmp_path / "got")
    assert sorted(p.name for p in (tmp_path / "got" / "bin").iterdir()) == [n[4:] for n in names]


def test_unplug_mid_run_fails_within_10_s_naming_the_serial(adb: Adb, phones, agent_for, megengine_fixtures):
    phone = phones(programs={"load_and_run": SLEEPER})
    adb.connect(phone)
    client = agent_for(phone).client()
    spec = upload(client, megengine_fixtures)
    t0 = None
    for event in client.run(spec):
        if isinstance(event, LogLine) and event.text == "running":
            phone.unplug()
            t0 = time.monotonic()
        if isinstance(event, Finished):
            break
    assert t0 is not None and time.monotonic() - t0 < 10
    assert event.state == "failed" and f"device {phone.serial} disconnected" in event.error
    assert [p.name for p in phone.path("/data/local/tmp/larfarm").iterdir()] != [".blobs"]  # left as it was


def test_cancel_kills_the_process_group_on_the_phone(adb: Adb, phones, agent_for, megengine_fixtures):
    phone = phones(programs={"load_and_run": SLEEPER})
    adb.connect(phone)
    client = agent_for(phone).client()
    spec = upload(client, megengine_fixtures)
    for event in client.run(spec):
        if isinstance(event, LogLine) and event.text == "running":
            client.cancel(event.run_id)
        if isinstance(event, Finished):
            break
    assert event.state == "cancelled"
    procs = list(phone.pids._procs.values())
    assert procs and all(p.poll() is not None for p in procs)


def test_timeout_kills_the_program_on_the_phone(adb: Adb, phones, agent_for, megengine_fixtures):
    phone = phones(programs={"load_and_run": SLEEPER})
    adb.connect(phone)
    client = agent_for(phone).client()
    spec = upload(client, megengine_fixtures)
    t0 = time.monotonic()
    _events, done = finish(client, RunSpec(**{**spec.__dict__, "timeout_s": 3.0}))
    assert done.state == "timed_out" and time.monotonic() - t0 < 15
    procs = list(phone.pids._procs.values())
    deadline = time.monotonic() + 5
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert procs and all(p.poll() is not None for p in procs)


@pytest.mark.parametrize(
    ("phone_kw", "settings", "expect"),
    [
        ({"free_bytes": 1 << 20}, {}, "no space left in /data/local/tmp/larfarm"),
        ({}, {"program": "/sdcard/load_and_run"}, "put load_and_run under /data/local/tmp"),
    ],
)
def test_phone_errors_name_the_phone(adb, phones, agent_for, megengine_fixtures, phone_kw, settings, expect):
    phone = phones(**phone_kw)
    adb.connect(phone)
    client = agent_for(phone, **settings).client()
    _events, done = finish(client, upload(client, megengine_fixtures))
    assert done.state == "failed" and phone.serial in done.error and expect in done.error


def test_unauthorized_phone_says_accept_the_prompt(adb: Adb, phones, agent_for):
    phone = phones(authorized=False)
    client = agent_for(phone).client()
    with pytest.raises(AgentClientError, match=r"unauthorized: .*RSA key prompt") as err:
        client.facts()
    assert phone.serial in str(err.value)


def test_every_word_reaches_the_phone_as_written(adb: Adb, phones) -> None:
    phone = phones()
    adb.connect(phone)
    words = ["a b", "it's", "$HOME", "$$", "`id`", ";rm -rf /", "&&", "x|y", "\\n", '"q"', "", "--", "é"]
    code, out, _err = AdbPhone(adb.program, phone.serial).shell(["echo", *words])
    assert code == 0 and out.decode() == " ".join(words) + "\n"


#: A load_and_run with a worker child, both deaf to SIGTERM: only SIGKILL of the whole group on the phone ends them.
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, subprocess, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)'])\n"
    "print('child', child.pid, flush=True)\n"
    "time.sleep(120)\n",
]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"


@pytest.mark.parametrize("how", ["cancel", "timeout"])
def test_cancel_and_timeout_kill_load_and_runs_children_too(adb: Adb, phones, agent_for, megengine_fixtures, how):
    phone = phones(programs={"load_and_run": STUBBORN})
    adb.connect(phone)
    client = agent_for(phone).client()
    spec = upload(client, megengine_fixtures)
    if how == "timeout":
        spec = RunSpec(**{**spec.__dict__, "timeout_s": 4.0})
    child = 0
    for event in client.run(spec):
        if isinstance(event, LogLine) and event.text.startswith("child "):
            child = int(event.text.split()[1])
            if how == "cancel":
                client.cancel(event.run_id)
        if isinstance(event, Finished):
            break
    assert child and event.state == ("cancelled" if how == "cancel" else "timed_out")
    procs = list(phone.pids._procs.values())
    deadline = time.monotonic() + 5
    while (_alive(child) or any(p.poll() is None for p in procs)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert procs and all(p.poll() is not None for p in procs), "load_and_run survived on the phone"
    assert not _alive(child), "load_and_run's child survived on the phone"


def test_the_agents_sigterm_to_the_runner_group_does_not_cut_its_adb_calls(adb: Adb, phones, tmp_path: Path) -> None:
    """The agent signals agent.adb_run's whole process group; an adb call in flight then must finish, not die.

    The wrapper holds `adb get-state` (the runner's check that the phone is still there) open while
    SIGTERM arrives; cut short, it read as "phone gone": the run ended `disconnected` and load_and_run
    went on running on the phone.
    """
    phone = phones(programs={"load_and_run": SLEEPER})
    adb.connect(phone)
    mark, inflight = tmp_path / "slow", tmp_path / "inflight"
    wrapper = tmp_path / "adb"
    wrapper.write_text(
        f'#!/bin/sh\nif [ "$3" = get-state ] && [ -e {mark} ]; then touch {inflight}; sleep 1.5; fi\n'
        f'exec {adb.program} "$@"\n'
    )
    wrapper.chmod(0o755)
    program = tmp_path / "load_and_run"
    program.write_bytes(b"\x7fELF stand-in\n")
    run_dir = tmp_path / "run-1"
    (run_dir / "in").mkdir(parents=True)
    (run_dir / "out").mkdir()
    (run_dir / "in" / "model.mge").write_bytes(b"model")
    argv = [sys.executable, "-m", "agent.adb_run", "--adb", str(wrapper), "--serial", phone.serial]
    argv += ["--program-local", str(program), "--workdir", "/data/local/tmp/larfarm"]
    argv += ["--program", "/data/local/tmp/load_and_run", "--", "in/model.mge"]
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": root}
    proc = subprocess.Popen(
        argv, cwd=run_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"running\n"
        mark.touch()
        deadline = time.monotonic() + 10
        while not inflight.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert inflight.exists()
        time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGTERM)  # what agent.process does on cancel and timeout
        mark.unlink()
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert b"disconnected" not in err, err
    assert proc.returncode == 128 + signal.SIGTERM, err
    procs = list(phone.pids._procs.values())
    assert procs and all(p.poll() is not None for p in procs), "load_and_run survived on the phone"


def test_cancel_mid_push_stops_the_push(adb: Adb, phones, tmp_path: Path, megengine_fixtures) -> None:
    """A push of a big model over a slow cable is cut when the run is cancelled, not left running on its own."""
    phone = phones()
    adb.connect(phone)
    pushing, pid_file = tmp_path / "pushing", tmp_path / "push.pid"
    wrapper = tmp_path / "adb"  # a push that takes long: the wrapper waits before handing over to adb
    wrapper.write_text(
        f'#!/bin/sh\nif [ "$3" = push ]; then echo $$ >{pid_file}; touch {pushing}; sleep 60; fi\n'
        f'exec {adb.program} "$@"\n'
    )
    wrapper.chmod(0o755)
    program = tmp_path / "load_and_run"
    program.write_bytes(b"\x7fELF stand-in\n")
    runner = {"type": "adb", "path": str(wrapper), "adb": {"serial": phone.serial, "program_local": str(program)}}
    agent = start_agent(tmp_path / "agent", {"adb": runner})
    try:
        client = agent.client()
        spec = upload(client, megengine_fixtures)
        events = client.run(spec)
        started = next(e for e in events if isinstance(e, Started))
        deadline = time.monotonic() + 20
        while not pushing.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pushing.exists()
        t0 = time.monotonic()
        client.cancel(started.run_id)
        done = next(e for e in events if isinstance(e, Finished))
        assert done.state == "cancelled" and time.monotonic() - t0 < 10
        push = int(pid_file.read_text())
        deadline = time.monotonic() + 5
        while _alive(push) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(push), "the push went on after the run was cancelled"
    finally:
        agent.stop()


def test_an_agent_serving_a_usb_hub_describes_the_pc_and_one_locked_phone_blocks_no_other(
    adb: Adb, phones, tmp_path: Path, megengine_fixtures
) -> None:
    """Several adb runners (a hub of phones): facts are the PC's, and runs on a good phone go on."""
    good, locked = phones(), phones(authorized=False)
    adb.connect(good)
    program = tmp_path / "load_and_run"
    program.write_bytes(b"\x7fELF stand-in\n")
    runners = {
        name: {"type": "adb", "path": adb.program, "adb": {"serial": phone.serial, "program_local": str(program)}}
        for name, phone in (("locked", locked), ("good", good))
    }
    agent = start_agent(tmp_path / "agent", runners)
    try:
        client = agent.client()
        facts = client.facts()  # the locked phone does not make the whole agent unusable
        assert facts.phone is None and facts.hostname == socket.gethostname() and facts.os == "Linux"
        spec = upload(client, megengine_fixtures)
        _events, done = finish(client, RunSpec(**{**spec.__dict__, "runner": "good"}))
        assert done.state == "succeeded", done.error
        _events, done = finish(client, RunSpec(**{**spec.__dict__, "runner": "locked"}))
        assert done.state == "failed" and locked.serial in done.error and "RSA key" in done.error
    finally:
        agent.stop()
