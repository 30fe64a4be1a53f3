"""SSH side: bytes through the controller's SSH port-forward against a direct loopback
TCP read of the same bytes (the baseline, same run), and the wall time of a deploy.

A real sshd (throwaway keys, loopback) is started as in tests/ssh; it needs root and
openssh-server. The byte source runs in its own process, as the agent does, so it
does not share the GIL with the tunnel's pump threads.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MB = 1 << 20
PAYLOAD_MB = int(os.environ.get("BENCH_SSH_MB", "256"))
REPEATS = 3

SOURCE = r"""
import socket, sys
n = int(sys.argv[1])
block = b"\x5a" * (1 << 20)
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(8)
print(srv.getsockname()[1], flush=True)
while True:
    conn, _ = srv.accept()
    with conn:
        for _ in range(n):
            conn.sendall(block)
"""


def read_all(port: int) -> int:
    got = 0
    with socket.create_connection(("127.0.0.1", port)) as s:
        while True:
            data = s.recv(1 << 20)
            if not data:
                return got
            got += len(data)


def best_mb_s(port: int) -> float:
    best = 0.0
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        got = read_all(port)
        dt = time.perf_counter() - t0
        if got != PAYLOAD_MB * MB:
            raise SystemExit(f"bench_ssh: read {got} bytes, expected {PAYLOAD_MB * MB}")
        best = max(best, got / MB / dt)
    return best


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.support.sshd import sshd_missing, start_sshd

    missing = sshd_missing()
    if missing:
        print(f"bench_ssh: skipped: {missing}", file=sys.stderr)
        return 0
    from controller.ssh.client import ssh_login
    from controller.ssh.config import SshTarget
    from controller.ssh.deploy import deploy, stop
    from controller.ssh.tunnel import Tunnel
    from tests.support.sshd import free_port

    with tempfile.TemporaryDirectory(prefix="bench-ssh-") as tmp:
        server = start_sshd(Path(tmp) / "sshd")
        source = subprocess.Popen([sys.executable, "-c", SOURCE, str(PAYLOAD_MB)], stdout=subprocess.PIPE, text=True)
        try:
            port = int(source.stdout.readline())
            target = SshTarget(**server.target(python=sys.executable, agent_port=free_port()))
            direct = best_mb_s(port)
            with Tunnel(lambda: ssh_login("bench", target), port) as tunnel:
                tunneled = best_mb_s(tunnel.local_port)
            t0 = time.perf_counter()
            deploy("bench", target, Path(tmp))
            deploy_s = time.perf_counter() - t0
            stop("bench", target, Path(tmp))
        finally:
            source.kill()
            source.wait()
            server.stop()
    print(f"# {PAYLOAD_MB} MB per read, best of {REPEATS}; sshd on loopback, paramiko client")
    print(f"BENCH ssh_tunnel_throughput {tunneled:.0f} MB/s target >= 100")
    print(f"BENCH ssh_direct_throughput {direct:.0f} MB/s target >= 0")
    print(f"BENCH ssh_tunnel_vs_direct {tunneled / direct:.3f} x target >= 0.03")
    print(f"BENCH ssh_deploy_time {deploy_s:.2f} s target <= 10")
    return 0


if __name__ == "__main__":
    sys.exit(main())
