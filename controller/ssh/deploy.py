"""deploy / status / stop of the agent on one SSH board.

deploy: check the board, stop any agent of ours, push the zipapp and a fresh
token (0600 on both sides), start the agent detached on the board's loopback,
and check its health through an SSH port-forward. Re-running it replaces the
running agent cleanly.
"""

from __future__ import annotations

import json
import logging
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

from controller.agent_client import AgentClient, AgentClientError
from controller.errors import ConfigError
from controller.ssh import board
from controller.ssh.client import ssh_login
from controller.ssh.config import SshTarget
from controller.ssh.errors import AgentPortBusy, AgentStartFailed, HostUnreachable, SshError
from controller.ssh.health import wait_serving
from controller.ssh.package import AgentPackage, build_agent_package
from controller.ssh.tokens import new_token, read_token, remove_token, token_path, write_token
from controller.ssh.tunnel import Tunnel, check_forward

log = logging.getLogger(__name__)

PYZ = "larfarm-agent.pyz"
TOKEN = "agent.token"
CONFIG = "agent.json"
WORKSPACE = "workspace"
START_WAIT_S = 20.0
HEALTH_WAIT_S = 20.0


@dataclass(frozen=True)
class Deployed:
    """One board after a successful deploy."""

    device: str
    where: str
    python: str
    how: str  # "systemd" | "setsid"
    pid: Optional[int]
    agent_version: str
    token_file: Path
    replaced: Tuple[str, ...]  # what of a previous agent was stopped


@dataclass(frozen=True)
class BoardStatus:
    """One board as `controller status` shows it."""

    device: str
    where: str
    reachable: bool
    error: Optional[str] = None
    deployed: bool = False
    running: bool = False
    how: Optional[str] = None
    pid: Optional[int] = None
    health: Optional[str] = None
    agent_version: Optional[str] = None


@dataclass(frozen=True)
class Stopped:
    device: str
    where: str
    stopped: Tuple[str, ...]


def _agent_argv(python: str, workdir: str, port: int, with_config: bool) -> list:
    argv = [python, posixpath.join(workdir, PYZ), "serve"]
    if with_config:
        argv += ["--config", posixpath.join(workdir, CONFIG)]
    return argv + [
        "--listen",
        f"127.0.0.1:{port}",
        "--token-file",
        posixpath.join(workdir, TOKEN),
        "--workspace",
        posixpath.join(workdir, WORKSPACE),
    ]


def _agent_config_json(target: SshTarget, farm_dir: Path, device: str) -> Optional[bytes]:
    if target.agent_config is None:
        return None
    from controller.yaml_loader import load_yaml  # controller side only; the board gets JSON

    path = Path(target.agent_config).expanduser()
    if not path.is_absolute():
        path = Path(farm_dir) / path
    try:  # the same guards as farm.yaml: a regular file of bounded size, no alias bombs, no duplicate keys
        data, _ = load_yaml(path, str(path))
    except ConfigError as exc:
        raise SshError(device, target.where, f"agent_config {exc}") from None
    if not isinstance(data, dict):
        raise SshError(device, target.where, f"agent_config {path}: expected a mapping")
    return json.dumps(data, indent=2).encode()


def _facts_version(address: str, token: str, target: SshTarget) -> str:
    # messages name the board's SSH address, not the tunnel's loopback end
    try:
        with AgentClient(address, token, None, 15.0, where=f"ssh:{target.where}") as client:
            return client.facts().agent_version
    except AgentClientError as exc:
        return f"? ({exc})"


