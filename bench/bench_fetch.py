"""Fetch a 600 MB dump folder from a real agent over loopback, against a plain TCP socket
copy and paramiko SFTP of the same files, all in this run.

The dump is ~300 files x 2 MB in MegEngine's binary dump format, written by a
runner (this script with --as-dumper) as a finished run's workspace. Every
server runs in its own process, as the agent does, so no method shares the
client's GIL. Each method writes the files into a fresh folder; the gRPC fetch
also verifies each file's sha256 before renaming it into place.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

FILES = 300
FILE_BYTES = 2 << 20
ROUNDS = 2  # best of, for the two fast methods


# ---------------------------------------------------------------- the runner


def as_dumper(argv: list[str]) -> int:
    """Runner mode: write FILES real-format dump files into --bin-io-dump, one write each."""
    from analysis.dump_bin import dump_name, encode_dump

    out = argv[argv.index("--bin-io-dump") + 1]
    n_floats = (FILE_BYTES - 200) // 4
    payload = bytearray(os.urandom(n_floats * 4))
    for i in range(FILES):
        var_id = 7 + 3 * i
        payload[:8] = struct.pack("<Q", i)  # every file differs
        title = f"var={{id:{var_id}, layout:{{{n_floats}(1) Float32}}, Float32, owner:opr{i}{{Elemwise}}, name:v{i}}} owner_opr_inputs="
        with open(os.path.join(out, dump_name(var_id)), "wb") as f:
            f.write(encode_dump(title, 0, (n_floats,), bytes(payload)))
    return 0


# ---------------------------------------------------------------- raw socket


def as_socket_server(folder: str, port_file: str) -> int:
    """Serve every file of folder once over one TCP connection: name, size, bytes (sendfile)."""
    srv = socket.create_server(("127.0.0.1", 0))
    Path(port_file).write_text(str(srv.getsockname()[1]))
    for _ in range(ROUNDS):
        conn, _ = srv.accept()
        with conn:
            for name in sorted(os.listdir(folder)):
                path = os.path.join(folder, name)
                size = os.path.getsize(path)
                raw = name.encode()
                conn.sendall(struct.pack("<HQ", len(raw), size) + raw)
                with open(path, "rb") as f:
                    conn.sendfile(f)
            conn.sendall(struct.pack("<HQ", 0, 0))
    return 0


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError("socket closed")
        buf += chunk
    return bytes(buf)


def socket_copy(port: int, dest: Path) -> int:
    dest.mkdir(parents=True)
    total = 0
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    with socket.create_connection(("127.0.0.1", port)) as conn:
        while True:
            n, size = struct.unpack("<HQ", _recv_exact(conn, 10))
            if n == 0:
                return total
            name = _recv_exact(conn, n).decode()
            with open(dest / name, "wb") as f:
                left = size
                while left:
                    got = conn.recv_into(view, min(len(buf), left))
                    if not got:
                        raise EOFError("socket closed mid-file")
                    f.write(view[:got])
                    left -= got
            total += size


# ---------------------------------------------------------------- paramiko SFTP


def as_sftp_server(folder: str, port_file: str, key_file: str) -> int:
    """A paramiko SFTP server on loopback (throwaway host key, any password) exposing folder read-only."""
    import paramiko

    root = os.path.realpath(folder)

    class Server(paramiko.ServerInterface):
        def check_auth_password(self, username, password):
            return paramiko.AUTH_SUCCESSFUL

        def get_allowed_auths(self, username):
            return "password"

        def check_channel_request(self, kind, chanid):
            return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    class Handle(paramiko.SFTPHandle):
        pass

    class Files(paramiko.SFTPServerInterface):
        def _real(self, path):
            return os.path.join(root, path.lstrip("/"))

        def list_folder(self, path):
            out = []
            for name in sorted(os.listdir(self._real(path))):
                attr = paramiko.SFTPAttributes.from_stat(os.stat(os.path.join(self._real(path), name)))
                attr.filename = name
                out.append(attr)
            return out

        def stat(self, path):
            return paramiko.SFTPAttributes.from_stat(os.stat(self._real(path)))

        lstat = stat

        def open(self, path, flags, attr):
            h = Handle(flags)
            h.readfile = open(self._real(path), "rb")
            h.filename = self._real(path)
            return h

    host_key = paramiko.RSAKey.from_private_key_file(key_file)
    srv = socket.create_server(("127.0.0.1", 0))
    Path(port_file).write_text(str(srv.getsockname()[1]))
    conn, _ = srv.accept()
    t = paramiko.Transport(conn)
    t.add_server_key(host_key)
    t.set_subsystem_handler("sftp", paramiko.SFTPServer, Files)
    t.start_server(server=Server())
    while t.is_active():
        time.sleep(0.2)
    return 0


def sftp_copy(port: int, dest: Path) -> int:
    import paramiko

    dest.mkdir(parents=True)
    t = paramiko.Transport(("127.0.0.1", port))
    t.connect(username="bench", password="x")
    sftp = paramiko.SFTPClient.from_transport(t)
    total = 0
    for attr in sftp.listdir_attr("/"):
        sftp.get("/" + attr.filename, str(dest / attr.filename))
        total += attr.st_size
    sftp.close()
    t.close()
    return total


# ---------------------------------------------------------------- driver


def _spawn(args: list[str], port_file: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "bench.bench_fetch", *args])
    for _ in range(600):
        if port_file.is_file() and port_file.read_text().strip():
            return proc, int(port_file.read_text())
        if proc.poll() is not None:
            raise RuntimeError(f"helper {args[0]} exited with {proc.returncode}")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"helper {args[0]} did not start")


def _timed(fn, *args) -> tuple[float, int]:
    t0 = time.perf_counter()
    n = fn(*args)
    return time.perf_counter() - t0, n


def _agent(base: Path) -> tuple[subprocess.Popen, str, str]:
    """Start `agent serve` with this script as its runner; returns (process, address, token)."""
    import json

    token = secrets.token_urlsafe(24)
    cfg = {
        "workspace": str(base / "ws"),
        "runners": {"load_and_run": {"path": sys.executable, "args": [str(Path(__file__).resolve()), "--as-dumper"]}},
    }
    (base / "agent.json").write_text(json.dumps(cfg))
    port_file = base / "agent.port"
    env = dict(os.environ, LARFARM_TOKEN=token)
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "serve", "--config", str(base / "agent.json"), "--listen", "127.0.0.1:0",
         "--port-file", str(port_file)],
        env=env, stdout=subprocess.DEVNULL, stderr=open(base / "agent.log", "wb"),
    )
    for _ in range(600):
        if port_file.is_file():
            return proc, f"127.0.0.1:{port_file.read_text().strip()}", token
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("agent did not start: " + (base / "agent.log").read_text()[-500:])


def main(skip_sftp: bool = False) -> int:
    from controller.agent_client import AgentClient, RunSpec

    base = Path(tempfile.mkdtemp(prefix="larfarm-bench-fetch-"))
    procs: list[subprocess.Popen] = []
    try:
        agent, address, token = _agent(base)
        procs.append(agent)
        client = AgentClient(address, token, timeout=60)
        model = client.upload_blob(b"bench model")
        t0 = time.perf_counter()
        fin = [e for e in client.run(RunSpec(model_sha256=model, timeout_s=600))][-1]
        if not fin.ok:
            raise RuntimeError(f"bench run failed: {fin.error}")
        total = sum(e.size for e in fin.manifest if e.var_id is not None)
        print(f"# dump: {sum(1 for e in fin.manifest if e.var_id is not None)} files, {total / 1e6:.0f} MB, "
              f"written and hashed by the agent in {time.perf_counter() - t0:.1f} s", flush=True)
        bin_dir = base / "ws" / "runs" / fin.run_id / "out" / "bin"
        names = [e.name for e in fin.manifest if e.var_id is not None]

        def mbps(seconds: float) -> float:
            return total / seconds / 1e6

        sock_proc, sock_port = _spawn(["--as-socket-server", str(bin_dir), str(base / "sock.port")], base / "sock.port")
        procs.append(sock_proc)
        sock_best = grpc_best = float("inf")
        for r in range(ROUNDS):
            dest = base / f"sock{r}"
            s, n = _timed(socket_copy, sock_port, dest)
            if n != total:
                raise RuntimeError(f"socket copy moved {n} of {total} bytes")
            sock_best = min(sock_best, s)
            shutil.rmtree(dest)
            dest = base / f"grpc{r}"
            s, files = _timed(client.fetch, fin.run_id, dest, names)
            if sum(f.size for f in files) != total:
                raise RuntimeError("gRPC fetch moved the wrong number of bytes")
            grpc_best = min(grpc_best, s)
            shutil.rmtree(dest)
        sock_proc.wait(30)

        if skip_sftp:
            print(f"# grpc {mbps(grpc_best):.0f} MB/s, socket {mbps(sock_best):.0f} MB/s, "
                  f"ratio {sock_best / grpc_best:.2f}")
            return 0
        import paramiko

        key_file = base / "host_key"
        paramiko.RSAKey.generate(2048).write_private_key_file(str(key_file))  # throwaway host key
        sftp_proc, sftp_port = _spawn(["--as-sftp-server", str(bin_dir), str(base / "sftp.port"), str(key_file)],
                                      base / "sftp.port")
        procs.append(sftp_proc)
        dest = base / "sftp"
        sftp_s, n = _timed(sftp_copy, sftp_port, dest)
        if n != total:
            raise RuntimeError(f"sftp moved {n} of {total} bytes")
        shutil.rmtree(dest)
        client.close()

        g, so, sf = mbps(grpc_best), mbps(sock_best), mbps(sftp_s)
        print(f"BENCH fetch_grpc_throughput {g:.0f} MB/s target >= {0.8 * so:.0f}")
        print(f"BENCH fetch_socket_throughput {so:.0f} MB/s target >= 0")
        print(f"BENCH fetch_sftp_throughput {sf:.0f} MB/s target >= 0")
        print(f"BENCH fetch_vs_socket {g / so:.2f} x target >= 0.8")
        print(f"BENCH fetch_vs_sftp {g / sf:.2f} x target >= 3")
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--as-dumper", action="store_true")
    p.add_argument("--as-socket-server", nargs=2)
    p.add_argument("--as-sftp-server", nargs=3)
    p.add_argument("--skip-sftp", action="store_true", help="quick check: gRPC against the socket only")
    known, rest = p.parse_known_args()
    if known.as_dumper:
        sys.exit(as_dumper(rest))
    if known.as_socket_server:
        sys.exit(as_socket_server(*known.as_socket_server))
    if known.as_sftp_server:
        sys.exit(as_sftp_server(*known.as_sftp_server))
    sys.exit(main(known.skip_sftp))
