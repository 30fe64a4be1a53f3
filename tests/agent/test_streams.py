"""Open streams are bounded per client and in total, a stalled reader is cut off, and the client
gives up on a stalled agent (real gRPC; the agent in its own process).

Once, one client that opened 100 Fetch streams and read none took every RPC thread of the
agent (health and GetFacts timed out, RSS 55 -> 302 MB), and a fetch from a stalled agent
hung for 150 s with timeout=20.
"""

from __future__ import annotations

import time
from concurrent import futures

import grpc
import pytest

from controller.agent_client import AgentClient, AgentQuotaError, AgentUnreachable, RunSpec
from larfarm.agent.v1 import agent_pb2 as pb
from larfarm.agent.v1 import agent_pb2_grpc as pb_grpc
from tests.agent.conftest import FAKE_DUMPER, PROGRAMS, script_runner
from tests.support.bounded import finishes_within

HOSTILE_STREAMS = 100
PER_CLIENT = 3
STALL_S = 3.0


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _health_and_facts_answer(agent) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    ch = grpc.insecure_channel(agent.address)
    try:
        resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert resp.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        ch.close()
    with agent.client(timeout=5) as c:
        facts = c.facts()
        assert facts.protocol == "larfarm.agent.v1" and facts.phone is None  # no adb runner: not a phone


@pytest.fixture
def guarded_agent(agent_factory, tmp_path):
    return agent_factory(
        {
            # 4 files of 4 MB: far more than a stream's flow-control window, so an unread stream blocks
            "load_and_run": script_runner(FAKE_DUMPER, "--files", "4", "--file-bytes", str(4_000_000)),
            "sleeper": script_runner(PROGRAMS / "sleeper.py", str(tmp_path / "pids")),
        },
        config={"max_streams": 6, "max_streams_per_client": PER_CLIENT, "stream_stall_s": STALL_S},
    )


def test_unread_fetch_streams_cannot_take_the_agent(guarded_agent, tmp_path) -> None:
    with guarded_agent.client() as c:
        model = c.upload_blob(b"model")
        fin = list(c.run(RunSpec(model_sha256=model)))[-1]
        assert fin.ok, fin
    rss_before = _rss_bytes(guarded_agent.proc.pid)
    # No BDP probing: the window stays at 64 KiB, so the unread streams surely block the agent's sends
    # (with probing the client may buffer a whole small run, and nothing blocks).
    ch = grpc.insecure_channel(guarded_agent.address, options=[("grpc.http2.bdp_probe", 0)])
    md = (("authorization", f"Bearer {guarded_agent.token}"),)
    stub = pb_grpc.AgentStub(ch)
    try:
        calls = [stub.Fetch(pb.FetchRequest(run_id=fin.run_id), metadata=md) for _ in range(HOSTILE_STREAMS)]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and sum(c.done() for c in calls) < HOSTILE_STREAMS - PER_CLIENT:
            time.sleep(0.05)
        refused = [c for c in calls if c.done()]
        assert len(refused) == HOSTILE_STREAMS - PER_CLIENT  # the excess is refused at once ...
        assert {c.code() for c in refused} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
        assert "max_streams_per_client" in refused[0].details()
        open_calls = [c for c in calls if not c.done()]
        # ... while the ones let in stay open and unread, the agent still answers
        t0 = time.monotonic()
        _health_and_facts_answer(guarded_agent)
        assert time.monotonic() - t0 < 5
        grown = _rss_bytes(guarded_agent.proc.pid) - rss_before
        assert grown < 64 << 20, f"agent RSS grew by {grown >> 20} MiB for {PER_CLIENT} stalled streams"
        assert len(open_calls) == PER_CLIENT
        # the agent ends the stalled streams after stream_stall_s, freeing their threads and slots;
        # the hostile client keeps its channel open, so the freed slots are seen from a new fetch
        t0 = time.monotonic()
        while (
            time.monotonic() - t0 < STALL_S + 10
            and guarded_agent.log().count("its peer took or sent nothing") < PER_CLIENT
        ):
            time.sleep(0.1)
        assert guarded_agent.log().count("its peer took or sent nothing") == PER_CLIENT
        assert time.monotonic() - t0 < STALL_S + 3
        with guarded_agent.client() as c:
            got = c.fetch(fin.run_id, tmp_path / "fetched")
            assert len(got) == len(fin.manifest)
    finally:
        ch.close()


def test_open_follow_streams_are_bounded_per_client(guarded_agent) -> None:
    with guarded_agent.client() as c:
        model = c.upload_blob(b"model")
        events = c.run(RunSpec(runner="sleeper", model_sha256=model))
        run_id = next(events).run_id
        follows = [c.follow(run_id) for _ in range(PER_CLIENT)]
        for f in follows:
            next(f)  # each is open and has its first event
        with pytest.raises(AgentQuotaError, match="max_streams_per_client"):
            next(c.follow(run_id))
        _health_and_facts_answer(guarded_agent)
        c.cancel(run_id)
        for f in follows:
            assert list(f)[-1].state == "cancelled"
        assert list(events)[-1].state == "cancelled"


class _StalledAgent(pb_grpc.AgentServicer):
    """Answers blob checks, then stalls in every stream: sends one message and waits until cancelled."""

    def HaveBlobs(self, request, context):
        return pb.HaveBlobsResponse(missing=list(request.sha256))

    def UploadBlob(self, request_iterator, context):
        next(request_iterator)  # the header, then never reads again
        while context.is_active():
            time.sleep(0.1)
        return pb.UploadBlobResponse()

    def Fetch(self, request, context):
        yield pb.FetchChunk(start=pb.FileStart(name="bin/000005", size=100))
        while context.is_active():
            time.sleep(0.1)

    def Run(self, request, context):
        while context.is_active():
            time.sleep(0.1)
        return
        yield


@pytest.fixture
def stalled_agent():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    pb_grpc.add_AgentServicer_to_server(_StalledAgent(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(0)


def test_fetch_from_a_stalled_agent_gives_up_after_the_client_timeout(stalled_agent, tmp_path) -> None:
    client = AgentClient(stalled_agent, timeout=2)
    try:
        t0 = time.monotonic()
        out = finishes_within(lambda: client.fetch("20260101-000000-abcd", tmp_path / "f"), 20)
        assert isinstance(out.get("error"), AgentUnreachable), out
        assert "nothing received for 2 s" in str(out["error"])
        assert 1.5 < time.monotonic() - t0 < 8
        assert [p for p in (tmp_path / "f").rglob("*") if p.is_file()] == []  # no partial file left
    finally:
        client.close()


def test_upload_to_a_stalled_agent_gives_up(stalled_agent) -> None:
    client = AgentClient(stalled_agent, timeout=2)
    try:
        out = finishes_within(lambda: client.upload_blob(b"x" * (16 << 20)), 30)
        assert isinstance(out.get("error"), AgentUnreachable), out
        assert "no progress for 2 s" in str(out["error"])
    finally:
        client.close()


def test_run_stream_has_a_deadline(stalled_agent) -> None:
    client = AgentClient(stalled_agent, timeout=2)
    try:
        out = finishes_within(lambda: list(client.run(RunSpec(model_sha256="ab" * 32, timeout_s=1), deadline_s=2)), 20)
        assert isinstance(out.get("error"), AgentUnreachable), out
    finally:
        client.close()
