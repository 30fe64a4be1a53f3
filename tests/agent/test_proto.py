"""The protocol: committed stubs match the .proto; health and reflection answer on a real agent."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "proto"
GENERATED = ("agent_pb2.py", "agent_pb2_grpc.py", "agent_pb2.pyi")


def test_committed_stubs_are_not_stale(tmp_path: Path) -> None:
    try:
        import grpc_tools  # noqa: F401
    except ImportError:
        from tests.support.lite import in_ci

        if in_ci():
            pytest.fail("CI needs grpcio-tools (test extra) to check the committed stubs")
        pytest.skip("grpcio-tools (test extra) regenerates the stubs")
    rel = "larfarm/agent/v1/agent.proto"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO}", f"--python_out={tmp_path}",
         f"--grpc_python_out={tmp_path}", f"--pyi_out={tmp_path}", str(PROTO / rel)],
        check=True,
    )
    for name in GENERATED:
        fresh, committed = tmp_path / "larfarm/agent/v1" / name, PROTO / "larfarm/agent/v1" / name
        assert filecmp.cmp(fresh, committed, shallow=False), f"{committed} is stale: run `make proto`"


def test_stubs_import_as_larfarm_package_and_no_top_level_proto() -> None:
    from larfarm.agent.v1 import agent_pb2, agent_pb2_grpc

    assert agent_pb2.DESCRIPTOR.package == "larfarm.agent.v1"
    assert hasattr(agent_pb2_grpc, "AgentStub")
    out = subprocess.run([sys.executable, "-c", "import importlib.util as u; print(u.find_spec('proto'))"],
                         capture_output=True, text=True, cwd="/")
    assert "proto/__init__" not in out.stdout  # we never install a top-level `proto`


def test_health_answers_without_token(shared_agent) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(shared_agent.address) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        for service in ("", "larfarm.agent.v1.Agent"):
            resp = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert resp.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_agent_service(shared_agent) -> None:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    md = (("authorization", f"Bearer {shared_agent.token}"),)
    with grpc.insecure_channel(shared_agent.address) as ch:
        stub = reflection_pb2_grpc.ServerReflectionStub(ch)
        req = reflection_pb2.ServerReflectionRequest(list_services="")
        responses = list(stub.ServerReflectionInfo(iter([req]), timeout=10, metadata=md))
    names = {s.name for s in responses[0].list_services_response.service}
    assert "larfarm.agent.v1.Agent" in names
    assert "grpc.health.v1.Health" in names


def test_reflection_needs_the_token(shared_agent) -> None:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with grpc.insecure_channel(shared_agent.address) as ch:
        stub = reflection_pb2_grpc.ServerReflectionStub(ch)
        req = reflection_pb2.ServerReflectionRequest(list_services="")
        with pytest.raises(grpc.RpcError) as err:
            list(stub.ServerReflectionInfo(iter([req]), timeout=10))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
