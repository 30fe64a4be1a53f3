"""Names and paths from requests are never trusted; quotas and size bounds hold; restarts keep runs."""

from __future__ import annotations

import os
import signal

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import controller.agent_client as agent_client
from controller.agent_client import AgentQuotaError, AgentUnreachable, RunSpec
from controller.agent_client import fetch as fetch_mod
from larfarm.agent.v1 import agent_pb2 as pb
from larfarm.agent.v1 import agent_pb2_grpc as pb_grpc
from tests.agent.conftest import FAKE_DUMPER, PROGRAMS, script_runner


def _stub(agent):
    ch = grpc.insecure_channel(agent.address)
    return ch, pb_grpc.AgentStub(ch), (("authorization", f"Bearer {agent.token}"),)


@pytest.mark.parametrize(
    "name",
    [
        "../agent.json",
        "/etc/passwd",
        "bin/../../run.json",
        "bin/\x00",
        "bin//000005",
        "./bin/000005",
        "bin\\000005",
        "../in/model.mge",
        "run.json",
    ],
)
def test_fetch_names_outside_the_manifest_are_refused(shared_agent, model_sha, name) -> None:
    with shared_agent.client() as c:
        run_id = list(c.run(RunSpec(model_sha256=model_sha)))[-1].run_id
    ch, stub, md = _stub(shared_agent)
    with ch, pytest.raises(grpc.RpcError) as err:
        list(stub.Fetch(pb.FetchRequest(run_id=run_id, names=[name]), timeout=10, metadata=md))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("run_id", ["../../etc", "/tmp", "a/b", "", "x" * 100, "run\x00"])
def test_malformed_run_ids_are_refused(shared_agent, run_id) -> None:
    ch, stub, md = _stub(shared_agent)
    with ch:
        for call in (stub.GetRun, stub.Release, stub.Cancel):
            with pytest.raises(grpc.RpcError) as err:
                call(pb.RunRef(run_id=run_id), timeout=10, metadata=md)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as err:
            list(stub.Fetch(pb.FetchRequest(run_id=run_id), timeout=10, metadata=md))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_symlinks_are_never_listed_or_served(agent_factory, tmp_path) -> None:
    agent = agent_factory({"load_and_run": script_runner(PROGRAMS / "symlinker.py")})
    with agent.client() as c:
        sha = c.upload_blob(b"m")
        fin = list(c.run(RunSpec(model_sha256=sha)))[-1]
        assert {e.name for e in fin.manifest} == {"bin/000002", "stdout.log", "stderr.log"}
        # a listed file swapped for a link to outside the workspace after the run is refused, not followed
        target = agent.workspace / "runs" / fin.run_id / "out" / "bin" / "000002"
        target.unlink()
        target.symlink_to("/etc/passwd")
        with pytest.raises(agent_client.AgentRequestError, match="leads outside the workspace"):
            c.fetch(fin.run_id, tmp_path / "dest")
    assert not (tmp_path / "dest" / "bin" / "000002").exists()


def test_client_refuses_unsafe_names_from_a_hostile_agent(tmp_path) -> None:
    for name in ("../x", "/etc/x", "a/../../x", "a\\b", ""):
        with pytest.raises(agent_client.AgentRequestError, match="unsafe file name"):
            fetch_mod._PartialFile(tmp_path, name, 1)


def test_quota_refuses_blobs_and_stops_a_dump_that_outgrows_it(agent_factory) -> None:
    agent = agent_factory(
        {"load_and_run": script_runner(FAKE_DUMPER, "--files", "40", "--file-bytes", "200000", "--delay", "0.05")},
        config={"quota": "3M", "max_blob_size": "2M"},
    )
    with agent.client() as c:
        sha = c.upload_blob(os.urandom(1 << 20))
        with pytest.raises(AgentQuotaError, match="accepts at most"):
            c.upload_blob(os.urandom(3 << 20))
        c.upload_blob(os.urandom(1500 << 10))
        with pytest.raises(AgentQuotaError, match="workspace quota is free; release finished runs"):
            c.upload_blob(os.urandom(1 << 20))
        fin = list(c.run(RunSpec(model_sha256=sha)))[-1]
        assert fin.state == "quota_exceeded"
        assert "outgrew the workspace quota" in fin.error and fin.error.endswith("the run was stopped")
        assert len([e for e in fin.manifest if e.var_id is not None]) < 40
        # nothing already stored is lost: the blobs are still there
        assert c.missing_blobs([sha]) == []
        assert c.release(fin.run_id) > 0


def test_finished_runs_survive_an_agent_restart(agent_factory, tmp_path) -> None:
    runners = {"load_and_run": script_runner(FAKE_DUMPER)}
    first = agent_factory(runners)
    with first.client() as c:
        sha = c.upload_blob(b"model")
        fin = list(c.run(RunSpec(model_sha256=sha)))[-1]
    first.stop()
    second = agent_factory(runners, workspace=first.workspace)
    with second.client() as c:
        info = c.get_run(fin.run_id)
        assert info.state == "succeeded" and info.finished.manifest == fin.manifest
        assert {f.sha256 for f in c.fetch(fin.run_id, tmp_path)} == {e.sha256 for e in fin.manifest}
        assert c.facts().used_bytes >= sum(e.size for e in fin.manifest)


