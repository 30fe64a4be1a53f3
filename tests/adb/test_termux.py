"""A phone with Termux is an `ssh:` device: sshd on port 8022, Termux's Python, the agent zipapp deployed."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from typer.testing import CliRunner

from controller.agent_client import AgentClient
from controller.cli import app
from controller.ssh.agent_tunnel import open_agent_tunnel
from controller.ssh.config import SshTarget
from tests.support.sshd import free_port, need, sshd_missing, start_sshd, write_farm

TERMUX_PORT = 8022
PREFIX = "data/data/com.termux/files"


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_termux_phone_deploys_over_ssh_port_8022(board_python: str, tmp_path: Path) -> None:
    need(sshd_missing())
    port = TERMUX_PORT if port_free(TERMUX_PORT) else free_port()  # 8022 is Termux's; another test may hold it
    server = start_sshd(tmp_path / "sshd", port=port)
    phone = tmp_path / "phone"
    python = phone / PREFIX / "usr" / "bin" / "python"
    python.parent.mkdir(parents=True)
    os.symlink(board_python, python)  # Termux ships python and python-grpcio under its prefix
    home = phone / PREFIX / "home"
    home.mkdir(parents=True)
    block = server.target(python=str(python), workdir=str(home / ".larfarm"), agent_port=free_port())
    farm = write_farm(tmp_path / "farm.yaml", {"pixel-termux": block})
    cli = CliRunner()
    try:
        result = cli.invoke(app, ["deploy", "--devices", str(farm)])
        assert result.exit_code == 0, result.output
        assert f"pixel-termux (127.0.0.1:{port}): agent" in result.stdout and "healthy" in result.stdout
        assert (home / ".larfarm" / "agent.token").is_file()
        target = SshTarget(**block)
        with open_agent_tunnel("pixel-termux", target, farm.parent) as ep, AgentClient(ep.address, ep.token) as client:
            assert client.facts().protocol == "larfarm.agent.v1"
        result = cli.invoke(app, ["status", "--devices", str(farm)])
        assert result.exit_code == 0 and "health SERVING" in result.stdout, result.output
    finally:
        cli.invoke(app, ["stop", "--devices", str(farm)])
        server.stop()
