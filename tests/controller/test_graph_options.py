"""Graph options in farm.yaml and campaign.yaml: validation with file:line:field, per-key merge, the wire, run.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from agent.service import options_from_msg
from controller.agent_client.convert import spec_to_proto
from controller.agent_client.types import RunSpec
from controller.campaign import load_campaign
from controller.errors import ConfigError
from controller.farm import load_farm
from controller.graph_options import GraphOptions
from tests.controller.campaigns import FAKE_MODEL, run_controller


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def test_a_devices_options_load_typed(tmp_path):
    farm = load_farm(
        write(
            tmp_path,
            "farm.yaml",
            "devices:\n  - name: a\n    local: true\n    options: {enable_nchw88: true, workspace_limit: 67108864}\n"
            "  - name: b\n    local: true\n",
        )
    )
    assert farm.devices[0].options.given() == {"enable_nchw88": True, "workspace_limit": 67108864}
    assert farm.devices[1].options == GraphOptions()


@pytest.mark.parametrize(
    "options,where",
    [
        ("{enable_nchw99: true}", ":4: devices[0].options.enable_nchw99: unknown field"),
        ("{enable_nchw88: 'yes'}", ":4: devices[0].options.enable_nchw88: Input should be a valid boolean"),
        ("{workspace_limit: -1}", ":4: devices[0].options.workspace_limit: Input should be greater than or equal to 0"),
        ("{workspace_limit: 64M}", ":4: devices[0].options.workspace_limit: Input should be a valid integer"),
        ("{layout_transform: gpu}", ":4: devices[0].options.layout_transform: Input should be '', 'cpu' or 'cuda'"),
        ("{enable_nchw44: true, enable_nchw88: true}", "choose one layout option, not enable_nchw44 and enable_nchw88"),
        ("{record_comp_seq2: true}", "record_comp_seq2 needs no_sanity_check"),
        ("[enable_nchw88]", ":4: devices[0].options: Input should be"),
    ],
)
def test_bad_device_options_name_file_line_field(tmp_path, options, where):
    path = write(tmp_path, "farm.yaml", f"devices:\n  - name: a\n    local: true\n    options: {options}\n")
    with pytest.raises(ConfigError) as info:
        load_farm(path)
    text = str(info.value)
    assert text.startswith(str(path)) and where in text, text
    assert "\n" not in text


def test_campaign_options_and_a_bad_key(tmp_path):
    (tmp_path / "m.mge").write_bytes(FAKE_MODEL)
    base = "name: c\nmodel: m.mge\ninputs:\n  data: {shape: [1, 4]}\nchecks: [naive]\n"
    camp = load_campaign(write(tmp_path, "c.yaml", base + "options: {weight_preprocess: true}\n"))
    assert camp.options.given() == {"weight_preprocess": True}
    with pytest.raises(ConfigError, match=r"c2.yaml:7: options.weight_preproces: unknown field"):
        load_campaign(write(tmp_path, "c2.yaml", base + "options:\n  weight_preproces: true\n"))


def test_the_devices_own_options_win_key_by_key():
    campaign = GraphOptions(enable_nchw88=True, weight_preprocess=True, record_comp_seq=True)
    device = GraphOptions(weight_preprocess=False, const_shape=True)
    assert device.over(campaign).given() == {
        "enable_nchw88": True,
        "const_shape": True,
        "record_comp_seq": True,
    }
    # a layout (or record level) named by the device replaces the campaign's, not joins it
    assert GraphOptions(enable_nchw44=True).over(campaign).given() == {
        "enable_nchw44": True,
        "weight_preprocess": True,
        "record_comp_seq": True,
    }
    assert GraphOptions().over(campaign) == campaign


def test_options_cross_the_wire_typed():
    opts = GraphOptions(enable_nhwcd4=True, workspace_limit=0, layout_transform="cpu")
    msg = spec_to_proto(RunSpec(model_sha256="a" * 64, options=opts))
    assert msg.options.HasField("workspace_limit") and msg.options.workspace_limit == 0
    assert options_from_msg(msg.options).__dict__ == {**GraphOptions().model_dump(), **opts.given()}
    assert not spec_to_proto(RunSpec(model_sha256="a" * 64)).options.HasField("workspace_limit")


def test_a_campaign_runs_each_device_with_its_deployed_options(tmp_path, megengine_fixtures, lite_runtime):
    shutil.copyfile(megengine_fixtures / "models" / "tiny_cnn.mge", tmp_path / "tiny_cnn.mge")
    shutil.copyfile(megengine_fixtures / "inputs" / "tiny_cnn__data.npy", tmp_path / "data.npy")
    write(
        tmp_path,
        "farm.yaml",
        "devices:\n  - name: host-a\n    local: true\n"
        "  - name: host-b\n    local: true\n    options: {enable_nchw44: true}\n",
    )
    write(
        tmp_path,
        "campaign.yaml",
        "name: opt\nmodel: tiny_cnn.mge\ninputs:\n  data: data.npy\nchecks: [naive]\n"
        "options: {weight_preprocess: true}\n",
    )
    proc = run_controller(["run", "--devices", "farm.yaml", "--campaign", "campaign.yaml", "--out", "out"], tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    root = tmp_path / "out" / "opt"
    report = json.loads((root / "report.json").read_text())
    assert {d["name"]: d["options"] for d in report["devices"]} == {
        "host-a": {"weight_preprocess": True},
        "host-b": {"enable_nchw44": True, "weight_preprocess": True},
    }
    for dev, given, nbin in (
        ("host-a", {"weight_preprocess": True}, 17),
        ("host-b", {"enable_nchw44": True, "weight_preprocess": True}, 22),
    ):
        for role in ("default", "naive"):
            rec = json.loads((root / f"{dev}.{role}" / "run.json").read_text())
            options = rec["spec"]["options"]
            assert {k: v for k, v in options.items() if not (v is False or v is None or v == "")} == given
            assert len([f for f in rec["manifest"] if f["name"].startswith("bin/")]) == nbin


def test_cross_and_options_checks_pair_the_vars_of_differently_configured_runs_by_graph(
    tmp_path, megengine_fixtures, lite_runtime
):
    shutil.copyfile(megengine_fixtures / "models" / "tiny_cnn.mge", tmp_path / "tiny_cnn.mge")
    shutil.copyfile(megengine_fixtures / "inputs" / "tiny_cnn__data.npy", tmp_path / "data.npy")
    write(
        tmp_path,
        "farm.yaml",
        "devices:\n  - name: host-a\n    local: true\n"
        "  - name: host-b\n    local: true\n    options: {enable_nchw44: true}\n",
    )
    write(
        tmp_path, "campaign.yaml", "name: x\nmodel: tiny_cnn.mge\ninputs:\n  data: data.npy\nchecks: [cross, options]\n"
    )
    proc = run_controller(["run", "--devices", "farm.yaml", "--campaign", "campaign.yaml", "--out", "out"], tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads((tmp_path / "out" / "x" / "report.json").read_text())
    (cross,) = [c for c in report["checks"] if c["kind"] == "cross"]
    # options: only host-b has any; its deployed run against a plain run of the same device
    (opts,) = [c for c in report["checks"] if c["kind"] == "options"]
    assert opts["devices"] == ["host-b"] and opts["runs"] == ["host-b.plain", "host-b.default"]
    plain = json.loads((tmp_path / "out" / "x" / "host-b.plain" / "run.json").read_text())
    assert not any(plain["spec"]["options"].values())
    checked = [cross, opts]
    for check in checked:
        _pairs_by_graph(check)


def _pairs_by_graph(check: dict) -> None:
    """A comparison of default (A) vs nchw44 (B) tiny_cnn runs: paired by graph, kernel differences only."""
    analysis = check["comparisons"][0]["analysis"]
    assert analysis["matching"] == "graph"
    # 17 vars of the default graph: the two convs fused into ConvBias have no var of their own in B
    assert len(analysis["pairs"]) >= 15 and not analysis["unmatched_b"]
    assert sorted(u["var_id"] for u in analysis["unmatched_a"]) == [9, 20]
    assert all("fused into ConvBias" in u["reason"] for u in analysis["unmatched_a"])
    # what differs is the convolutions' kernels (conv+bias+relu fused), never a relayout or a one-sided var
    for root in check["roots"]:
        assert root["type"] not in ("Reshape", "Dimshuffle", "RelayoutFormat"), root
        assert root["name"].endswith(".RELU") or "conv" in root["name"], root


def test_agent_and_controller_tables_name_the_protos_fields_in_order() -> None:
    """The agent may not import the controller, so each side keeps its own GraphOptions table;
    both must stay the proto's message, field for field, or a new option is lost on one side."""
    import dataclasses

    from agent.graph_options import GraphOptions as AgentGraphOptions
    from larfarm.agent.v1 import agent_pb2 as pb

    wire = [f.name for f in pb.GraphOptions.DESCRIPTOR.fields]
    assert [f.name for f in dataclasses.fields(AgentGraphOptions)] == wire
    assert list(GraphOptions.model_fields) == wire
