"""Every number crossing the wire or read from the agent's config is finite and in range, on both sides.

A `timeout_s = NaN` once escaped both the run timeout and `max_run_timeout_s`: NaN compares
false with everything, so `< 0` and `min(timeout, cap)` let it through.
"""

from __future__ import annotations

import math
import time

import grpc
import pytest

from agent.config import load_config
from agent.errors import ConfigError
from agent.runs import run_timeout
from controller.agent_client import AgentClient, AgentRequestError, InputSpec, RunSpec
from larfarm.agent.v1 import agent_pb2 as pb
from larfarm.agent.v1 import agent_pb2_grpc as pb_grpc
from tests.agent.conftest import PROGRAMS, script_runner

NAN, INF = float("nan"), float("inf")


def _stub(agent):
    ch = grpc.insecure_channel(agent.address)
    return ch, pb_grpc.AgentStub(ch), (("authorization", f"Bearer {agent.token}"),)


@pytest.fixture(scope="module")
def capped_agent(tmp_path_factory):
    """An agent whose runs may last at most 2 s, with a runner that would sleep 600 s."""
    from tests.support.agent import start_agent

    base = tmp_path_factory.mktemp("capped")
    agent = start_agent(
        base,
        {"sleeper": script_runner(PROGRAMS / "sleeper.py", str(base / "pids"))},
        config={"run_timeout_s": 1, "max_run_timeout_s": 2},
    )
    yield agent
    agent.stop()


@pytest.mark.parametrize(
    "fields, named",
    [
        ({"timeout_s": NAN}, "timeout_s"),
        ({"timeout_s": INF}, "timeout_s"),
        ({"timeout_s": -INF}, "timeout_s"),
        ({"timeout_s": -1.0}, "timeout_s"),
        ({"timeout_s": 1e300}, "timeout_s"),
        ({"iter": 2**32 - 1}, "iter"),
        ({"warmup_iter": 2**31}, "warmup_iter"),
        ({"multithread": 0}, "multithread"),
        ({"megdnn_dbg": 7}, "megdnn_dbg"),
        ({"extra_flags": ["--x"] * 300}, "extra_flags"),
    ],
)
def test_the_agent_refuses_out_of_range_numbers_naming_the_field(capped_agent, fields, named) -> None:
    """Sent past the client's own checks (raw stub), as any other client could."""
    with capped_agent.client() as c:
        model = c.upload_blob(b"model")
    ch, stub, md = _stub(capped_agent)
    try:
        spec = pb.RunSpec(runner="sleeper", model_sha256=model, **fields)
        t0 = time.monotonic()
        with pytest.raises(grpc.RpcError) as err:
            list(stub.Run(spec, timeout=20, metadata=md))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
        assert named in err.value.details()
        assert time.monotonic() - t0 < 5  # refused at once, not after the (capped) run
    finally:
        ch.close()


def test_no_spec_outlives_the_agents_cap(capped_agent) -> None:
    """Whatever the spec asks, the run ends by max_run_timeout_s (2 s here)."""
    with capped_agent.client() as c:
        model = c.upload_blob(b"model")
        for asked in (0.0, 1.5, 3600.0):
            t0 = time.monotonic()
            fin = list(c.run(RunSpec(runner="sleeper", model_sha256=model, timeout_s=asked)))[-1]
            assert fin.state == "timed_out", fin
            assert time.monotonic() - t0 < 8
            c.release(fin.run_id)


def test_run_timeout_is_finite_whatever_it_is_given() -> None:
    assert run_timeout(NAN, 600, 60) == 60
    assert run_timeout(0, NAN, 60) == 60
    assert run_timeout(100, 600, 60) == 60
    assert run_timeout(0, 600, 6000) == 600
    assert run_timeout(30, 600, 60) == 30


@pytest.mark.parametrize(
    "spec_kw, named",
    [
        ({"timeout_s": NAN}, "timeout_s"),
        ({"timeout_s": INF}, "timeout_s"),
        ({"timeout_s": -5}, "timeout_s"),
        ({"iter": 0}, "iter"),
        ({"iter": 1.5}, "iter"),
        ({"warmup_iter": -1}, "warmup_iter"),
        ({"multithread": 5000}, "multithread"),
        ({"megdnn_dbg": 3}, "megdnn_dbg"),
        ({"inputs": (InputSpec(shape=(1, 0)),)}, "shape"),
    ],
)
def test_the_client_refuses_a_bad_spec_before_sending(spec_kw, named) -> None:
    """Nothing listens on port 1: a refusal without a connection attempt proves it never left."""
    client = AgentClient("127.0.0.1:1", timeout=2)
    try:
        with pytest.raises(AgentRequestError, match=named):
            list(client.run(RunSpec(model_sha256="ab" * 32, **spec_kw)))
    finally:
        client.close()


@pytest.mark.parametrize("timeout", [NAN, INF, 0, -1])
def test_the_client_refuses_a_bad_call_timeout(timeout) -> None:
    with pytest.raises(AgentRequestError, match="timeout"):
        AgentClient("127.0.0.1:1", timeout=timeout)


@pytest.mark.parametrize(
    "text, where",
    [
        ("run_timeout_s: .nan", "run_timeout_s"),
        ("max_run_timeout_s: .inf", "max_run_timeout_s"),
        ("keep_finished_s: .nan", "keep_finished_s"),
        ("quota: '" + "9" * 400 + "'", "quota"),
        ("quota: " + "9" * 40, "quota"),
        ("max_queued_runs: 0.5", "max_queued_runs"),
        ("max_queued_runs: 100000000", "max_queued_runs"),
        ("log_lines_max: .inf", "log_lines_max"),
        ("stream_stall_s: .nan", "stream_stall_s"),
        ("max_streams_per_client: 0", "max_streams_per_client"),
    ],
)
def test_agent_config_numbers_are_finite_and_in_range(tmp_path, text, where) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and where in str(err.value)
    assert math.isfinite(load_config(None).max_run_timeout_s)


@pytest.mark.parametrize("chunk_size", [-1, 2**32, 1.5, True])
def test_the_client_refuses_a_bad_fetch_chunk_size(tmp_path, chunk_size) -> None:
    """A value the wire's uint32 cannot hold once ended in protobuf's ValueError traceback."""
    client = AgentClient("127.0.0.1:1", timeout=2)
    try:
        with pytest.raises(AgentRequestError, match="chunk_size"):
            client.fetch("20260101-000000-abcd", tmp_path, chunk_size=chunk_size)
    finally:
        client.close()
