"""`controller devices --adb`, farm.yaml's adb: block, and phone errors as the controller shows them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml

from tests.controller.campaigns import FAKE_MODEL, run_controller
from tests.support.adb_phone import Adb


def test_devices_lists_phones_with_facts(adb: Adb, phones, tmp_path: Path) -> None:
    good, locked = phones(model="Pixel 7"), phones(authorized=False)
    adb.connect(good)
    adb("connect", locked.serial, check=False)
    deadline = time.monotonic() + 15
    while locked.serial + "\tunauthorized" not in adb("devices").stdout.decode() and time.monotonic() < deadline:
        time.sleep(0.2)
    proc = run_controller(["devices", "--adb", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    listed = {p["serial"]: p for p in json.loads(proc.stdout)}
    assert listed[good.serial]["model"] == "Pixel 7" and listed[good.serial]["abi"] == "arm64-v8a"
    # the same names as the agent's Facts.phone (run.json's and report.json's facts.phone)
    assert listed[good.serial]["android_version"] == "13" and listed[good.serial]["sdk"] == "33"
    assert (listed[good.serial]["soc"], listed[good.serial]["platform"]) == ("SM8450", "taro")
    assert listed[good.serial]["workdir_free_bytes"] > 0
    assert listed[locked.serial]["state"] == "unauthorized" and "RSA" in listed[locked.serial]["problem"]
    text = run_controller(["devices", "--adb"], tmp_path).stdout
    assert f"{good.serial}  Pixel 7  arm64-v8a  Android 13  SM8450" in text
    assert f"adb: {{serial: '{good.serial}'}}" in text  # a farm.yaml block to paste
    proc = run_controller(["devices"], tmp_path)
    assert proc.returncode == 2 and "--adb" in proc.stderr and "Traceback" not in proc.stderr


def test_farm_adb_block_errors_name_the_line(tmp_path: Path) -> None:
    (tmp_path / "campaign.yaml").write_text("name: c\nmodel: m.mge\ninputs: {}\nchecks: [shake]\n")
    (tmp_path / "m.mge").write_bytes(FAKE_MODEL)
    cases = [
        ({"serial": "R58M123ABC", "program_local": "missing/load_and_run"}, "devices[0].adb.program_local"),
        ({"serial": "R58M 123"}, "serial"),
        ({"serial": "R58M123ABC", "workdir": "/data/../etc"}, "workdir"),
        ({"serial": "R58M123ABC", "color": "red"}, "color"),
    ]
    for block, expect in cases:
        (tmp_path / "farm.yaml").write_text(yaml.safe_dump({"devices": [{"name": "p", "adb": block}]}))
        proc = run_controller(["run", "--devices", "farm.yaml", "--campaign", "campaign.yaml", "--out", "o"], tmp_path)
        assert proc.returncode == 2 and "farm.yaml:" in proc.stderr and expect in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr


def test_unauthorized_phone_in_a_campaign_says_what_to_do(adb: Adb, phones, tmp_path: Path) -> None:
    phone = phones(authorized=False)
    (tmp_path / "m.mge").write_bytes(FAKE_MODEL)
    (tmp_path / "campaign.yaml").write_text(
        "name: c\nmodel: m.mge\ninputs: {data: {shape: [1, 4], seed: 1}}\nchecks: [shake]\nretries: 0\n"
    )
    (tmp_path / "farm.yaml").write_text(yaml.safe_dump({"devices": [{"name": "p", "adb": {"serial": phone.serial}}]}))
    proc = run_controller(["run", "--devices", "farm.yaml", "--campaign", "campaign.yaml", "--out", "o"], tmp_path)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert phone.serial in proc.stderr and "RSA key prompt" in proc.stderr, proc.stderr


def test_an_adb_program_that_cannot_run_is_one_line_naming_it(tmp_path: Path) -> None:
    from agent.adb import Phone, PhoneError

    not_a_program = tmp_path / "adb"
    not_a_program.write_text("not a program\n")  # no exec bit: PermissionError, not FileNotFoundError
    proc = run_controller(["devices", "--adb", "--adb-program", str(not_a_program)], tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"the adb program {not_a_program} cannot run" in proc.stderr and "Errno" not in proc.stderr
    # in farm.yaml: refused before a local agent is started with it
    (tmp_path / "m.mge").write_bytes(FAKE_MODEL)
    (tmp_path / "campaign.yaml").write_text("name: c\nmodel: m.mge\ninputs: {}\nchecks: [shake]\nretries: 0\n")
    phone = {"serial": "R58M123ABC", "adb": str(not_a_program)}
    (tmp_path / "farm.yaml").write_text(yaml.safe_dump({"devices": [{"name": "p", "adb": phone}]}))
    proc = run_controller(["run", "--devices", "farm.yaml", "--campaign", "campaign.yaml", "--out", "o"], tmp_path)
    assert proc.returncode == 2 and f"the adb program {not_a_program} cannot run" in proc.stderr, proc.stderr
    try:
        Phone(str(not_a_program), "R58M123ABC").state()
    except PhoneError as err:
        assert f"the adb program {not_a_program} cannot run" in str(err) and "R58M123ABC" in str(err)
    else:
        raise AssertionError("a non-executable adb program was run")