def test_agent_killed_mid_fetch_leaves_no_partial_file(agent_factory, tmp_path, monkeypatch) -> None:
    agent = agent_factory({"load_and_run": script_runner(FAKE_DUMPER, "--files", "3", "--file-bytes", str(48 << 20))})
    with agent.client() as c:
        sha = c.upload_blob(b"model")
        fin = list(c.run(RunSpec(model_sha256=sha)))[-1]
        by_name = {e.name: e for e in fin.manifest}
        real_write = fetch_mod._PartialFile.write
        seen = set()

        def write(self, data):
            seen.add(self.name)
            if self.name == "bin/000009" and self._n == 0:
                os.kill(agent.proc.pid, signal.SIGKILL)  # the board dies in the middle of the second file
                agent.proc.wait(10)
            real_write(self, data)

        monkeypatch.setattr(fetch_mod._PartialFile, "write", write)
        dest = tmp_path / "dest"
        with pytest.raises(AgentUnreachable) as err:
            c.fetch(fin.run_id, dest, chunk_size=1 << 20)
    assert str(err.value).startswith(f"agent at {agent.address} is unreachable")
    assert "bin/000009" in seen
    assert not list(dest.rglob("*.larfarm-partial"))
    present = {str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()}
    assert "bin/000009" not in present and "bin/00000d" not in present
    for name in present:  # whatever made it is complete and verified
        assert agent_client.sha256_file(dest / name) == by_name[name].sha256


def test_a_restarted_agent_stops_what_a_killed_one_left_running(agent_factory, tmp_path) -> None:
    from tests.agent.test_runs import _alive, _gone, _wait_pids

    pid_file = tmp_path / "pids"
    runners = {"load_and_run": script_runner(PROGRAMS / "sleeper.py", str(pid_file))}
    first = agent_factory(runners)
    with first.client() as c:
        sha = c.upload_blob(b"model")
        stream = c.run(RunSpec(model_sha256=sha, bin_io_dump=False))
        run_id = next(stream).run_id
        pids = _wait_pids(pid_file)
        first.kill()  # the agent dies; its program, in its own process group, does not
    assert all(_alive(p) for p in pids)
    second = agent_factory(runners, workspace=first.workspace)
    assert _gone(pids), "the orphaned program was not stopped"
    with second.client() as c:
        info = c.get_run(run_id)
    assert info.state == "failed" and info.finished.error == "the agent stopped while this run was in progress"
    assert "left running by an earlier agent" in second.log()


def test_stopping_the_agent_cancels_its_run_and_kills_the_program(agent_factory, tmp_path) -> None:
    from tests.agent.test_runs import _gone, _wait_pids

    pid_file = tmp_path / "pids"
    agent = agent_factory({"load_and_run": script_runner(PROGRAMS / "sleeper.py", str(pid_file))})
    with agent.client() as c:
        sha = c.upload_blob(b"model")
        stream = c.run(RunSpec(model_sha256=sha, bin_io_dump=False))
        run_id = next(stream).run_id
        pids = _wait_pids(pid_file)
        agent.stop()  # SIGTERM, as systemctl stop sends
    assert agent.proc.returncode == 0
    assert _gone(pids)
    record = (agent.workspace / "runs" / run_id / "run.json").read_text()
    assert '"state": "CANCELLED"' in record


def test_a_file_corrupted_on_the_agent_is_refused_by_the_client(shared_agent, model_sha, tmp_path) -> None:
    with shared_agent.client() as c:
        fin = list(c.run(RunSpec(model_sha256=model_sha)))[-1]
        path = shared_agent.workspace / "runs" / fin.run_id / "out" / "bin" / "000009"
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF  # same size, other bytes: only the sha256 can tell
        path.write_bytes(bytes(data))
        with pytest.raises(agent_client.FetchVerifyError, match="bin/000009 from agent at .*expected"):
            c.fetch(fin.run_id, tmp_path)
    assert not (tmp_path / "bin" / "000009").exists()
    assert not list(tmp_path.rglob("*.larfarm-partial"))
    # the other files were verified and kept
    by_name = {e.name: e.sha256 for e in fin.manifest}
    assert agent_client.sha256_file(tmp_path / "bin" / "00000d") == by_name["bin/00000d"]


@pytest.fixture(scope="module")
def finished_run(shared_agent, model_sha) -> str:
    with shared_agent.client() as c:
        return list(c.run(RunSpec(model_sha256=model_sha)))[-1].run_id


@settings(max_examples=60, deadline=None)
@given(names=st.lists(st.text(max_size=30), min_size=1, max_size=3))
def test_any_fetch_name_is_served_only_from_the_manifest(shared_agent, finished_run, names) -> None:
    ch, stub, md = _stub(shared_agent)
    legit = {"bin/000005", "bin/000009", "bin/00000d", "bin/000011", "stdout.log", "stderr.log"}
    with ch:
        try:
            chunks = list(stub.Fetch(pb.FetchRequest(run_id=finished_run, names=names), timeout=10, metadata=md))
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.NOT_FOUND and not set(names) <= legit
            return
    assert set(names) <= legit
    assert {c.start.name for c in chunks if c.WhichOneof("kind") == "start"} == set(names)
