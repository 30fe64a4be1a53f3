"""Token and TLS: refused with exactly UNAUTHENTICATED, accepted with the token, TLS and mutual TLS."""

from __future__ import annotations

import os
import subprocess
import sys

import grpc
import pytest

from controller.agent_client import AgentAuthError, AgentUnreachable, TlsConfig
from larfarm.agent.v1 import agent_pb2 as pb
from larfarm.agent.v1 import agent_pb2_grpc as pb_grpc
from tests.agent.conftest import FAKE_DUMPER, script_runner

RUNNERS = {"load_and_run": script_runner(FAKE_DUMPER)}


def _stub(agent):
    ch = grpc.insecure_channel(agent.address)
    return ch, pb_grpc.AgentStub(ch)


@pytest.mark.parametrize(
    "metadata",
    [None, (("authorization", "Bearer wrong"),), (("x-larfarm-token", "wrong"),), (("authorization", "Basic abc"),)],
)
def test_unary_call_without_right_token_is_unauthenticated(shared_agent, metadata) -> None:
    ch, stub = _stub(shared_agent)
    with ch, pytest.raises(grpc.RpcError) as err:
        stub.GetFacts(pb.GetFactsRequest(), timeout=10, metadata=metadata)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_streaming_calls_are_refused_in_their_own_shape(shared_agent, model_sha) -> None:
    ch, stub = _stub(shared_agent)
    bad = (("authorization", "Bearer nope"),)
    with ch:
        with pytest.raises(grpc.RpcError) as err:  # server streaming
            list(stub.Run(pb.RunSpec(runner="load_and_run", model_sha256=model_sha), timeout=10, metadata=bad))
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as err:  # client streaming
            stub.UploadBlob(
                iter([pb.UploadBlobChunk(header=pb.BlobHeader(sha256="0" * 64, size=1))]), timeout=10, metadata=bad
            )
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as err:
            list(stub.Fetch(pb.FetchRequest(run_id="x"), timeout=10, metadata=bad))
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_right_token_is_accepted_in_either_header(shared_agent) -> None:
    ch, stub = _stub(shared_agent)
    with ch:
        for md in ((("authorization", f"Bearer {shared_agent.token}"),), (("x-larfarm-token", shared_agent.token),)):
            facts = stub.GetFacts(pb.GetFactsRequest(), timeout=10, metadata=md)
            assert facts.protocol == "larfarm.agent.v1"


def test_client_maps_refusal_to_auth_error_and_log_hides_the_token(shared_agent) -> None:
    secret_guess = "guess-" + "z" * 20
    with shared_agent.client(token=secret_guess) as c, pytest.raises(AgentAuthError) as err:
        c.facts()
    assert "refused the token" in str(err.value)
    log = shared_agent.log()
    assert "refused /larfarm.agent.v1.Agent/GetFacts" in log
    assert secret_guess not in log and shared_agent.token not in log


def test_facts_with_token(shared_agent) -> None:
    with shared_agent.client() as c:
        f = c.facts()
    assert f.cpu_cores >= 1 and f.mem_total_bytes > 0 and f.arch
    names = {r.name: r for r in f.runners}
    assert names["load_and_run"].available and names["load_and_run"].version.startswith("sha256:")
    assert not names["missing"].available


def test_beyond_loopback_without_token_is_refused_at_start(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LARFARM_TOKEN"}
    r = subprocess.run(
        [sys.executable, "-m", "agent", "serve", "--listen", "0.0.0.0:0", "--workspace", str(tmp_path / "ws")],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("agent: error: --listen: refusing to listen on 0.0.0.0")
    assert "Traceback" not in r.stderr


def test_beyond_loopback_with_token_but_no_tls_warns(agent_factory) -> None:
    agent = agent_factory(RUNNERS, listen="0.0.0.0:0")
    agent.address = agent.address.replace("0.0.0.0", "127.0.0.1")
    with agent.client() as c:
        assert c.facts().protocol == "larfarm.agent.v1"
    assert "without TLS" in agent.log()


def test_tls_server(agent_factory, tmp_path) -> None:
    from tests.agent.certs import make_pki

    pki = make_pki(tmp_path / "pki")
    agent = agent_factory(
        RUNNERS, tls={"cert": pki["server_cert"], "key": pki["server_key"]}, client_tls=TlsConfig(ca=pki["ca"])
    )
    with agent.client() as c:
        assert c.facts().protocol == "larfarm.agent.v1"
    # plaintext against a TLS port does not get through
    with agent.client(tls=None, timeout=3) as c, pytest.raises(AgentUnreachable):
        c.facts()
    # a client trusting another CA refuses the server: verification is never off
    other = make_pki(tmp_path / "other", "another CA")
    with agent.client(tls=TlsConfig(ca=other["ca"]), timeout=3) as c, pytest.raises(AgentUnreachable):
        c.facts()


def test_mutual_tls_needs_a_client_certificate(agent_factory, tmp_path) -> None:
    from tests.agent.certs import make_pki

    pki = make_pki(tmp_path / "pki")
    full = TlsConfig(ca=pki["ca"], cert=pki["client_cert"], key=pki["client_key"])
    agent = agent_factory(
        RUNNERS, tls={"cert": pki["server_cert"], "key": pki["server_key"], "client_ca": pki["ca"]}, client_tls=full
    )
    with agent.client() as c:
        assert c.facts().protocol == "larfarm.agent.v1"
    with agent.client(tls=TlsConfig(ca=pki["ca"]), timeout=3) as c, pytest.raises(AgentUnreachable):
        c.facts()
    other = make_pki(tmp_path / "other", "another CA")
    wrong = TlsConfig(ca=pki["ca"], cert=other["client_cert"], key=other["client_key"])
    with agent.client(tls=wrong, timeout=3) as c, pytest.raises(AgentUnreachable):
        c.facts()
