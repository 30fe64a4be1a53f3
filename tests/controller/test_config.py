"""farm.yaml and campaign.yaml: valid files load; every bad one names file, line and field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from controller.campaign import load_campaign, materialize_inputs
from controller.errors import ConfigError
from controller.farm import inline_campaign, load_farm
from tests.controller.campaigns import FAKE_MODEL

GOOD_FARM = """\
devices:
  - name: board-a
    address: 10.0.0.5:50051
    token_file: token
    runner: load_and_run
    labels: {soc: rk3588, backend: cpu}
  - name: host
    local: true
  - name: phone
    ssh: {host: 10.0.0.9, user: me}
"""


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def test_good_farm_loads(tmp_path: Path) -> None:
    write(tmp_path, "token", "secret\n")
    farm = load_farm(write(tmp_path, "farm.yaml", GOOD_FARM))
    assert [d.name for d in farm.devices] == ["board-a", "host", "phone"]
    assert farm.devices[0].labels == {"soc": "rk3588", "backend": "cpu"}
    assert farm.devices[1].runner == "lite"
    assert farm.program_for(farm.devices[1]).name == "lar-lite"
    assert farm.devices[2].ssh.host == "10.0.0.9"


@pytest.mark.parametrize(
    "text, where",
    [
        (
            "devices:\n  - name: a\n    local: true\n  - name: b\n    address: nohost\n",
            ":5: devices[1].address: expected host:port",
        ),
        (
            "devices:\n  - name: a\n    local: true\n    address: h:1\n",
            ":2: devices[0]: give exactly one of address, local: true, ssh, adb",
        ),
        ("devices:\n  - name: a\n    local: true\n    colour: red\n", ":4: devices[0].colour: unknown field"),
        (
            "devices:\n  - name: a\n    local: true\n  - name: a\n    local: true\n",
            ":2: devices: device name a is used twice",
        ),
        (
            "devices:\n  - name: a\n    local: true\n    runner: tflite\n",
            ":4: devices[0].runner: Input should be 'lite', 'load_and_run' or 'adb'",
        ),
        (
            "devices:\n  - name: a\n    address: h:1\n    token_file: missing.txt\n",
            ":4: devices[0].token_file: file not found: missing.txt",
        ),
        (
            "devices:\n  - name: a\n    ssh: {host: h, port: 99999}\n",
            ":3: devices[0].ssh.port: Input should be less than or equal to 65535",
        ),
        ("devices: [\n  {name: a\n", "invalid YAML"),
        ("devices: []\n", ":1: devices: List should have at least 1 item"),
    ],
)
def test_bad_farm_names_file_line_field(tmp_path: Path, text: str, where: str) -> None:
    path = write(tmp_path, "farm.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_farm(path)
    assert str(info.value).startswith(str(path)), str(info.value)
    assert where in str(info.value)


def test_missing_farm_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_farm(tmp_path / "nope.yaml")


def _model(tmp: Path) -> None:
    (tmp / "m.mge").write_bytes(FAKE_MODEL)


def test_campaign_loads_and_seeded_inputs_are_reproducible(tmp_path: Path) -> None:
    _model(tmp_path)
    path = write(
        tmp_path,
        "c.yaml",
        "name: c1\nmodel: m.mge\ninputs:\n  data: {shape: [1, 3, 4, 4], seed: 7}\n"
        "checks: [naive, cross]\nbaseline: host\n",
    )
    camp = load_campaign(path)
    assert camp.tolerance == 1e-7 and camp.repeats == 3 and camp.checks == ["naive", "cross"]
    a = materialize_inputs(camp, tmp_path / "i1")["data"]
    b = materialize_inputs(camp, tmp_path / "i2")["data"]
    assert a.read_bytes() == b.read_bytes()
    arr = np.load(a)
    assert arr.shape == (1, 3, 4, 4) and arr.dtype == np.float32


@pytest.mark.parametrize(
    "text, where",
    [
        ("name: c\nmodel: gone.mge\n", ":2: model: model file not found: gone.mge"),
        ("name: c\nmodel: m.mge\nchecks: [naive, speed]\n", ":3: checks[1]: Input should be"),
        ("name: c\nmodel: m.mge\ntolerance: -1\n", ":3: tolerance: Input should be greater than or equal to 0"),
        ("name: c\nmodel: m.mge\ninputs:\n  data: {shape: [1, 0]}\n", ":4: inputs.data: shape must be"),
        ("name: c\nmodel: m.mge\ninputs:\n  data: img.bmp\n", ":4: inputs.data: input file must end with"),
        # too big to generate: a line, not numpy's MemoryError traceback when the run starts
        (
            "name: c\nmodel: m.mge\ninputs:\n  data: {shape: [100000, 100000, 1000]}\n",
            ":4: inputs.data: shape [100000, 100000, 1000] has 10000000000000 elements; seeded random data is limited",
        ),
        ("name: c\nmodel: m.mge\ninputs:\n  data: x.npy\n", ":4: inputs: input data: file not found: x.npy"),
        ("name: c\nmodel: m.mge\nrepeats: 1\n", ":3: repeats: Input should be greater than or equal to 2"),
        ("name: c/d\nmodel: m.mge\n", ":1: name: use letters"),
        ("model: m.mge\n", ":1: name: Field required"),
        (
            "name: c\nmodel: m.mge\nenv: {MGB_USE_MEGDNN_DBG: '2'}\n",
            ":3: env: MGB_USE_MEGDNN_DBG is set by the naive check",
        ),
    ],
)
def test_bad_campaign_names_file_line_field(tmp_path: Path, text: str, where: str) -> None:
    _model(tmp_path)
    path = write(tmp_path, "campaign.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_campaign(path)
    assert str(info.value).startswith(str(path))
    assert where in str(info.value), str(info.value)


def test_inline_campaign_error_points_into_farm(tmp_path: Path) -> None:
    _model(tmp_path)
    path = write(
        tmp_path,
        "farm.yaml",
        "devices:\n  - name: a\n    local: true\ncampaign:\n  name: c\n  model: m.mge\n  repeats: 0\n",
    )
    farm = load_farm(path)
    with pytest.raises(ConfigError, match=r"farm.yaml:7: campaign.repeats"):
        inline_campaign(farm)


def test_unknown_baseline_points_at_the_campaign_line(tmp_path: Path) -> None:
    from controller.campaign_run import check_baseline

    _model(tmp_path)
    farm = load_farm(write(tmp_path, "farm.yaml", "devices:\n  - name: a\n    local: true\n"))
    camp = load_campaign(write(tmp_path, "c.yaml", "name: c\nmodel: m.mge\nchecks: [cross]\nbaseline: zz\n"))
    with pytest.raises(ConfigError) as info:
        check_baseline(farm, camp)
    assert str(info.value) == f"{tmp_path / 'c.yaml'}:4: baseline: no device named zz in the farm (have: a)"
    inline = load_farm(
        write(
            tmp_path,
            "farm2.yaml",
            "devices:\n  - name: a\n    local: true\ncampaign:\n  name: c\n  model: m.mge\n  baseline: zz\n",
        )
    )
    with pytest.raises(ConfigError, match=r"farm2.yaml:7: campaign.baseline: no device named zz"):
        check_baseline(inline, inline_campaign(inline))