def deploy(device: str, target: SshTarget, farm_dir: Path, package: Optional[AgentPackage] = None) -> Deployed:
    """Put the agent on the board and start it; raise SshError with one clear line on any failure."""
    package = package or build_agent_package()
    config = _agent_config_json(target, farm_dir, device)  # local mistakes first, before touching the board
    with ssh_login(device, target, farm_dir) as session:
        service = target.agent_service
        facts = board.probe(
            session,
            package.board_modules,
            package.pip_hint(package.board_modules),
            check_systemd=service in ("auto", "systemd"),
            min_versions=package.min_versions,
        )
        if service == "systemd" and facts.systemd_user != "yes":
            raise SshError(
                device,
                session.where,
                f"agent_service: systemd, but {facts.systemd_user}; use agent_service: setsid or auto",
            )
        how = "systemd" if service == "systemd" or (service == "auto" and facts.systemd_user == "yes") else "setsid"
        workdir = facts.workdir
        # Idempotent: whatever of ours runs there goes first, so its port is free.
        old = board.helper(session, "stop", {"workdir": workdir, "port": target.agent_port})
        busy = board.port_free(session, target.agent_port)
        if busy is not None:
            raise AgentPortBusy(
                device,
                session.where,
                f"agent port {target.agent_port} is already in use on the board by another program ({busy}); "
                "stop it or set `agent_port:` under ssh:",
            )
        token = new_token()
        board.put_file(session, package.data, posixpath.join(workdir, PYZ), 0o644)
        board.put_file(session, (token + "\n").encode(), posixpath.join(workdir, TOKEN), 0o600)
        if config is not None:
            board.put_file(session, config, posixpath.join(workdir, CONFIG), 0o600)
        local_token = token_path(device, target, farm_dir)
        write_token(local_token, token)
        # A bare command name ("python3") is resolved on the board now: a systemd unit
        # has no login PATH. An absolute path (maybe a wrapper script) is kept as given.
        python = target.python if target.python.startswith("/") or not facts.executable else facts.executable
        argv = _agent_argv(python, workdir, target.agent_port, config is not None)
        started = board.helper(
            session,
            "start",
            {"workdir": workdir, "argv": argv, "port": target.agent_port, "service": how, "wait_s": START_WAIT_S},
            timeout=START_WAIT_S + 30,
        )
        if not started.get("listening"):
            tail = (started.get("log_tail") or "").strip().splitlines()
            last = tail[-1] if tail else "no output"
            if started.get("exited") is not None:
                what = f"agent exited (status {started['exited']}) right after start: {last}"
            else:
                what = f"agent did not listen on 127.0.0.1:{target.agent_port} within {START_WAIT_S:g}s: {last}"
            raise AgentStartFailed(device, session.where, f"{what}; log: {posixpath.join(workdir, 'agent.log')}")
        check_forward(session, target.agent_port)
        with Tunnel(lambda: ssh_login(device, target, farm_dir), target.agent_port, session=session) as tunnel:
            health = wait_serving(tunnel.address, HEALTH_WAIT_S)
            if health != "SERVING":
                raise AgentStartFailed(
                    device,
                    session.where,
                    f"agent started but its health check through the SSH tunnel says {health}; "
                    f"log: {posixpath.join(workdir, 'agent.log')}",
                )
            version = _facts_version(tunnel.address, token, target)
        log.info("%s: agent %s up (%s pid %s)", device, version, how, started.get("pid"))
        return Deployed(
            device,
            session.where,
            f"{facts.python} {facts.version}",
            how,
            started.get("pid"),
            version,
            local_token,
            tuple(old.get("stopped", ())),
        )


def status(device: str, target: SshTarget, farm_dir: Path) -> BoardStatus:
    """Reachable? agent running (pid/unit)? healthy through the tunnel? which version?"""
    where = target.where
    try:
        session = ssh_login(device, target, farm_dir)
    except HostUnreachable as exc:
        return BoardStatus(device, where, False, error=exc.what)
    except SshError as exc:  # sshd answered, but the login failed (host key, key, user)
        return BoardStatus(device, where, True, error=str(exc) if exc.where != where else exc.what)
    with session:
        try:
            st = board.helper(session, "status", {"workdir": target.workdir, "port": target.agent_port})
        except SshError as exc:
            return BoardStatus(device, where, True, error=exc.what)
        health = version = None
        if st.get("listening"):
            with Tunnel(lambda: ssh_login(device, target, farm_dir), target.agent_port, session=session) as tunnel:
                health = wait_serving(tunnel.address, 5.0)
                try:
                    version = _facts_version(tunnel.address, read_token(device, target, farm_dir), target)
                except SshError as exc:
                    version = f"? ({exc.what})"
        return BoardStatus(
            device,
            where,
            True,
            None,
            bool(st.get("deployed")),
            bool(st.get("running")),
            st.get("how"),
            st.get("pid"),
            health,
            version,
        )


def stop(device: str, target: SshTarget, farm_dir: Path, forget_token: bool = False) -> Stopped:
    """Stop the board's agent (unit or pid) and remove its pid file."""
    with ssh_login(device, target, farm_dir) as session:
        ans = board.helper(session, "stop", {"workdir": target.workdir, "port": target.agent_port})
    if forget_token:
        remove_token(device, target, farm_dir)
    return Stopped(device, target.where, tuple(ans.get("stopped", ())))
