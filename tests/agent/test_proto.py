"""The protocol: committed stubs match the .proto; health and reflection answer on a real agent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "proto"
GENERATED = ("agent_pb2.py", "agent_pb2_grpc.py", "agent_pb2.pyi")


def _grpc_tools_or_skip() -> None:
    import importlib.util

    if importlib.util.find_spec("grpc_tools") is None:
        from tests.support.lite import in_ci

        if in_ci():
            pytest.fail("CI needs grpcio-tools (test extra) to check the committed stubs")
        pytest.skip("grpcio-tools (test extra) regenerates the stubs")


def test_committed_stubs_are_not_stale(tmp_path: Path) -> None:
    """The stubs are generated with the older grpcio-tools that `make proto` pins (so boards with an
    older protobuf and grpcio can load them), so compare what they mean, not their bytes: the
    descriptor they register must equal what protoc makes of the .proto now, and the gRPC stub must
    name every method."""
    _grpc_tools_or_skip()
    from google.protobuf import descriptor_pb2

    from larfarm.agent.v1 import agent_pb2

    rel = "larfarm/agent/v1/agent.proto"
    out = tmp_path / "agent.pb"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO}", f"--descriptor_set_out={out}", str(PROTO / rel)],
        check=True,
    )
    fresh = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    committed = descriptor_pb2.FileDescriptorProto.FromString(agent_pb2.DESCRIPTOR.serialized_pb)
    _drop_json_names(fresh)  # protoc's descriptor sets spell them out; Python gencode leaves them implied
    assert committed == fresh, "proto/larfarm/agent/v1/agent_pb2.py is stale: run `make proto`"
    grpc_stub = (PROTO / "larfarm/agent/v1/agent_pb2_grpc.py").read_text()
    for method in fresh.service[0].method:
        assert f"'/larfarm.agent.v1.Agent/{method.name}'" in grpc_stub, (
            f"agent_pb2_grpc.py lacks {method.name}: run `make proto`"
        )
    pyi = (PROTO / "larfarm/agent/v1/agent_pb2.pyi").read_text()
    for message in fresh.message_type:
        assert f"class {message.name}(" in pyi, f"agent_pb2.pyi lacks {message.name}: run `make proto`"


def _drop_json_names(fd) -> None:
    def walk(message) -> None:
        for f in message.field:
            f.ClearField("json_name")
        for nested in message.nested_type:
            walk(nested)

    for message in fd.message_type:
        walk(message)


def test_staleness_check_notices_a_changed_proto(tmp_path: Path) -> None:
    """The check above is not vacuous: a .proto with one more field gives another descriptor."""
    _grpc_tools_or_skip()
    from google.protobuf import descriptor_pb2

    from larfarm.agent.v1 import agent_pb2

    changed = tmp_path / "larfarm/agent/v1/agent.proto"
    changed.parent.mkdir(parents=True)
    text = (PROTO / "larfarm/agent/v1/agent.proto").read_text()
    changed.write_text(text.replace("message GetFactsRequest {}", "message GetFactsRequest { bool verbose = 1; }"))
    out = tmp_path / "agent.pb"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{tmp_path}", f"--descriptor_set_out={out}", str(changed)],
        check=True,
    )
    fresh = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    _drop_json_names(fresh)
    assert fresh != descriptor_pb2.FileDescriptorProto.FromString(agent_pb2.DESCRIPTOR.serialized_pb)


def test_stubs_carry_no_runtime_version_gate() -> None:
    """Stubs from a new protoc refuse any protobuf older than themselves (and so any board Python
    below 3.10); ours must load on the older runtimes a board has."""
    for name in GENERATED[:2]:
        text = (PROTO / "larfarm/agent/v1" / name).read_text()
        assert "ValidateProtobufRuntimeVersion" not in text and "GRPC_GENERATED_VERSION" not in text, name


def test_stubs_import_as_larfarm_package_and_no_top_level_proto() -> None:
    from larfarm.agent.v1 import agent_pb2, agent_pb2_grpc

    assert agent_pb2.DESCRIPTOR.package == "larfarm.agent.v1"
    assert hasattr(agent_pb2_grpc, "AgentStub")
    out = subprocess.run(
        [sys.executable, "-c", "import importlib.util as u; print(u.find_spec('proto'))"],
        capture_output=True,
        text=True,
        cwd="/",
    )
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
