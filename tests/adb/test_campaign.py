"""Campaigns with phones: two stand-in phones and a local host, against the same campaign on local devices."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.controller.campaigns import controller_argv, load_report, run_controller
from tests.support.adb_phone import Adb
from tests.support.lite import lar_lite_command

CAMPAIGN = (
    "name: tiny\nmodel: tiny_cnn.mge\ninputs:\n  data: data.npy\n"
    "checks: [naive, shake, cross]\nrepeats: 2\nbaseline: host\ntimeout_s: 120\n"
)


def setup(tmp: Path, megengine_fixtures: Path) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(megengine_fixtures / "models" / "tiny_cnn.mge", tmp / "tiny_cnn.mge")
    shutil.copyfile(megengine_fixtures / "inputs" / "tiny_cnn__data.npy", tmp / "data.npy")
    (tmp / "campaign.yaml").write_text(CAMPAIGN)
    (tmp / "load_and_run").write_bytes(b"\x7fELF the phone's load_and_run, as the PC keeps it\n")
    return tmp


def phone_device(name: str, serial: str) -> dict:
    return {"name": name, "adb": {"serial": serial, "program_local": "load_and_run"}}


def findings(report: dict) -> dict:
    """What the checks found, per check, without run names or timings."""
    out = {}
    for c in report["checks"]:
        out[(c["kind"], tuple(c["devices"]))] = (c["status"], c.get("first"), [r["id"] for r in c.get("roots", [])])
    return out


def _dump_digests(run: dict) -> dict:
    """name -> sha256 of a stored run's dump files (run.json's manifest)."""
    return {f["name"]: f["sha256"] for f in run["manifest"] if f["name"].startswith("bin/")}


def test_two_phones_and_a_host_find_what_local_devices_find(
    adb: Adb, phones, tmp_path: Path, megengine_fixtures: Path, lite_runtime: Path
) -> None:
    pa, pb = phones(model="Pixel 7"), phones(model="Galaxy S22")
    on_phones = setup(tmp_path / "phones", megengine_fixtures)
    (on_phones / "farm.yaml").write_text(
        yaml.safe_dump(
            {
                "devices": [
                    {"name": "host", "local": True},
                    phone_device("pa", pa.serial),  # Wi-Fi serials: the controller runs `adb connect`
                    phone_device("pb", pb.serial),
                ]
            }
        )
    )
    args = ["run", "--devices", "farm.yaml", "--campaign", "campaign.yaml", "--out", "out", "--json"]
    proc = run_controller(args, on_phones, timeout=400)
    assert proc.returncode == 1, proc.stderr  # naive differs from default
    report = json.loads(proc.stdout)
    assert all(d["healthy"] for d in report["devices"]), report["devices"]
    facts = {d["name"]: d["facts"] for d in report["devices"]}
    assert facts["pa"]["phone"]["serial"] == pa.serial and facts["pb"]["phone"]["model"] == "Galaxy S22"
    assert facts["pa"]["arch"] == "arm64-v8a" and "phone" not in facts["host"]
    local = setup(tmp_path / "local", megengine_fixtures)
    (local / "farm.yaml").write_text(
        yaml.safe_dump({"devices": [{"name": n, "local": True} for n in ("host", "pa", "pb")]})
    )
    proc = run_controller(args, local, timeout=400)
    assert proc.returncode == 1, proc.stderr
    assert findings(report) == findings(json.loads(proc.stdout))
    assert findings(report)[("naive", ("pa",))] == ("differs", 9, [9])
    # the phones' runs are real MegEngine dumps, byte-identical to the host's own
    store = on_phones / "out" / "tiny"
    host = json.loads((store / "host.default" / "run.json").read_text())
    phone = json.loads((store / "pa.default" / "run.json").read_text())
    assert _dump_digests(phone) == _dump_digests(host)
    assert "Android" in json.dumps(phone["facts"]) and pa.serial in json.dumps(phone["facts"])
    assert load_report(on_phones / "out", "tiny") == report


def test_unplugged_phone_fails_its_run_and_is_retried_once_back(
    adb: Adb, phones, tmp_path: Path, megengine_fixtures: Path, lite_runtime: Path
) -> None:
    slow = tmp_path / "slow_lar.py"  # load_and_run that takes a few seconds, so there is time to pull the cable
    slow.write_text("import os, sys, time\ntime.sleep(2)\nos.execvp(sys.argv[1], sys.argv[1:])\n")
    programs = {"load_and_run": [sys.executable, str(slow), *lar_lite_command()]}
    pa, pb = phones(programs=programs), phones(model="Galaxy S22")
    work = setup(tmp_path / "w", megengine_fixtures)
    (work / "farm.yaml").write_text(
        yaml.safe_dump(
            {
                "devices": [
                    {"name": "host", "local": True},
                    phone_device("pa", pa.serial),
                    phone_device("pb", pb.serial),
                ]
            }
        )
    )
    args = ["run", "--devices", "farm.yaml", "--campaign", "campaign.yaml", "--out", "out", "--json"]
    ctl = subprocess.Popen(controller_argv(*args), cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(p.poll() is None for p in pa.pids._procs.values()):
        time.sleep(0.05)
    assert time.monotonic() < deadline, "pa never started load_and_run"
    pa.unplug()
    time.sleep(1.0)
    pa.plug()
    out, err = ctl.communicate(timeout=400)
    assert ctl.returncode == 1, err
    report = json.loads(out)
    devices = {d["name"]: d for d in report["devices"]}
    assert all(d["healthy"] for d in devices.values()), devices
    assert devices["pa"]["attempts"] == 2 and devices["pb"]["attempts"] == 1 and devices["host"]["attempts"] == 1
    assert f"device {pa.serial} disconnected" in err
    assert findings(report)[("naive", ("pa",))] == ("differs", 9, [9])
