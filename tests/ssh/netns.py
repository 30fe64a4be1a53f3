"""Boards in network namespaces: each gets a veth link to the root namespace, a
private 10.231.x.0/24 address and its own sshd. Everything is torn down even
when a test fails; only our own namespaces and their processes are touched.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

from tests.support.sshd import Sshd, keygen, sshd_missing, start_sshd


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def netns_missing() -> Optional[str]:
    """Why namespace tests cannot run here, or None."""
    missing = sshd_missing()
    if missing:
        return missing
    if shutil.which("ip") is None:
        return "`ip` not installed (apt-get install iproute2)"
    probe = f"larfarm-probe-{os.getpid()}"
    made = ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot create network namespaces: {made.stderr.strip()}"
    ip("netns", "del", probe, check=False)
    return None


@dataclass
class NsBoard:
    """One board: a namespace, its link to us, its address, its sshd."""

    name: str
    netns: str
    host_if: str  # our end of the veth pair
    guest_if: str  # the board's end; `link_down()` takes it down: the board is cut off
    address: str  # the board's address (inside its namespace)
    subnet: str
    sshd: Optional[Sshd] = None

    def link_down(self) -> None:
        # Down on the board's side: our end loses carrier but keeps its route (and
        # the blackhole route below catches the rest), so nothing leaves this host.
        ip("netns", "exec", self.netns, "ip", "link", "set", self.guest_if, "down")

    def link_up(self) -> None:
        ip("netns", "exec", self.netns, "ip", "link", "set", self.guest_if, "up")
        # Forget the failed ARP lookups of the outage, so the board answers at once.
        ip("neigh", "flush", "dev", self.host_if, check=False)


def _claim_subnets(count: int) -> int:
    """A third octet x such that 10.231.x.0/24 .. x+count-1 are ours: each gets a
    blackhole route first (a second test run at the same time cannot take it, and
    whatever happens to a link, the board's traffic never takes the default route
    off this machine)."""
    for _ in range(50):
        base = random.randrange(1, 250 - count)
        routes = ip("-4", "route", "show").stdout
        if any(f"10.231.{base + i}." in routes for i in range(count)):
            continue
        claimed = []
        for i in range(count):
            subnet = f"10.231.{base + i}.0/24"
            if ip("route", "add", "blackhole", subnet, "metric", "4000", check=False).returncode != 0:
                break  # taken meanwhile
            claimed.append(subnet)
        if len(claimed) == count:
            return base
        for subnet in claimed:
            ip("route", "del", "blackhole", subnet, "metric", "4000", check=False)
    raise RuntimeError("no free 10.231.x.0/24 subnet")


def _kill_namespace_processes(netns: str) -> None:
    # Only processes living in our namespace: its sshd and what it started (agents, runs).
    pids = ip("netns", "pids", netns, check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def _remove_stale() -> None:
    """Namespaces an earlier, killed test run of ours left behind (its pid is gone)."""
    for line in ip("netns", "list", check=False).stdout.splitlines():
        m = re.match(r"larfarm-(\d+)-(\d+)\b", line)
        if m and not Path(f"/proc/{m.group(1)}").exists():
            ns = f"larfarm-{m.group(1)}-{m.group(2)}"
            _kill_namespace_processes(ns)
            ip("link", "del", f"lf{m.group(1)}h{m.group(2)}", check=False)
            ip("netns", "del", ns, check=False)


def boards(root: Path, count: int) -> Iterator[List[NsBoard]]:
    """Generator fixture body: `count` boards with sshd running; torn down on exit."""
    _remove_stale()
    tag = str(os.getpid())  # interface names stay within 15 characters
    base = _claim_subnets(count)
    made: List[NsBoard] = []
    try:
        for i in range(count):
            subnet = f"10.231.{base + i}.0/24"
            b = NsBoard(
                f"board{i + 1}", f"larfarm-{tag}-{i}", f"lf{tag}h{i}", f"lf{tag}g{i}", f"10.231.{base + i}.2", subnet
            )
            guest_if = b.guest_if
            made.append(b)
            ip("netns", "add", b.netns)
            ip("link", "add", b.host_if, "type", "veth", "peer", "name", guest_if)
            ip("link", "set", guest_if, "netns", b.netns)
            ip("addr", "add", f"10.231.{base + i}.1/24", "dev", b.host_if)
            ip("link", "set", b.host_if, "up")
            ip("netns", "exec", b.netns, "ip", "addr", "add", f"{b.address}/24", "dev", guest_if)
            ip("netns", "exec", b.netns, "ip", "link", "set", guest_if, "up")
            # the agent listens on the board's own loopback
            ip("netns", "exec", b.netns, "ip", "link", "set", "lo", "up")
            b.sshd = start_sshd(root / b.name, host=b.address, port=22, netns=b.netns)
        yield made
    finally:
        _teardown(made, base, count)


def _teardown(made: List[NsBoard], base: int, count: int) -> None:
    for i in range(len(made), count):  # subnets claimed for boards never made
        ip("route", "del", "blackhole", f"10.231.{base + i}.0/24", "metric", "4000", check=False)
    for b in made:
        if b.sshd is not None:
            b.sshd.stop()
        _kill_namespace_processes(b.netns)
        ip("link", "del", b.host_if, check=False)
        time.sleep(0.05)
        ip("netns", "del", b.netns, check=False)
        _drop_blackhole_when_quiet(b.subnet)


def _sockets_to(subnet: str) -> List[str]:
    """Our TCP sockets to `subnet` that may still send (TIME-WAIT only answers what arrives)."""
    out = subprocess.run(
        ["ss", "-Htn", "exclude", "time-wait", "dst", subnet], capture_output=True, text=True, timeout=30
    ).stdout
    return [line for line in out.splitlines() if line.strip()]


def _drop_blackhole_when_quiet(subnet: str) -> None:
    """Remove a board's blackhole route only once no socket here can still send to it.

    A connection the board closed first sits in LAST-ACK (or FIN-WAIT) after the
    namespace is gone and retransmits its FIN for minutes: with the blackhole gone
    those packets would take the default route off this machine. Such sockets are
    destroyed first (ss -K); if any survives, the blackhole stays (harmless, and
    _claim_subnets never reuses a subnet that still has a route).
    """
    subprocess.run(["ss", "-K", "-Htn", "dst", subnet], capture_output=True, timeout=30)
    deadline = time.monotonic() + 5
    while _sockets_to(subnet) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _sockets_to(subnet):
        return
    ip("route", "del", "blackhole", subnet, "metric", "4000", check=False)


def bastion_and_inner(root: Path) -> Iterator[Tuple[NsBoard, NsBoard]]:
    """Generator fixture body: a bastion we reach, and an inner board only the
    bastion reaches (their own veth link; from here its subnet is a blackhole)."""
    _remove_stale()
    tag = str(os.getpid())
    base = _claim_subnets(2)
    bastion = NsBoard(
        "bastion", f"larfarm-{tag}-0", f"lf{tag}h0", f"lf{tag}g0", f"10.231.{base}.2", f"10.231.{base}.0/24"
    )
    inner = NsBoard(
        "inner", f"larfarm-{tag}-1", f"lf{tag}h1", f"lf{tag}g1", f"10.231.{base + 1}.2", f"10.231.{base + 1}.0/24"
    )
    made: List[NsBoard] = []
    try:
        for b in (bastion, inner):
            ip("netns", "add", b.netns)
            made.append(b)
            ip("netns", "exec", b.netns, "ip", "link", "set", "lo", "up")
        # us <-> bastion
        ip("link", "add", bastion.host_if, "type", "veth", "peer", "name", bastion.guest_if)
        ip("link", "set", bastion.guest_if, "netns", bastion.netns)
        ip("addr", "add", f"10.231.{base}.1/24", "dev", bastion.host_if)
        ip("link", "set", bastion.host_if, "up")
        ip("netns", "exec", bastion.netns, "ip", "addr", "add", f"{bastion.address}/24", "dev", bastion.guest_if)
        ip("netns", "exec", bastion.netns, "ip", "link", "set", bastion.guest_if, "up")
        # bastion <-> inner: both ends leave our namespace
        ip("link", "add", inner.host_if, "type", "veth", "peer", "name", inner.guest_if)
        ip("link", "set", inner.host_if, "netns", bastion.netns)
        ip("link", "set", inner.guest_if, "netns", inner.netns)
        ip("netns", "exec", bastion.netns, "ip", "addr", "add", f"10.231.{base + 1}.1/24", "dev", inner.host_if)
        ip("netns", "exec", bastion.netns, "ip", "link", "set", inner.host_if, "up")
        ip("netns", "exec", inner.netns, "ip", "addr", "add", f"{inner.address}/24", "dev", inner.guest_if)
        ip("netns", "exec", inner.netns, "ip", "link", "set", inner.guest_if, "up")
        root.mkdir(parents=True, exist_ok=True)
        key = keygen(root / "id_ed25519")  # one login key for both, as a lab account would have
        bastion.sshd = start_sshd(root / "bastion", host=bastion.address, port=22, netns=bastion.netns, user_key=key)
        inner.sshd = start_sshd(root / "inner", host=inner.address, port=22, netns=inner.netns, user_key=key)
        yield bastion, inner
    finally:
        _teardown(made, base, 2)
