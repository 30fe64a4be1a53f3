"""A campaign on two local agents running the real MegEngine Lite engine, over loopback gRPC."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from controller.store import sha256_file
from tests.controller.campaigns import load_report, run_controller


def test_two_agents_real_engine(tmp_path: Path, megengine_fixtures: Path, lite_runtime: Path) -> None:
    shutil.copyfile(megengine_fixtures / "models" / "tiny_cnn.mge", tmp_path / "tiny_cnn.mge")
    shutil.copyfile(megengine_fixtures / "inputs" / "tiny_cnn__data.npy", tmp_path / "data.npy")
    (tmp_path / "farm.yaml").write_text(
        "devices:\n  - name: host-a\n    local: true\n    labels: {backend: cpu}\n  - name: host-b\n    local: true\n"
    )
    (tmp_path / "campaign.yaml").write_text(
        "name: tiny\nmodel: tiny_cnn.mge\ninputs:\n  data: data.npy\n"
        "checks: [naive, shake, cross, thresholds]\nrepeats: 2\nbaseline: host-a\n"
    )
    proc = run_controller(
        ["run", "--devices", "farm.yaml", "--campaign", "campaign.yaml", "--out", "out", "--json"], tmp_path
    )
    assert proc.returncode == 1, proc.stderr  # naive differs from default: differences found
    data = json.loads(proc.stdout)
    assert data == load_report(tmp_path / "out", "tiny")
    by = {(c["kind"], tuple(c["devices"])): c for c in data["checks"]}
    for dev in ("host-a", "host-b"):
        naive = by[("naive", (dev,))]
        assert naive["status"] == "differs"
        # MegEngine's own accuracy_shake_var_tree names var 9 (conv1) for these runs
        assert naive["first"] == 9 and [r["id"] for r in naive["roots"]] == [9]
        assert naive["roots"][0]["type"] == "ConvolutionForward"
        assert naive["runs"] == [f"{dev}.default", f"{dev}.naive"]
        assert by[("shake", (dev,))]["status"] == "ok"
    assert by[("cross", ("host-a", "host-b"))]["status"] == "ok"
    assert all(d["healthy"] for d in data["devices"])
    # what was fetched is part of what was dumped: both count every file a run wrote (io.txt too)
    assert 0 < data["bytes_fetched"] <= data["bytes_dumped"]
    # the store: every fetched file verified; the naive run moved only what differs from default
    root = tmp_path / "out" / "tiny"
    for dev in ("host-a", "host-b"):
        for role in ("default", "naive", "repeat-2"):
            rec = json.loads((root / f"{dev}.{role}" / "run.json").read_text())
            assert rec["status"] == "complete"
            digests = {f["name"]: f["sha256"] for f in rec["manifest"]}
            for name in rec["fetched"]:
                assert sha256_file(root / rec["run_id"] / name) == digests[name]
        naive = json.loads((root / f"{dev}.naive" / "run.json").read_text())
        default = json.loads((root / f"{dev}.default" / "run.json").read_text())
        nbin = [n for n in naive["fetched"] if n.startswith("bin/")]
        dbin = [n for n in default["fetched"] if n.startswith("bin/")]
        assert 0 < len(nbin) < len(dbin) == len([f for f in default["manifest"] if f["name"].startswith("bin/")])
        # identical and identically named to MegEngine's own dump of the same run
        fixture = megengine_fixtures / "runs" / "tiny_cnn" / "default" / "bin"
        assert sorted(p.name for p in (root / f"{dev}.default" / "bin").iterdir()) == sorted(
            p.name for p in fixture.iterdir()
        )
        repeat = json.loads((root / f"{dev}.repeat-2" / "run.json").read_text())
        assert [n for n in repeat["fetched"] if n.startswith("bin/")] == []  # identical digests: no bytes
    assert (root / "report.html").is_file()
