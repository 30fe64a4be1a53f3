"""An `ssh:` device in a campaign: reached through the SSH part's port-forward to a deployed agent."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from controller.campaign import load_campaign
from controller.campaign_run import run_campaign
from controller.cli import app
from controller.errors import CampaignFailed
from controller.farm import load_farm
from tests.controller.campaigns import write_fake_campaign
from tests.support.sshd import board_python, free_port, sshd  # noqa: F401  (fixtures)


def test_ssh_device_is_reached_through_the_tunnel(sshd, board_python, tmp_path: Path) -> None:  # noqa: F811
    block = sshd.target(python=board_python, agent_port=free_port())
    farm_path = tmp_path / "farm.yaml"
    farm_path.write_text(yaml.safe_dump({"devices": [{"name": "board1", "ssh": block}]}))
    runner = CliRunner()
    deployed = runner.invoke(app, ["deploy", "--devices", str(farm_path)])
    assert deployed.exit_code == 0, deployed.output
    try:
        camp = load_campaign(write_fake_campaign(tmp_path, "[shake]", "retries: 0\n"))
        with pytest.raises(CampaignFailed) as info:
            run_campaign(load_farm(farm_path), camp, tmp_path / "out")
        # the deployed agent answered GetFacts through the tunnel; deploy configures no lar-lite
        # runner there, so the device is named once, by its SSH address (neither the tunnel's
        # loopback end nor the board's agent port), as unable to run the campaign, with the reason
        message = str(info.value)
        assert message == (
            f"no device could run the campaign: board1 (ssh:127.0.0.1:{sshd.port}): "
            "agent has no usable runner 'lite' (has: none)"
        )
    finally:
        runner.invoke(app, ["stop", "--devices", str(farm_path)])
