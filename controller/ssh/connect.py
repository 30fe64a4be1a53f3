"""open_ssh_device: what the scheduler calls to reach an `ssh:` device's agent."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import paramiko

from controller.ssh.client import SshSession, connect
from controller.ssh.config import SshTarget
from controller.ssh.errors import AgentNotRunning, HostUnreachable
from controller.ssh.tokens import read_token
from controller.ssh.tunnel import Tunnel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SshEndpoint:
    """A deployed board's agent as seen from here: a loopback address and its token."""

    device: str
    address: str  # "127.0.0.1:<local port>", forwarded over SSH to the board's agent port
    token: str
    tunnel: Tunnel


def _check_agent_port(session: SshSession, target: SshTarget) -> None:
    """Fail with one line naming the board when nothing listens on its agent port,
    rather than letting gRPC report an anonymous loopback address."""
    try:
        chan = session.transport.open_channel("direct-tcpip", ("127.0.0.1", target.agent_port), ("127.0.0.1", 0),
                                              timeout=target.connect_timeout)
    except paramiko.ChannelException:
        raise AgentNotRunning(session.device, session.where,
                              f"no agent listens on 127.0.0.1:{target.agent_port} on the board; "
                              f"run `controller deploy --devices <farm.yaml> --device {session.device}`") from None
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise HostUnreachable(session.device, session.where, f"SSH connection lost: {exc}") from None
    chan.close()


@contextlib.contextmanager
def open_ssh_device(name: str, target: SshTarget, farm_dir: Path) -> Iterator[SshEndpoint]:
    """Log in to the board and forward a loopback port to its agent for the block.

    Raises NotDeployed when deploy never stored a token, AgentNotRunning when
    nothing listens on the board's agent port, and the SshError subclasses of
    controller.ssh.client when the board cannot be reached. If the SSH link
    drops later, forwarded connections close (gRPC sees UNAVAILABLE) and the next
    connection logs in again.
    """
    token = read_token(name, target, farm_dir)
    session = connect(name, target, farm_dir)
    try:
        _check_agent_port(session, target)
    except BaseException:
        session.close()
        raise
    # The tunnel owns the session from here: it replaces it after a drop.
    tunnel = Tunnel(lambda: connect(name, target, farm_dir), target.agent_port, session=session, owns_session=True)
    try:
        log.debug("%s: %s forwards to %s 127.0.0.1:%d", name, tunnel.address, target.where, target.agent_port)
        yield SshEndpoint(name, tunnel.address, token, tunnel)
    finally:
        tunnel.close()
