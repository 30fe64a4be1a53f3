"""open_agent_tunnel: log in to an `ssh:` board and forward a loopback port to its agent, for one block."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from controller.ssh.client import ssh_login
from controller.ssh.config import SshTarget
from controller.ssh.tokens import read_token
from controller.ssh.tunnel import Tunnel, check_forward

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SshEndpoint:
    """A deployed board's agent as seen from here: a loopback address and its token."""

    device: str
    address: str  # "127.0.0.1:<local port>", forwarded over SSH to the board's agent port
    token: str
    tunnel: Tunnel


@contextlib.contextmanager
def open_agent_tunnel(name: str, target: SshTarget, farm_dir: Path) -> Iterator[SshEndpoint]:
    """Log in to the board and forward a loopback port to its agent for the block.

    Raises NotDeployed when deploy never stored a token, AgentNotRunning when
    nothing listens on the board's agent port, and the SshError subclasses of
    controller.ssh.client when the board cannot be reached. If the SSH link
    drops later, forwarded connections close (gRPC sees UNAVAILABLE) and the next
    connection logs in again.
    """
    token = read_token(name, target, farm_dir)
    session = ssh_login(name, target, farm_dir)
    try:
        check_forward(session, target.agent_port)
    except BaseException:
        session.close()
        raise
    # The tunnel owns the session from here: it replaces it after a drop.
    tunnel = Tunnel(lambda: ssh_login(name, target, farm_dir), target.agent_port, session=session, owns_session=True)
    try:
        log.debug("%s: %s forwards to %s 127.0.0.1:%d", name, tunnel.address, target.where, target.agent_port)
        yield SshEndpoint(name, tunnel.address, token, tunnel)
    finally:
        tunnel.close()
