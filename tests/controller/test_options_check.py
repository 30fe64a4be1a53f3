"""The options check: a device's deployed graph options against the same device with none, vars matched by graph."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from controller import plan
from controller.campaign import Campaign
from controller.graph_options import GraphOptions
from tests.controller.campaigns import run_controller


def _write(tmp: Path, name: str, text: str) -> None:
    (tmp / name).write_text(text)


def test_only_devices_with_options_make_a_plain_run_and_it_has_none():
    camp = Campaign.model_validate({"name": "c", "model": "m.mge", "inputs": {"data": {"shape": [1]}}})
    assert "options" in camp.checks
    assert [p.role for p in plan.base_runs(camp, GraphOptions())].count(plan.PLAIN) == 0
    runs = plan.base_runs(camp, GraphOptions(enable_nchw44=True))
    (plain,) = [p for p in runs if p.role == plan.PLAIN]
    spec = plan.build_spec(camp, plain, "lite", "a" * 64, {}, "dev", GraphOptions(enable_nchw44=True))
    assert spec.options.given() == {}
    deployed = plan.build_spec(camp, runs[0], "lite", "a" * 64, {}, "dev", GraphOptions(enable_nchw44=True))
    assert deployed.options.given() == {"enable_nchw44": True}


def test_options_check_in_a_campaign(tmp_path, megengine_fixtures, lite_runtime):
    shutil.copyfile(megengine_fixtures / "models" / "tiny_cnn.mge", tmp_path / "tiny_cnn.mge")
    shutil.copyfile(megengine_fixtures / "inputs" / "tiny_cnn__data.npy", tmp_path / "data.npy")
    _write(
        tmp_path,
        "farm.yaml",
        "devices:\n  - name: host-a\n    local: true\n"
        "  - name: host-b\n    local: true\n    options: {enable_nchw44: true}\n",
    )
    _write(
        tmp_path,
        "campaign.yaml",
        "name: o\nmodel: tiny_cnn.mge\ninputs:\n  data: data.npy\nchecks: [options]\ntolerance: 1e-9\n",
    )
    proc = run_controller(["run", "--devices", "farm.yaml", "--campaign", "campaign.yaml", "--out", "out"], tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    root = tmp_path / "out" / "o"
    assert not (root / "host-a.plain").exists()  # no options: nothing to compare against
    plain = json.loads((root / "host-b.plain" / "run.json").read_text())
    assert not any(v for v in plain["spec"]["options"].values() if v not in (False, None, ""))
    report = json.loads((root / "report.json").read_text())
    (check,) = [c for c in report["checks"] if c["kind"] == "options"]
    assert check["devices"] == ["host-b"]
    analysis = check["comparisons"][0]["analysis"]
    assert analysis["matching"] == "graph"
    assert sorted(u["var_id"] for u in analysis["unmatched_a"]) == [9, 20]  # the convs fused into ConvBias
    assert all("fused into ConvBias" in u["reason"] for u in analysis["unmatched_a"])
    assert not analysis["unmatched_b"]
    assert "enable_nchw44" in check["note"] and "paired by graph" in check["note"]
    for r in check["roots"]:
        assert r["type"] not in ("Reshape", "Dimshuffle", "RelayoutFormat"), r
    # in A's terms the root is the Elemwise after the fused conv; B's kernel that made it is named beside it
    fused = [r for r in check["roots"] if r.get("b", {}).get("type") == "ConvBiasForward"]
    assert fused and all(r["type"] == "Elemwise" and r["b"]["id"] != r["id"] for r in fused), check["roots"]
    assert "options" in proc.stdout
    assert f"(B: var{fused[0]['b']['id']}" in proc.stdout  # the table may wrap the rest of the cell


def test_an_option_the_model_cannot_take_fails_that_run_in_one_line_and_the_device_goes_on(tmp_path, lite_runtime):
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "megengine" / "match"
    shutil.copyfile(fixtures / "models" / "conv_act.mge", tmp_path / "conv_act.mge")
    shutil.copyfile(fixtures / "inputs" / "conv_act__data.npy", tmp_path / "data.npy")
    _write(
        tmp_path,
        "farm.yaml",
        "devices:\n  - name: host-a\n    local: true\n"
        "  - name: host-b\n    local: true\n    options: {enable_nhwcd4: true}\n",
    )
    _write(
        tmp_path,
        "campaign.yaml",
        "name: f\nmodel: conv_act.mge\ninputs:\n  data: data.npy\nchecks: [cross, options]\nretries: 2\n",
    )
    proc = run_controller(["run", "--devices", "farm.yaml", "--campaign", "campaign.yaml", "--out", "out"], tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads((tmp_path / "out" / "f" / "report.json").read_text())
    assert all(d["healthy"] for d in report["devices"])
    host_b = next(d for d in report["devices"] if d["name"] == "host-b")
    assert host_b["attempts"] == 1  # the same options fail the same way: no retry
    checks = {c["kind"]: c for c in report["checks"]}
    for kind in ("cross", "options"):
        note = checks[kind]["note"]
        assert checks[kind]["status"] == "skipped"
        assert note.startswith("host-b.default failed: ") and "assertion" in note and "\n" not in note, note
    # the plain run (no options) ran and is stored
    assert json.loads((tmp_path / "out" / "f" / "host-b.plain" / "run.json").read_text())["status"] != "failed"


def test_an_unhealthy_device_with_options_has_its_options_check_skipped_with_the_reason(tmp_path):
    from controller.campaign_run import make_checks
    from controller.store import Store
    from controller.worker import DeviceOutcome

    camp = Campaign.model_validate({"name": "c", "model": "m.mge", "inputs": {"data": {"shape": [1]}}})
    down = DeviceOutcome("b", "127.0.0.1:1", {}, healthy=False, reason="run b.default failed: timed_out")
    checks = make_checks(camp, Store(tmp_path, "c"), [down], "b", {"b": {"enable_nchw88": True}})
    (opt,) = [c for c in checks if c.kind == "options"]
    assert opt.status == "skipped" and opt.note == "device unhealthy: run b.default failed: timed_out"


def test_cross_with_an_unhealthy_device_says_why(tmp_path):
    """A refused option (layout_transform=cuda on lar-lite) left cross saying only "device unhealthy: host-b"."""
    from controller.campaign_run import make_checks
    from controller.store import Store
    from controller.worker import DeviceOutcome

    camp = Campaign.model_validate(
        {"name": "c", "model": "m.mge", "inputs": {"data": {"shape": [1]}}, "checks": ["cross"]}
    )
    up = DeviceOutcome("a", "127.0.0.1:1", {}, healthy=True)
    why = "agent refused run (not started): runner lite: option layout_transform=cuda: lar-lite runs on the CPU only"
    down = DeviceOutcome("b", "127.0.0.1:2", {}, healthy=False, reason=why)
    (cross,) = make_checks(camp, Store(tmp_path, "c"), [up, down], "a", {"b": {"layout_transform": "cuda"}})
    assert cross.status == "skipped" and cross.note == f"device unhealthy: b: {why}"
