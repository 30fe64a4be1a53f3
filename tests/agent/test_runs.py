"""Runs on a real agent: the event sequence, fetch, queueing, cancel, timeout, crashes, bounded logs."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from controller.agent_client import (
    AgentNotFound,
    AgentRequestError,
    FileComplete,
    Finished,
    InputSpec,
    LogLine,
    Queued,
    RunSpec,
    Started,
)


def run_all(client, spec):
    return list(client.run(spec))


def wrote(events) -> dict:
    """name -> sha256 from the fake dumper's `wrote NAME SHA` lines."""
    out = {}
    for e in events:
        if isinstance(e, LogLine) and e.text.startswith("wrote "):
            _, name, sha = e.text.split()
            out[name] = sha
    return out


def test_run_streams_the_documented_event_sequence(shared_agent, model_sha) -> None:
    """Pins the protocol: queued, started, logs and file_complete interleaved, finished last."""
    with shared_agent.client() as c:
        events = run_all(c, RunSpec(model_sha256=model_sha, bin_io_dump=True, label="seq"))
    assert isinstance(events[0], Queued) and events[0].position == 0
    assert isinstance(events[1], Started)
    assert isinstance(events[-1], Finished)
    middle = events[2:-1]
    assert all(isinstance(e, (LogLine, FileComplete)) for e in middle)
    run_id = events[0].run_id
    assert all(e.run_id == run_id for e in events)
    fin = events[-1]
    assert fin.ok and fin.exit_code == 0 and fin.signal == 0 and fin.error == ""
    assert fin.wall_s > 0 and fin.peak_rss_bytes > 1 << 20
    files = [e.entry for e in middle if isinstance(e, FileComplete)]
    # every dump file is announced exactly once, in the order written, with its var id
    assert [f.name for f in files] == ["bin/000005", "bin/000009", "bin/00000d", "bin/000011"]
    assert [f.var_id for f in files] == [5, 9, 13, 17]
    manifest = {e.name: e for e in fin.manifest}
    assert set(manifest) == {f.name for f in files} | {"stdout.log", "stderr.log"}
    for f in files:
        assert manifest[f.name] == f
    assert wrote(events) == {f.name: f.sha256 for f in files}
    # argv is what load_and_run expects, relative to the run folder, one forward when dumping
    argv = events[1].argv
    assert argv[-7:] == ("in/model.mge", "--bin-io-dump", "out/bin/", "--iter", "1", "--warmup-iter", "0")
    assert [e.text for e in middle if isinstance(e, LogLine) and e.stream == "stderr"] == ["some warning on stderr"]


def test_file_complete_arrives_while_the_program_still_runs(shared_agent, model_sha) -> None:
    with shared_agent.client() as c:
        events = run_all(c, RunSpec(runner="slow_dumper", model_sha256=model_sha))
    first_file = next(i for i, e in enumerate(events) if isinstance(e, FileComplete))
    last_wrote = max(i for i, e in enumerate(events) if isinstance(e, LogLine) and e.text.startswith("wrote "))
    assert first_file < last_wrote  # streamed as they appear, not only at the end


