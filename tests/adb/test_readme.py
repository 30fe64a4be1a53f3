"""The README's Phones section: its farm examples load, its commands parse as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from controller.cli import app
from controller.farm import load_farm

ROOT = Path(__file__).resolve().parents[2]


def _blocks(kind: str) -> list:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- section: phones -->\n(.*?)<!-- /section: phones -->", text, re.DOTALL)
    assert match, "README.md has no phones section"
    return re.findall(rf"```{kind}\n(.*?)```", match.group(1), re.DOTALL)


def test_farm_examples_load(tmp_path: Path) -> None:
    farm_yaml, termux = _blocks("yaml")
    (tmp_path / "build" / "android-arm64").mkdir(parents=True)
    (tmp_path / "build" / "android-arm64" / "load_and_run").write_bytes(b"\x7fELF")
    (tmp_path / "farm.yaml").write_text(farm_yaml)
    host, s22, wifi = load_farm(tmp_path / "farm.yaml").devices
    assert host.local and s22.runner == wifi.runner == "adb" and s22.where() == "adb:R58M123ABC"
    assert wifi.adb.serial == "192.168.1.50:5555" and wifi.adb.workdir == "/data/local/tmp/larfarm"
    (tmp_path / "termux.yaml").write_text("devices:\n" + termux)
    (phone,) = load_farm(tmp_path / "termux.yaml").devices
    assert phone.ssh.port == 8022 and phone.ssh.python == "/data/data/com.termux/files/usr/bin/python"


def test_commands_parse() -> None:
    for line in _blocks("sh")[0].splitlines():
        words = shlex.split(line, comments=True)
        assert words[0] == "controller"
        result = CliRunner().invoke(app, [*words[1:], "--help"])
        assert result.exit_code == 0, (line, result.output)
