"""open_endpoint: a connected AgentClient for one device, whichever way farm.yaml says to reach it
(a direct address, a local agent started here, or an SSH tunnel)."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Iterator, Optional

from controller.agent_client import AgentClient, TlsConfig
from controller.errors import ConfigError, InternalError
from controller.farm import Device, Farm
from controller.files import TOKEN_LIMIT, FileRefused, read_regular_file
from controller.local_agent import LocalAgents

log = logging.getLogger(__name__)

#: per-call timeout of unary agent calls (facts, blob checks, cancel)
CALL_TIMEOUT_S = 30.0


class Endpoint:
    """A reachable agent: the client and the address to name in messages."""

    def __init__(self, client: AgentClient, address: str) -> None:
        self.client = client
        self.address = address


def _token(farm: Farm, device: Device) -> Optional[str]:
    if device.token_file is None:
        return None
    path = farm.resolve(device.token_file)
    try:
        token = read_regular_file(path, TOKEN_LIMIT).decode("utf-8", errors="replace").strip()
    except FileRefused as exc:
        raise ConfigError(farm.path or "farm.yaml", None, f"{device.name}.token_file", f"{path}: {exc}") from None
    except OSError as exc:
        raise ConfigError(
            farm.path or "farm.yaml", None, f"{device.name}.token_file", f"cannot read {path}: {exc.strerror}"
        ) from None
    if not token:
        raise ConfigError(farm.path or "farm.yaml", None, f"{device.name}.token_file", f"{path} is empty")
    return token


def _tls(farm: Farm, device: Device) -> Optional[TlsConfig]:
    if device.tls is None:
        return None
    t = device.tls
    return TlsConfig(
        ca=farm.resolve(t.ca) if t.ca else None,
        cert=farm.resolve(t.cert) if t.cert else None,
        key=farm.resolve(t.key) if t.key else None,
        server_name=t.server_name,
    )


@contextlib.contextmanager
def open_endpoint(farm: Farm, device: Device, local_agents: LocalAgents) -> Iterator[Endpoint]:
    """Connect to `device`'s agent for the duration of the block."""
    if device.address is not None:
        with AgentClient(device.address, _token(farm, device), _tls(farm, device), CALL_TIMEOUT_S) as client:
            yield Endpoint(client, device.address)
        return
    if device.adb is not None:  # a phone: the local agent of its adb runner drives it
        from controller import adb

        program = adb.adb_program(device.adb, Path(farm.base_dir or "."))
        adb.connect(device.name, program, device.adb.serial)
        agent = local_agents.ensure(device, program, adb.agent_runner(device.adb, program, Path(farm.base_dir or ".")))
        with AgentClient(agent.address, agent.token, None, CALL_TIMEOUT_S, where=device.where()) as client:
            yield Endpoint(client, device.where())
        return
    if device.local:
        agent = local_agents.ensure(device, farm.program_for(device))
        with AgentClient(agent.address, agent.token, None, CALL_TIMEOUT_S) as client:
            yield Endpoint(client, agent.address)
        return
    # ssh: the SSH part forwards a local port to the board's agent
    from controller.ssh.agent_tunnel import open_agent_tunnel  # imported late: paramiko is heavy

    if device.ssh is None:  # farm.yaml's validation lets no device through without a way to reach it
        raise InternalError(f"device {device.name} has no address, local or ssh")

    with open_agent_tunnel(device.name, device.ssh, Path(farm.base_dir or ".")) as ep:
        # messages name the board by its SSH address, never the tunnel's loopback end
        with AgentClient(ep.address, ep.token, None, CALL_TIMEOUT_S, where=device.where()) as client:
            yield Endpoint(client, device.where())
