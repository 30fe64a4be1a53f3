"""The README's SSH section: its farm example loads, its commands parse as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from controller.cli import app
from controller.farm import load_farm

ROOT = Path(__file__).resolve().parents[2]


def _section() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- section: ssh -->\n(.*?)<!-- /section: ssh -->", text, re.S)
    assert match, "README.md has no ssh section"
    return match.group(1)


def _blocks(kind: str) -> list:
    return re.findall(rf"```{kind}\n(.*?)```", _section(), re.S)


def test_farm_example_is_a_valid_farm(tmp_path):
    farm_yaml, agent_yaml = _blocks("yaml")[:2]
    (tmp_path / "boards").mkdir()
    (tmp_path / "boards" / "rk3588.yaml").write_text(agent_yaml)
    farm = load_farm(_write(tmp_path / "farm.yaml", farm_yaml))
    a, b = farm.devices
    assert a.ssh.host == "10.0.0.21" and a.ssh.host_key_policy == "strict"
    assert b.ssh.jump.host == "bastion.lab.example" and b.ssh.agent_port == 50061
    assert b.ssh.host_key_policy == "accept-new" and b.ssh.workdir == "/data/larfarm"


def test_agent_config_example_is_accepted_by_the_agent(tmp_path):
    from agent.config import load_config

    agent_yaml = _blocks("yaml")[1]
    cfg = load_config(_write(tmp_path / "rk3588.yaml", agent_yaml))
    assert cfg.runner("load_and_run").path == Path("/data/megengine/load_and_run")


def test_commands_parse_as_written():
    lines = [line.split("#")[0].strip() for block in _blocks("sh") for line in block.splitlines()]
    commands = [shlex.split(line)[1:] for line in lines if line.startswith("controller ")]
    assert [c[0] for c in commands] == ["deploy", "deploy", "status", "run", "stop"]
    runner = CliRunner()
    for argv in commands:
        # --help after every option: click parses them all first, so an unknown one fails.
        result = runner.invoke(app, argv + ["--help"])
        assert result.exit_code == 0, (argv, result.output)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