def test_fetch_all_gives_the_bytes_the_program_wrote(shared_agent, model_sha, tmp_path) -> None:
    with shared_agent.client() as c:
        events = run_all(c, RunSpec(model_sha256=model_sha))
        fin = events[-1]
        fetched = c.fetch(fin.run_id, tmp_path)
    assert set(fetched) == set(fin.manifest)  # the same DumpRecords, var ids included
    for name, sha in wrote(events).items():
        data = (tmp_path / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha
    assert sorted(p.name for p in (tmp_path / "bin").iterdir()) == ["000005", "000009", "00000d", "000011"]
    assert not list(tmp_path.rglob("*partial*"))


def test_fetch_skips_what_the_client_has_and_fetches_by_name(shared_agent, model_sha, tmp_path) -> None:
    with shared_agent.client() as c:
        fin = run_all(c, RunSpec(model_sha256=model_sha))[-1]
        by_name = {e.name: e for e in fin.manifest}
        have = {"bin/000005": by_name["bin/000005"].sha256, "bin/000009": "0" * 64}
        got = c.fetch(fin.run_id, tmp_path, names=["bin/000005", "bin/000009"], have=have)
        assert [f.name for f in got] == ["bin/000009"]  # the stale digest is fetched, the equal one skipped
        got = c.fetch(fin.run_id, tmp_path, names=["bin/00000d"], chunk_size=1000)
        assert got[0].sha256 == by_name["bin/00000d"].sha256
        with pytest.raises(AgentNotFound, match="no file 'bin/999999'"):
            c.fetch(fin.run_id, tmp_path, names=["bin/999999"])


def test_text_dump_and_lite_runner_take_both_dumps(shared_agent, model_sha, tmp_path) -> None:
    with shared_agent.client() as c:
        with pytest.raises(AgentRequestError, match="keeps only the last dump option"):
            run_all(c, RunSpec(model_sha256=model_sha, bin_io_dump=True, io_dump=True))
        events = run_all(c, RunSpec(runner="lite", model_sha256=model_sha, bin_io_dump=True, io_dump=True))
    fin = events[-1]
    assert fin.ok
    names = {e.name for e in fin.manifest}
    assert {"io.txt", "bin/000005", "bin/000009"} <= names
    assert events[1].argv[-8:-4] == ("--bin-io-dump", "out/bin/", "--io-dump", "out/io.txt")


def test_spec_options_reach_the_argv_and_env(shared_agent, model_sha) -> None:
    with shared_agent.client() as c:
        npy_bytes = b"\x93NUMPY pretend"
        npy = c.upload_blob(npy_bytes)
        spec = RunSpec(
            model_sha256=model_sha,
            bin_io_dump=False,
            megdnn_dbg=2,
            reproducible=True,
            fast_run=True,
            multithread=2,
            verbose=True,
            model_info=True,
            extra_flags=("--profile=out/prof.json",),
            env={"OMP_NUM_THREADS": "1"},
            inputs=(
                InputSpec(name="data", blob_sha256=npy, format="npy"),
                InputSpec(name="mask", literal="[[1,0],[0,1]]"),
                InputSpec(name="shape_in", shape=(1, 3, 4)),
            ),
        )
        events = run_all(c, spec)
    started = events[1]
    assert started.argv[6:] == (
        "in/model.mge",
        "--input",
        "data:in/input0.npy;mask:[[1,0],[0,1]];shape_in:{1,3,4}",
        "--reproducible",
        "--fast-run",
        "--multithread",
        "2",
        "--verbose",
        "--model-info",
        "--profile=out/prof.json",
    )
    assert started.env == {"MGB_USE_MEGDNN_DBG": "2", "OMP_NUM_THREADS": "1"}
    lines = [e.text for e in events if isinstance(e, LogLine)]
    assert "env MGB_USE_MEGDNN_DBG=2" in lines
    assert "env LARFARM_TOKEN=<unset>" in lines  # the agent's secret never reaches a runner
    assert f"input data file {hashlib.sha256(npy_bytes).hexdigest()}" in lines


@pytest.mark.parametrize(
    "spec_kw, message",
    [
        ({"runner": "rm"}, "runner 'rm' is not configured"),
        ({"extra_flags": ("--bin-io-dump=/etc",)}, "not in extra_flags_allow"),
        ({"extra_flags": ("--profile",), "runner": "lite"}, "not in extra_flags_allow"),
        ({"env": {"LD_PRELOAD": "/tmp/x.so"}}, "LD_PRELOAD' is not in env_allow"),
        ({"env": {"MGB_USE_MEGDNN_DBG": "3"}}, "must be 0, 1 or 2"),
        ({"megdnn_dbg": 5}, "megdnn_dbg must be 0, 1 or 2"),
        ({"inputs": (InputSpec(name="data;x", literal="[1]"),)}, "input name"),
        ({"inputs": (InputSpec(name="data", literal="[1];rm -rf /"),)}, "nested list of numbers"),
        ({"inputs": (InputSpec(name="data", blob_sha256="0" * 64, format="exe"),)}, "format must be one of"),
        (
            {"inputs": (InputSpec(name="data", blob_sha256="../../etc/passwd", format="npy"),)},
            "not a lowercase hex sha256",
        ),
        ({"model_sha256": "../" * 20}, "not a lowercase hex sha256"),
        ({"cpu": True, "cuda": True}, "choose one device option"),
        ({"iter": 0}, "iter must be at least 1"),
        ({"write_fast_run_algo_policy": True}, "needs fast_run"),
    ],
)
def test_bad_specs_are_refused_before_anything_runs(shared_agent, model_sha, spec_kw, message) -> None:
    kw = {"model_sha256": model_sha, **spec_kw}
    with shared_agent.client() as c, pytest.raises(AgentRequestError, match=message):
        run_all(c, RunSpec(**kw))


def test_unknown_model_blob_is_not_found(shared_agent) -> None:
    with shared_agent.client() as c, pytest.raises(AgentNotFound, match="upload it first"):
        run_all(c, RunSpec(model_sha256="ab" * 32))


def test_failed_crashed_and_unstartable_programs(shared_agent, model_sha) -> None:
    with shared_agent.client() as c:
        fin = run_all(c, RunSpec(runner="failing", model_sha256=model_sha))[-1]
        assert (fin.state, fin.exit_code, fin.signal) == ("failed", 3, 0)
        assert fin.error == "exit code 3: some warning on stderr"
        assert "bin/000005" in {e.name for e in fin.manifest}  # what it wrote before failing is kept
        fin = run_all(c, RunSpec(runner="crasher", model_sha256=model_sha))[-1]
        assert (fin.state, fin.signal) == ("failed", 11)
        assert fin.error == "killed by signal 11"
        assert fin.manifest and {e.name for e in fin.manifest} == {"stdout.log", "stderr.log"}
        fin = run_all(c, RunSpec(runner="missing", model_sha256=model_sha))[-1]
        assert fin.state == "start_failed" and "cannot start /nonexistent/load_and_run" in fin.error


def test_log_flood_is_bounded_and_the_tail_is_kept(shared_agent, model_sha, tmp_path) -> None:
    with shared_agent.client() as c:
        events = run_all(c, RunSpec(runner="flood", model_sha256=model_sha, bin_io_dump=False))
        fin = events[-1]
        logs = [e for e in events if isinstance(e, LogLine)]
        assert len(logs) == 51  # log_lines_max (50) plus the one line saying the rest is in the file
        assert "more than 50 lines" in logs[-1].text
        c.fetch(fin.run_id, tmp_path, names=["stdout.log"])
    tail = (tmp_path / "stdout.log").read_text()
    assert tail.endswith("last line\n") and fin.ok


def test_second_run_queues_and_sees_its_position(shared_agent, model_sha, tmp_path) -> None:
    pid_file = Path(str(shared_agent.config_path.parent / "sleeper.pids"))
    pid_file.unlink(missing_ok=True)
    with shared_agent.client() as c:
        first = c.run(RunSpec(runner="sleeper", model_sha256=model_sha, bin_io_dump=False))
        q1 = next(first)
        started = next(first)
        assert isinstance(started, Started)
        second = c.run(RunSpec(model_sha256=model_sha, label="waits"))
        q2 = next(second)
        assert isinstance(q2, Queued) and q2.position == 1
        assert c.get_run(q2.run_id).state == "queued"
        c.cancel(q1.run_id)
        rest = list(second)
        # once the first is gone the second moves to position 0, starts and finishes
        assert isinstance(rest[0], Queued) and rest[0].position == 0
        assert isinstance(rest[1], Started) and rest[-1].ok
        assert [e for e in first if isinstance(e, Finished)][0].state == "cancelled"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie left for its (dead) parent counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_pids(pid_file: Path) -> tuple[int, int]:
    for _ in range(200):
        if pid_file.is_file():
            a, b = pid_file.read_text().split()
            return int(a), int(b)
        time.sleep(0.05)
    raise AssertionError("sleeper never wrote its pids")


def _gone(pids, within: float = 10.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def test_cancel_kills_the_whole_process_group(shared_agent, model_sha) -> None:
    pid_file = shared_agent.config_path.parent / "sleeper.pids"
    pid_file.unlink(missing_ok=True)
    with shared_agent.client() as c:
        stream = c.run(RunSpec(runner="sleeper", model_sha256=model_sha, bin_io_dump=False))
        run_id = next(stream).run_id
        pids = _wait_pids(pid_file)
        assert all(_alive(p) for p in pids)
        c.cancel(run_id)
        fin = [e for e in stream if isinstance(e, Finished)][0]
    assert fin.state == "cancelled" and fin.error == "cancelled by request"
    assert _gone(pids), "the sleeper or its child survived the cancel"


def test_timeout_kills_the_process_group(shared_agent, model_sha) -> None:
    pid_file = shared_agent.config_path.parent / "sleeper.pids"
    pid_file.unlink(missing_ok=True)
    with shared_agent.client() as c:
        events = run_all(c, RunSpec(runner="sleeper", model_sha256=model_sha, bin_io_dump=False, timeout_s=1.0))
    fin = events[-1]
    assert fin.state == "timed_out" and fin.error == "timed out after 1 s"
    assert _gone(_wait_pids(pid_file))


def test_cancel_of_a_queued_run_and_release(shared_agent, model_sha) -> None:
    pid_file = shared_agent.config_path.parent / "sleeper.pids"
    with shared_agent.client() as c:
        first = c.run(RunSpec(runner="sleeper", model_sha256=model_sha, bin_io_dump=False))
        first_id = next(first).run_id
        queued = c.run(RunSpec(model_sha256=model_sha))
        qid = next(queued).run_id
        assert c.cancel(qid) == "cancelled"
        assert [e for e in queued if isinstance(e, Finished)][0].error == "cancelled while queued"
        with pytest.raises(AgentRequestError, match="cancel it before releasing"):
            c.release(first_id)
        c.cancel(first_id)
        list(first)
        assert c.release(first_id) >= 0
        assert not (shared_agent.workspace / "runs" / first_id).exists()
        with pytest.raises(AgentNotFound):
            c.get_run(first_id)
        with pytest.raises(AgentNotFound):
            c.fetch(first_id, shared_agent.config_path.parent / "nowhere")
    pid_file.unlink(missing_ok=True)


def test_run_goes_on_when_the_caller_drops_the_stream(shared_agent, model_sha, tmp_path) -> None:
    with shared_agent.client() as c:
        stream = c.run(RunSpec(model_sha256=model_sha))
        run_id = next(stream).run_id
        stream.close()  # the controller lost interest (or its connection)
        for _ in range(200):
            info = c.get_run(run_id)
            if info.finished is not None:
                break
            time.sleep(0.05)
        assert info.state == "succeeded" and len(info.finished.manifest) == 6
        assert len(c.fetch(run_id, tmp_path)) == 6


def test_fetch_beside_a_running_run(shared_agent, model_sha, tmp_path) -> None:
    """Uploads and fetches are served while a run holds the device."""
    with shared_agent.client() as c:
        done = run_all(c, RunSpec(model_sha256=model_sha))[-1]
        stream = c.run(RunSpec(runner="sleeper", model_sha256=model_sha, bin_io_dump=False))
        run_id = next(stream).run_id
        next(stream)
        box = {}
        t = threading.Thread(target=lambda: box.setdefault("got", c.fetch(done.run_id, tmp_path)))
        t.start()
        t.join(30)
        sha = c.upload_blob(os.urandom(1000))
        assert not c.missing_blobs([sha])
        c.cancel(run_id)
        list(stream)
    assert len(box["got"]) == 6
