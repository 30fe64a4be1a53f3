"""A real OpenSSH server for tests: loopback (or inside a network namespace),
throwaway host and user keys, root-owned `/usr/sbin/sshd -D -f <config> -e`.

Tests that cannot have one (not root, no sshd) skip with the reason, except
under CI=true, where they must run.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

SSHD = "/usr/sbin/sshd"


def need(reason_if_missing: Optional[str]) -> None:
    """Skip with the reason, unless CI is set: there the test must run (and fail)."""
    if reason_if_missing is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI requires this test to run, but: {reason_if_missing}")
    pytest.skip(reason_if_missing)


def sshd_missing() -> Optional[str]:
    if not os.path.exists(SSHD):
        return f"{SSHD} not installed (apt-get install openssh-server)"
    if shutil.which("ssh-keygen") is None:
        return "ssh-keygen not installed (apt-get install openssh-client)"
    if os.geteuid() != 0:
        return "sshd test servers need root (sshd switches to the login user)"
    return None


def free_port(host: str = "127.0.0.1") -> int:
    """A free TCP port below the kernel's ephemeral range.

    Ports from bind(0) come from the ephemeral range, where any other test's
    server or client can take them between this probe and our own bind; a port
    below it is only ever taken on purpose.
    """
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(10000, max(low, 10001))
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free TCP port below the ephemeral range")


def keygen(path: Path, comment: str = "larfarm-test") -> Path:
    """An unencrypted ed25519 key pair at path / path.pub."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return path


@dataclass
class Sshd:
    """One running sshd and what a client needs to log in to it."""

    root: Path
    host: str
    port: int
    user_key: Path
    host_key: Path
    known_hosts: Path
    proc: subprocess.Popen
    netns: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    def host_key_line(self) -> str:
        kind, b64 = (self.host_key.parent / (self.host_key.name + ".pub")).read_text().split()[:2]
        name = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        return f"{name} {kind} {b64}\n"

    def target(self, **overrides: Any) -> Dict[str, Any]:
        """An `ssh:` block (as a dict) that logs in to this sshd as root."""
        board = self.root / "board"
        board.mkdir(exist_ok=True)
        data: Dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": "root",
            "key_file": str(self.user_key),
            "known_hosts": str(self.known_hosts),
            "workdir": str(board / "larfarm"),
        }
        data.update(overrides)
        return data

    def stop(self) -> None:
        """Stop sshd, then whatever it started that still runs from this server's
        folder (agents started detached on the "board", their runs)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        kill_processes_under(self.root)


def kill_processes_under(folder: Path) -> List[int]:
    """SIGKILL the processes whose command line names a path inside `folder`
    (a test's own throwaway folder: only what the test started matches)."""
    import signal

    needle = str(folder).encode()
    killed = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            try:
                os.kill(int(entry), signal.SIGKILL)
                killed.append(int(entry))
            except ProcessLookupError:
                pass
    return killed


def start_sshd(
    root: Path,
    host: str = "127.0.0.1",
    port: Optional[int] = None,
    netns: Optional[str] = None,
    user_key: Optional[Path] = None,
    sftp: bool = True,
    forwarding: bool = True,
) -> Sshd:
    """Start sshd listening on host:port (inside `netns` if given); wait until it accepts.

    `sftp=False` plays a board whose sshd has no sftp subsystem (dropbear-like);
    `forwarding=False` one whose sshd forbids port forwarding.
    """
    root.mkdir(parents=True, exist_ok=True)
    os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege-separation directory
    host_key = keygen(root / "ssh_host_ed25519_key", "larfarm-test-host")
    if user_key is None:
        user_key = keygen(root / "id_ed25519")
    auth = root / "authorized_keys"
    auth.write_text((user_key.parent / (user_key.name + ".pub")).read_text())
    auth.chmod(0o600)
    probed = port is None
    for _ in range(3):
        server = _launch(root, host, port or free_port(host), netns, host_key, user_key, auth, sftp, forwarding)
        if server is not None:
            return server
        if not probed:
            break
        # the probed port was taken between the probe and sshd's bind: probe again
    raise RuntimeError(f"sshd could not start: {(root / 'sshd.log').read_text()[-2000:]}")


def _launch(
    root: Path,
    host: str,
    port: int,
    netns: Optional[str],
    host_key: Path,
    user_key: Path,
    auth: Path,
    sftp: bool,
    forwarding: bool,
) -> Optional[Sshd]:
    """One sshd on host:port, up and listening; None when the port was in use."""
    config = root / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                f"ListenAddress {host}",
                f"HostKey {host_key}",
                f"PidFile {root / 'sshd.pid'}",
                f"AuthorizedKeysFile {auth}",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "UsePAM no",
                "StrictModes no",
                f"AllowTcpForwarding {'yes' if forwarding else 'no'}",
                "AllowAgentForwarding no",
                "X11Forwarding no",
                "PrintMotd no",
                "ClientAliveInterval 0",
                "MaxStartups 50",
                "LogLevel INFO",
                "Subsystem sftp internal-sftp" if sftp else "",
                "",
            ]
        )
    )
    argv: List[str] = [SSHD, "-D", "-e", "-f", str(config)]
    if netns:
        argv = ["ip", "netns", "exec", netns] + argv
    log_path = root / "sshd.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    known = root / "known_hosts"
    server = Sshd(root, host, port, user_key, host_key, known, proc, netns)
    known.write_text(server.host_key_line())
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        if proc.poll() is not None:
            if "Address already in use" in text:
                return None
            raise RuntimeError(f"sshd exited ({proc.returncode}): {text[-2000:]}")
        # our own sshd's word that it listens: another server on a reused port would also
        # accept. (A namespace's address may be unroutable from here: its word is enough.)
        if f"Server listening on {host} port {port}" in text and (netns is not None or _accepts(host, port, netns)):
            return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"sshd on {host}:{port} did not accept within 15s: {log_path.read_text()[-2000:]}")


def _accepts(host: str, port: int, netns: Optional[str]) -> bool:
    # From the root namespace the namespace's address is reachable through the veth.
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            return bool(s.recv(4))  # the SSH banner: the server is really up
    except OSError:
        return False


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    """A fresh sshd on 127.0.0.1 (root login with a throwaway key), stopped afterwards."""
    need(sshd_missing())
    server = start_sshd(tmp_path / "sshd")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def board_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Python like a board's: grpcio and protobuf, but none of larfarm's packages.

    `-S` skips site-packages' .pth files, so the editable install of this repo is
    not importable there: an agent started with it runs from the pushed zipapp alone.
    """
    import site
    import stat
    import sys

    path = tmp_path_factory.mktemp("board-python") / "python3"
    libs = ":".join(site.getsitepackages())
    path.write_text(f'#!/bin/sh\nPYTHONPATH={libs} exec {sys.executable} -S "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(path)


def write_farm(path: Path, devices: Dict[str, Dict[str, Any]], **top: Any) -> Path:
    """A farm.yaml with the given {name: ssh-block} devices."""
    import yaml

    data: Dict[str, Any] = {"devices": [{"name": n, "ssh": s} for n, s in devices.items()]}
    data.update(top)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
