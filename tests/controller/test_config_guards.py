"""farm.yaml and campaign.yaml as a hostile but fair user writes them: special files, alias bombs, duplicate
keys, non-finite numbers, files that are not models. Each is one ConfigError naming file and line."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from controller.campaign import load_campaign
from controller.errors import ConfigError
from controller.farm import load_farm
from controller.files import CONFIG_LIMIT
from tests.controller.campaigns import FAKE_MODEL

REPO = Path(__file__).resolve().parents[2]
FARM = "devices:\n  - name: a\n    local: true\n"


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def refused(load, path: Path) -> str:
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        load(path)
    assert time.monotonic() - started < 5, "refusing must not read the file first"
    assert str(info.value).startswith(str(path)), str(info.value)
    return str(info.value)


def test_farm_that_is_dev_zero_is_refused_at_once(tmp_path: Path) -> None:
    (tmp_path / "farm.yaml").symlink_to("/dev/zero")
    assert "not a regular file (a character device)" in refused(load_farm, tmp_path / "farm.yaml")


def test_farm_that_is_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "farm.yaml")
    assert "not a regular file (a FIFO)" in refused(load_farm, tmp_path / "farm.yaml")


def test_campaign_that_is_a_folder_or_too_large_is_refused(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").mkdir()
    assert "not a regular file (a folder)" in refused(load_campaign, tmp_path / "c.yaml")
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:
        fh.truncate(CONFIG_LIMIT + 1)  # sparse: costs no disk
    assert "too large" in refused(load_campaign, big)


def test_alias_bomb_in_labels_is_refused(tmp_path: Path) -> None:
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):  # 9**9 strings once expanded: gigabytes when the report writes the labels
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]")
    text = "x-bomb:\n" + "".join(f"  {ln}\n" for ln in lines)
    text += "devices:\n  - name: a\n    local: true\n    labels: {bomb: *l8}\n"
    message = refused(load_farm, write(tmp_path, "farm.yaml", text))
    assert "YAML aliases expand this document past" in message


def test_small_aliases_still_work(tmp_path: Path) -> None:
    text = "devices:\n  - name: a\n    local: true\n    labels: &l {soc: rk3588}\n  - name: b\n    local: true\n"
    text += "    labels: *l\n"
    farm = load_farm(write(tmp_path, "farm.yaml", text))
    assert farm.devices[1].labels == {"soc": "rk3588"}


def test_alias_to_its_own_anchor_is_refused(tmp_path: Path) -> None:
    text = FARM + "    labels: {loop: &a [1, *a]}\n"
    assert "refers to its own anchor" in refused(load_farm, write(tmp_path, "farm.yaml", text))


def test_duplicate_keys_are_refused_with_both_lines(tmp_path: Path) -> None:
    text = "devices:\n  - name: a\n    local: true\n    name: b\n"
    message = refused(load_farm, write(tmp_path, "farm.yaml", text))
    assert message.endswith("farm.yaml:4: name: key written twice (first on line 2)"), message
    (tmp_path / "m.mge").write_bytes(FAKE_MODEL)
    camp = write(tmp_path, "c.yaml", "name: c\nmodel: m.mge\ntolerance: 1e-3\ntolerance: 1e-9\n")
    assert "c.yaml:4: tolerance: key written twice (first on line 3)" in refused(load_campaign, camp)


def test_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    text = "base: &b {local: true, runner: lite}\ndevices:\n  - <<: *b\n    name: a\n    runner: lite\n"
    with pytest.raises(ConfigError, match="base: unknown field"):  # the duplicate check let it through
        load_farm(write(tmp_path, "farm.yaml", text))


@pytest.mark.parametrize(
    "line, says",
    [
        ("timeout_s: .inf", ":3: timeout_s: Input should be a finite number"),
        ("timeout_s: .nan", ":3: timeout_s: Input should be a finite number"),
        ("timeout_s: 1e12", ":3: timeout_s: Input should be less than or equal to 604800"),
        ("tolerance: .inf", ":3: tolerance: Input should be a finite number"),
        ("tolerance: .nan", ":3: tolerance: Input should be a finite number"),
        ("inputs: {data: {shape: [2], seed: -1}}", ":3: inputs.data.seed: Input should be greater than or equal to 0"),
    ],
)
def test_campaign_numbers_are_finite_and_in_range(tmp_path: Path, line: str, says: str) -> None:
    (tmp_path / "m.mge").write_bytes(FAKE_MODEL)
    message = refused(load_campaign, write(tmp_path, "c.yaml", f"name: c\nmodel: m.mge\n{line}\n"))
    assert says in message, message


@pytest.mark.parametrize(
    "labels, says",
    [
        ("{speed: .inf}", "speed: inf is not a finite number"),
        ("{built: 2024-01-01}", "built: a date is not plain text"),
        ("{nested: {x: [1, .nan]}}", "nested.x[1]: nan is not a finite number"),
    ],
)
def test_labels_must_fit_in_report_json(tmp_path: Path, labels: str, says: str) -> None:
    message = refused(load_farm, write(tmp_path, "farm.yaml", FARM + f"    labels: {labels}\n"))
    assert ":4: devices[0].labels: " in message and says in message, message


def test_ssh_timeouts_are_finite(tmp_path: Path) -> None:
    text = "devices:\n  - name: a\n    ssh: {host: h, connect_timeout: .inf}\n"
    assert "connect_timeout: Input should be a finite number" in refused(load_farm, write(tmp_path, "farm.yaml", text))


def test_a_file_that_is_not_a_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.mge").write_text("this is a text file that someone named .mge\n")
    (tmp_path / "dir.mge").mkdir()
    for name, says in (("notes.mge", "not a MegEngine model"), ("dir.mge", "not a regular file")):
        path = write(tmp_path, "c.yaml", f"name: c\nmodel: {name}\n")
        message = refused(load_campaign, path)
        assert f"c.yaml:2: model: {name}: {says}" in message, message


@pytest.mark.parametrize(
    "model",
    sorted(
        p.relative_to(REPO)
        for p in [*REPO.glob("tests/fixtures/megengine/models/*.mge"), *REPO.glob("examples/models/*.mge")]
    ),
)
def test_real_models_are_accepted(tmp_path: Path, model: Path) -> None:
    shutil.copyfile(REPO / model, tmp_path / model.name)
    camp = load_campaign(write(tmp_path, "c.yaml", f"name: c\nmodel: {model.name}\n"))
    assert camp.model == model.name


def test_other_megengine_model_headers_are_accepted(tmp_path: Path) -> None:
    """The magics load_and_run itself recognises (model.cpp), and Lite's packed models."""
    for magic in (b"mgb0001", b"mgb0000a", b"MGBS", b"MGBC", b"mgbtest0", b"packed_model"):
        (tmp_path / "m.mge").write_bytes(magic + b"\0" * 32)
        assert load_campaign(write(tmp_path, "c.yaml", "name: c\nmodel: m.mge\n")).model == "m.mge"


def test_a_key_with_a_newline_stays_on_one_line(tmp_path: Path) -> None:
    """Found by test_config_fuzz: an unknown key holding a newline split the message over two lines."""
    (tmp_path / "m.mge").write_bytes(FAKE_MODEL)
    path = write(tmp_path, "c.yaml", 'name: c\nmodel: m.mge\ninputs:\n  data: {shape: [2], "d\\nx": 1}\n')
    message = refused(load_campaign, path)
    assert "\n" not in message and message.endswith(":4: inputs.data.'d\\nx': unknown field"), message


def test_yaml_nested_too_deeply_is_one_error(tmp_path: Path) -> None:
    """PyYAML's composer recurses per level: thousands of brackets were a RecursionError traceback."""
    path = write(tmp_path, "farm.yaml", "devices: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "invalid YAML: nested too deeply" in refused(load_farm, path)
