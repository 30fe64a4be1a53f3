"""A run's life beyond the happy path: fetch while running, fast-run caches, queue limit, age limit."""

from __future__ import annotations

import time

import pytest

from controller.agent_client import AgentNotFound, AgentQuotaError, FileComplete, RunSpec, Started
from tests.agent.conftest import FAKE_DUMPER, PROGRAMS, script_runner


def test_completed_files_can_be_fetched_while_the_run_goes_on(shared_agent, model_sha, tmp_path) -> None:
    with shared_agent.client() as c:
        stream = c.run(RunSpec(runner="slow_dumper", model_sha256=model_sha))
        first = next(e for e in stream if isinstance(e, FileComplete))
        got = c.fetch(first.run_id, tmp_path, names=[first.entry.name])
        assert got[0].sha256 == first.entry.sha256
        with pytest.raises(AgentNotFound, match="has no file 'bin/000011'"):
            c.fetch(first.run_id, tmp_path, names=["bin/000011"])  # not written (or not complete) yet
        fin = list(stream)[-1]
        assert fin.ok and len(c.get_run(first.run_id).finished.manifest) == 6


def test_fast_run_policy_cache_is_copied_in_and_written_out(shared_agent, model_sha, tmp_path) -> None:
    with shared_agent.client() as c:
        cache = c.upload_blob(b"old-cache\n")
        fin = list(
            c.run(
                RunSpec(
                    model_sha256=model_sha,
                    fast_run=True,
                    fast_run_algo_policy_sha256=cache,
                    write_fast_run_algo_policy=True,
                )
            )
        )[-1]
        entry = {e.name: e for e in fin.manifest}["algo_policy.cache"]
        c.fetch(fin.run_id, tmp_path, names=["algo_policy.cache"])
        assert (tmp_path / "algo_policy.cache").read_bytes() == b"old-cache\nalgo-cache-entry\n"
        assert entry.var_id is None
        assert c.missing_blobs([cache]) == []  # the blob itself was not touched
    blob = shared_agent.workspace / "blobs" / cache[:2] / cache
    assert blob.read_bytes() == b"old-cache\n"


def test_queue_limit_and_age_limit(agent_factory, tmp_path) -> None:
    agent = agent_factory(
        {
            "load_and_run": script_runner(FAKE_DUMPER, "--files", "1"),
            "sleeper": script_runner(PROGRAMS / "sleeper.py", str(tmp_path / "pids")),
        },
        config={"max_queued_runs": 1, "keep_finished_s": 0.5},
    )
    with agent.client() as c:
        sha = c.upload_blob(b"model")
        old = list(c.run(RunSpec(model_sha256=sha)))[-1]
        running = c.run(RunSpec(runner="sleeper", model_sha256=sha, bin_io_dump=False))
        run_id = next(running).run_id
        assert isinstance(next(running), Started)
        queued = c.run(RunSpec(model_sha256=sha))
        next(queued)
        with pytest.raises(AgentQuotaError, match="already queued"):
            list(c.run(RunSpec(model_sha256=sha)))
        c.cancel(run_id)
        assert list(queued)[-1].ok
        unused = c.upload_blob(b"an input nobody asks for again")
        time.sleep(0.6)  # past keep_finished_s: the next run sweeps old runs and unused blobs away
        list(c.run(RunSpec(model_sha256=sha)))
        with pytest.raises(AgentNotFound):
            c.get_run(old.run_id)
        assert c.missing_blobs([unused]) == [unused]
        assert c.missing_blobs([sha]) == []  # the model was just used
    assert not (agent.workspace / "runs" / old.run_id).exists()


def test_follow_replays_a_run_for_a_caller_that_lost_its_stream(shared_agent, model_sha) -> None:
    with shared_agent.client() as c:
        stream = c.run(RunSpec(runner="slow_dumper", model_sha256=model_sha))
        run_id = next(stream).run_id
        stream.close()  # the controller lost the stream
        events = list(c.follow(run_id))
        with pytest.raises(AgentNotFound):
            list(c.follow("20000101-000000-deadbeef"))
    kinds = [type(e).__name__ for e in events]
    assert kinds[:2] == ["Queued", "Started"] and kinds[-1] == "Finished"
    assert kinds.count("FileComplete") == 4 and events[-1].ok


def test_sigterm_delivered_to_a_grpc_thread_stops_the_agent(agent_factory) -> None:
    """The kernel may hand a process-wide SIGTERM to any thread; the agent must stop whichever gets it."""
    import ctypes
    import os
    import platform
    import signal
    import subprocess

    agent = agent_factory({"load_and_run": script_runner(FAKE_DUMPER)})
    with agent.client() as c:
        c.facts()  # gRPC's threads are up
    pid = agent.proc.pid
    others = [int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid]
    assert others, "agent serve has no thread besides the main one"
    # tgkill: the syscall os.kill cannot aim at one thread (signal.pthread_kill works only in-process)
    sys_tgkill = {"x86_64": 234, "aarch64": 131}.get(platform.machine())
    if sys_tgkill is None and not os.environ.get("CI"):
        pytest.skip(f"tgkill's syscall number on {platform.machine()} is not known here")
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.syscall(sys_tgkill, pid, others[-1], int(signal.SIGTERM)) == 0, f"errno {ctypes.get_errno()}"
    try:
        assert agent.proc.wait(25) == 0
    except subprocess.TimeoutExpired:
        pytest.fail("agent serve ignored a SIGTERM that landed on one of its gRPC threads")
