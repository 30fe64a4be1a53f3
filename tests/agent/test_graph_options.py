"""Graph options in the run spec: proto <-> domain, argv per runner, refusals naming the option."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import grpc
import pytest

from agent import graph_options
from agent.blobs import BlobStore
from agent.config import RunnerConfig
from agent.errors import RequestError
from agent.graph_options import LITE_REFUSED, GraphOptions
from agent.quota import Quota
from agent.runners import LiteRunner, LoadAndRunRunner
from agent.service import options_from_msg
from agent.spec import RunRequest
from larfarm.agent.v1 import agent_pb2 as pb
from larfarm.agent.v1 import agent_pb2_grpc as pb_grpc


def runner(kind: str):
    cls = LiteRunner if kind == "lite" else LoadAndRunRunner
    return cls(RunnerConfig(name=kind, type=kind, path=Path("/opt/prog")))


def prepare(tmp_path: Path, kind: str, options: GraphOptions, **kw) -> tuple:
    blobs = BlobStore(tmp_path / "blobs", Quota(1 << 30), 1 << 30)
    model = blobs.receive(hashlib.sha256(b"m").hexdigest(), 1, iter([b"m"])).sha256
    req = RunRequest(runner=kind, model_sha256=model, options=options, **kw)
    return runner(kind).prepare(req, tmp_path / "run", blobs, {}).argv


def test_every_proto_field_is_a_domain_option_and_back():
    proto = [f.name for f in pb.GraphOptions.DESCRIPTOR.fields]
    assert proto == [f.name for f in dataclasses.fields(GraphOptions)] == list(graph_options.OPTIONS)


def test_options_from_the_message_keep_types_and_an_unset_limit():
    assert options_from_msg(pb.GraphOptions()) == GraphOptions()
    msg = pb.GraphOptions(enable_nchw88=True, workspace_limit=0, layout_transform="cpu", const_shape=True)
    assert options_from_msg(msg) == GraphOptions(
        enable_nchw88=True, workspace_limit=0, layout_transform="cpu", const_shape=True
    )


@pytest.mark.parametrize("kind", ["load_and_run", "lite"])
def test_both_runners_put_the_options_on_the_command_line(tmp_path, kind):
    opts = GraphOptions(enable_nchw44=True, weight_preprocess=True, workspace_limit=1 << 26)
    argv = prepare(tmp_path, kind, opts, bin_io_dump=True)
    assert argv[-3:] == ("--enable-nchw44", "--weight-preprocess", "--workspace-limit=67108864")


def test_a_zero_workspace_limit_is_a_limit_not_off(tmp_path):
    assert prepare(tmp_path, "lite", GraphOptions(workspace_limit=0))[-1] == "--workspace-limit=0"


def test_load_and_run_takes_what_lar_lite_refuses(tmp_path):
    opts = GraphOptions(enable_chwn4=True, disable_mem_opt=True, layout_transform="cuda")
    argv = prepare(tmp_path, "load_and_run", opts)
    assert argv[-3:] == ("--enable-chwn4", "--disable-mem-opt", "--layout-transform=cuda")


@pytest.mark.parametrize("name", sorted(LITE_REFUSED))
def test_lar_lite_runner_refuses_what_its_program_does_not_take_naming_it(tmp_path, name):
    with pytest.raises(RequestError, match=rf"runner lite: option {name} is refused"):
        prepare(tmp_path, "lite", GraphOptions(**{name: True}))
    # load_and_run --lite refuses them the same way
    with pytest.raises(RequestError, match=rf"option {name} is refused for Lite models"):
        prepare(tmp_path, "load_and_run", GraphOptions(**{name: True}), lite=True)


def test_lar_lite_runner_refuses_a_cuda_layout_transform(tmp_path):
    with pytest.raises(RequestError, match=r"layout_transform=cuda"):
        prepare(tmp_path, "lite", GraphOptions(layout_transform="cuda"))


@pytest.mark.parametrize(
    "opts,pattern",
    [
        (GraphOptions(enable_nchw44=True, enable_nhwcd4=True), r"choose one layout option"),
        (GraphOptions(record_comp_seq2=True), r"needs --no-sanity-check"),
        (GraphOptions(layout_transform="gpu"), r"unsupported target 'gpu'"),
    ],
)
@pytest.mark.parametrize("kind", ["load_and_run", "lite"])
def test_combinations_no_program_takes_are_refused(tmp_path, kind, opts, pattern):
    with pytest.raises(RequestError, match=pattern):
        prepare(tmp_path, kind, opts)


def test_a_fake_first_execution_is_the_warm_up_of_a_dumping_run(tmp_path):
    # MegEngine's fake first execution computes and dumps nothing: the dumped forward must come after it
    argv = prepare(tmp_path, "lite", GraphOptions(fake_first=True), bin_io_dump=True)
    assert argv[argv.index("--warmup-iter") + 1] == "1" and argv[argv.index("--iter") + 1] == "1"
    assert "--fake-first" in argv


@pytest.mark.parametrize(
    "runner,options,named",
    [
        ("lite", pb.GraphOptions(enable_chwn4=True), "enable_chwn4"),
        ("lite", pb.GraphOptions(disable_mem_opt=True), "disable_mem_opt"),
        ("load_and_run", pb.GraphOptions(enable_nchw44=True, enable_nchw88=True), "--enable-nchw88"),
    ],
)
def test_over_grpc_a_refused_option_is_invalid_argument_naming_it(shared_agent, model_sha, runner, options, named):
    ch = grpc.insecure_channel(shared_agent.address)
    md = (("authorization", f"Bearer {shared_agent.token}"),)
    try:
        spec = pb.RunSpec(runner=runner, model_sha256=model_sha, bin_io_dump=True, options=options)
        with pytest.raises(grpc.RpcError) as err:
            list(pb_grpc.AgentStub(ch).Run(spec, timeout=20, metadata=md))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
        assert named in err.value.details()
    finally:
        ch.close()


def test_over_grpc_the_options_reach_the_programs_command_line(shared_agent, model_sha):
    ch = grpc.insecure_channel(shared_agent.address)
    md = (("authorization", f"Bearer {shared_agent.token}"),)
    try:
        opts = pb.GraphOptions(enable_nchw88=True, workspace_limit=1024, layout_transform="cpu")
        spec = pb.RunSpec(runner="lite", model_sha256=model_sha, bin_io_dump=True, options=opts)
        started = [e.started for e in pb_grpc.AgentStub(ch).Run(spec, timeout=60, metadata=md) if e.HasField("started")]
        assert started and list(started[0].argv[-3:]) == [
            "--enable-nchw88",
            "--workspace-limit=1024",
            "--layout-transform=cpu",
        ]
    finally:
        ch.close()
