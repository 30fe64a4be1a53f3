"""A campaign's checks and `python -m analysis` are one engine: same differing vars, errors, roots.

Every fixture pair of real MegEngine 1.13 runs is compared both ways (the
campaign's report.json, and analysis's CLI on the same stored folders), and so
is a pair whose error sits exactly on the float32 tolerance boundary.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import pytest

from analysis import cli as analysis_cli
from analysis.graph import VarGraph
from controller import plan
from controller.campaign import Campaign
from controller.campaign_run import make_checks
from controller.report.json import report_json
from controller.store import Store
from controller.worker import DeviceOutcome
from tests.analysis.synthetic import write_var
from tests.controller.campaigns import run_controller
from tests.controller.storeruns import stored_run

RUNS = Path(__file__).resolve().parents[1] / "fixtures/megengine/runs"
REPO = Path(__file__).resolve().parents[2]
PAIRS = [
    (model.name, variant.name)
    for model in sorted(RUNS.iterdir())
    for variant in sorted(model.iterdir())
    if variant.name != "default" and (variant / "bin").is_dir()
]


def analysis_json(args: List[str]) -> Dict[str, Any]:
    """What `python -m analysis --json ARGS` prints, run in-process."""
    out = io.StringIO()
    with redirect_stdout(out):
        code = analysis_cli.main([*args, "--json"])
    assert code in (0, 1), code
    return json.loads(out.getvalue())


def naive_campaign(tmp_path: Path, ref: Path, other: Path, tol: float) -> Tuple[Dict[str, Any], Store]:
    """report.json of a naive+thresholds campaign whose default run is `ref` and naive run is `other`."""
    store = Store(tmp_path / "out", "c")
    records = {
        plan.DEFAULT: stored_run(store, ref, "dev", plan.DEFAULT),
        plan.NAIVE: stored_run(store, other, "dev", plan.NAIVE),
    }
    campaign = Campaign(name="c", model="m.mge", checks=["naive", "thresholds"], tolerance=tol)
    checks = make_checks(campaign, store, [DeviceOutcome("dev", "local", records)], "dev")
    from controller.checks.result import CampaignReport

    report = CampaignReport("c", "m.mge", tol, ("naive", "thresholds"), (), tuple(checks), str(store.root), 0, 1)
    return json.loads(json.dumps(report_json(report))), store


def assert_agree(check: Dict[str, Any], cli: Dict[str, Any]) -> None:
    """The campaign's comparison and the CLI's: var for var, then first, roots, threshold."""
    embedded = check["comparisons"][0]["analysis"]
    camp = {v["name"]: v for v in embedded["vars"]}
    mine = {v["name"]: v for v in cli["vars"]}
    assert set(camp) == set(mine)
    for name, v in mine.items():
        c = camp[name]
        if c["status"] == "identical_by_digest":  # not read by the campaign: the CLI found equal bytes
            assert v["bitwise_equal"] and v["max_err"] == 0.0, name
        else:
            assert c["status"] == v["status"], name
        for key in ("differs", "bitwise_equal", "max_err"):
            assert c[key] == v[key], (name, key)
    for key in ("differing", "first", "roots", "amplification"):
        assert embedded[key] == cli[key], key
    assert embedded["threshold"]["cut"] == cli["threshold"]["cut"]
    assert embedded["threshold"]["roots_at_cut"] == cli["threshold"]["roots_at_cut"]
    # the check-level summary is read off the same comparison
    assert check["differing"] == cli["differing"]
    assert check["first"] == cli["first"]
    assert [r["id"] for r in check["roots"]] == cli["roots"]
    amp = {r["id"]: r["amplification"] for r in check["roots"]}
    assert amp == {r: cli["amplification"][str(r)] for r in cli["roots"]}


@pytest.mark.parametrize("model,variant", PAIRS, ids=[f"{m}-{v}" for m, v in PAIRS])
def test_campaign_and_analysis_agree_on_every_fixture_pair(tmp_path: Path, model: str, variant: str) -> None:
    data, store = naive_campaign(tmp_path, RUNS / model / "default", RUNS / model / variant, 1e-7)
    naive = next(c for c in data["checks"] if c["kind"] == "naive")
    a, b = store.run_dir("dev.default"), store.run_dir("dev.naive")
    cli = analysis_json([str(a / "bin"), str(b / "bin"), "-e", "1e-7", "--txt-a", str(a / "io.txt")])
    assert_agree(naive, cli)
    assert naive["status"] == ("differs" if cli["differing"] or cli["stats"]["only_a"] else "ok")
    th = next(c for c in data["checks"] if c["kind"] == "thresholds")
    assert th["threshold"] == cli["threshold"]["cut"]
    assert [r["id"] for r in th["roots"]] == cli["threshold"]["roots_at_cut"]


def boundary_run(folder: Path, err2: float, err3: float) -> Path:
    """var 1 (input) -> var 2 -> var 3; var 2 and var 3 carry one element of the given error."""
    bin_dir = folder / "bin"
    write_var(bin_dir, 1, np.arange(8, dtype=np.float32) / 8, name="data", opr_type="Host2DeviceCopy")
    for vid, err in ((2, err2), (3, err3)):
        value = np.zeros(8, dtype=np.float32)
        value[3] = err  # |0 - err| / max(|0|, |err|, 1) = err exactly, in float32
        write_var(bin_dir, vid, value, name=f"v{vid}", inputs=[(vid - 1, (8,))])
    return folder


def test_the_float32_tolerance_boundary_is_judged_once(tmp_path: Path) -> None:
    """An error of exactly float32(1e-7) at tolerance 1e-7 is within tolerance everywhere (MegEngine's rule)."""
    edge = float(np.float32(1e-7))
    assert edge > 1e-7  # a Python-float comparison would call it differing
    ref = boundary_run(tmp_path / "ref", 0.0, 0.0)
    other = boundary_run(tmp_path / "other", np.float32(1e-7), np.float32(3e-7))
    data, store = naive_campaign(tmp_path, ref, other, 1e-7)
    naive = next(c for c in data["checks"] if c["kind"] == "naive")
    a, b = store.run_dir("dev.default"), store.run_dir("dev.naive")
    cli = analysis_json([str(a / "bin"), str(b / "bin"), "-e", "1e-7"])
    assert_agree(naive, cli)
    v2 = next(v for v in cli["vars"] if v["var_id"] == 2)
    assert v2["max_err"] == edge and v2["differs"] is False
    assert naive["differing"] == [3] and naive["first"] == 3 and [r["id"] for r in naive["roots"]] == [3]


def test_each_run_graph_is_parsed_once_per_campaign(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = RUNS / "tiny_cnn"
    store = Store(tmp_path / "out", "c")
    outcomes = []
    for dev in ("a", "b"):
        records = {
            plan.DEFAULT: stored_run(store, runs / "default", dev, plan.DEFAULT),
            plan.NAIVE: stored_run(store, runs / "naive", dev, plan.NAIVE),
            "repeat-2": stored_run(store, runs / "default_rerun", dev, "repeat-2"),
            "repeat-3": stored_run(store, runs / "default_rerun", dev, "repeat-3"),
        }
        outcomes.append(DeviceOutcome(dev, "local", records))
    parsed: List[str] = []
    real = VarGraph.from_text_dump.__func__

    def counting(cls, dump, iteration=-1):
        parsed.append(str(getattr(dump, "path", dump)))  # a path, or a TextDump already read
        return real(cls, dump, iteration)

    monkeypatch.setattr(VarGraph, "from_text_dump", classmethod(counting))
    campaign = Campaign(name="c", model="m.mge", checks=["naive", "shake", "cross", "thresholds"], repeats=3)
    checks = make_checks(campaign, store, outcomes, "a")
    assert [c.status for c in checks if c.kind == "naive"] == ["differs", "differs"]
    # default runs take part in naive, two shake repeats and cross, and are still read once
    assert sorted(parsed) == sorted(
        {str(store.run_dir(r.run_id) / "io.txt") for o in outcomes for r in o.records.values()}
    )


def test_controller_compare_prints_what_analysis_prints(tmp_path: Path) -> None:
    runs = RUNS / "tiny_cnn"
    store = Store(tmp_path / "out", "c")
    stored_run(store, runs / "default", "dev", plan.DEFAULT)
    stored_run(store, runs / "naive", "dev", plan.NAIVE)
    a, b = store.run_dir("dev.default"), store.run_dir("dev.naive")
    for extra in ([], ["--json"]):
        ctl = run_controller(["compare", str(a), str(b), "-e", "1e-7", *extra], tmp_path)
        ana = subprocess.run(
            [
                sys.executable,
                "-m",
                "analysis",
                str(a / "bin"),
                str(b / "bin"),
                "-e",
                "1e-7",
                "--txt-a",
                str(a / "io.txt"),
                *extra,
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
        )
        assert ctl.returncode == ana.returncode == 1, (ctl.stderr, ana.stderr)
        if not extra:
            assert ctl.stdout == ana.stdout
        else:
            # one schema; the controller knows the digests, so equal files are identical_by_digest, unread
            c, x = json.loads(ctl.stdout), json.loads(ana.stdout)
            assert set(c) == set(x)
            for key in (
                "a",
                "b",
                "tolerance",
                "graph_source",
                "first",
                "roots",
                "differing",
                "amplification",
                "threshold",
            ):
                assert c[key] == x[key], key
            assert c["stats"]["identical_by_digest"] > 0 == x["stats"]["identical_by_digest"]


def test_amplification_reads_as_analysis_writes_it(tmp_path: Path) -> None:
    """ "new" in text (as `python -m analysis` prints it), "inf" in JSON, in every report."""
    from rich.console import Console

    from controller.checks.result import CampaignReport
    from controller.report import terminal

    store = Store(tmp_path / "out", "c")
    records = {
        plan.DEFAULT: stored_run(store, RUNS / "tiny_cnn/default", "dev", plan.DEFAULT),
        plan.NAIVE: stored_run(store, RUNS / "tiny_cnn/naive", "dev", plan.NAIVE),
    }
    checks = make_checks(
        Campaign(name="c", model="m", checks=["naive"], tolerance=1e-7),
        store,
        [DeviceOutcome("dev", "local", records)],
        "dev",
    )
    report = CampaignReport("c", "m", 1e-7, ("naive",), (), tuple(checks), str(store.root), 0, 1)
    data = report_json(report)
    assert data["checks"][0]["roots"][0]["amplification"] == "inf"
    assert data["checks"][0]["comparisons"][0]["analysis"]["amplification"]["9"] == "inf"
    console = Console(record=True, width=200)
    terminal.render(report, console)
    assert "var9 ConvolutionForward err=6.56e-07 amp=new" in console.export_text()
