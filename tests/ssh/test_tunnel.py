"""The loopback port-forward over a real sshd: data both ways, refusals, drops."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from controller.ssh.client import ssh_login
from controller.ssh.config import SshTarget
from controller.ssh.tunnel import Tunnel


class EchoServer:
    """A TCP server on 127.0.0.1 that sends back what it gets ('the agent')."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            try:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        return
                    conn.sendall(data)
            except OSError:
                return  # the tunnel cut the connection: expected in some tests

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def echo():
    server = EchoServer()
    yield server
    server.close()


def _roundtrip(address: str, payload: bytes) -> bytes:
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        got = bytearray()
        sender = threading.Thread(target=s.sendall, args=(payload,))
        sender.start()
        while len(got) < len(payload):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        sender.join()
    return bytes(got)


def test_forwards_bytes_both_ways(sshd, echo):
    target = SshTarget(**sshd.target())
    with Tunnel(lambda: ssh_login("b", target), echo.port) as tunnel:
        assert tunnel.address.startswith("127.0.0.1:")
        payload = os.urandom(3 * 1024 * 1024)
        assert _roundtrip(tunnel.address, payload) == payload
        # several connections at once share one SSH login
        results = []
        threads = [
            threading.Thread(target=lambda: results.append(_roundtrip(tunnel.address, b"x" * 10_000))) for _ in range(5)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [b"x" * 10_000] * 5


def test_nothing_listening_on_the_board_closes_the_connection(sshd):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    target = SshTarget(**sshd.target())
    with Tunnel(lambda: ssh_login("b", target), dead) as tunnel:
        host, port = tunnel.address.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as s:
            assert s.recv(10) == b""  # closed, not hung


def test_logs_in_again_after_the_ssh_link_drops(sshd, echo):
    target = SshTarget(**sshd.target())
    with Tunnel(lambda: ssh_login("b", target), echo.port) as tunnel:
        assert _roundtrip(tunnel.address, b"one") == b"one"
        tunnel._session.client.get_transport().close()  # the link dies
        time.sleep(0.1)
        assert _roundtrip(tunnel.address, b"two") == b"two"


def test_unreachable_board_is_reported_and_connection_closed(echo):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    target = SshTarget(host="127.0.0.1", port=dead, connect_timeout=2)
    with Tunnel(lambda: ssh_login("b", target), echo.port) as tunnel:
        host, port = tunnel.address.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as s:
            assert s.recv(10) == b""
        assert tunnel.last_error is not None and "cannot connect to sshd" in str(tunnel.last_error)


def test_close_cuts_open_connections(sshd, echo):
    target = SshTarget(**sshd.target())
    tunnel = Tunnel(lambda: ssh_login("b", target), echo.port)
    host, port = tunnel.address.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(b"hi")
    assert s.recv(2) == b"hi"
    tunnel.close()
    assert s.recv(10) == b""
    s.close()
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=2)


def test_a_connection_forwarded_after_close_never_logs_in_again():
    logins = []

    def login():
        logins.append(1)
        raise AssertionError("a closed tunnel logged in")

    tunnel = Tunnel(login, 9)
    tunnel.close()
    ours, theirs = socket.socketpair()
    with ours, theirs:
        tunnel._forward(ours, ("127.0.0.1", 1))  # as the accept loop does for a connection that raced close()
        assert theirs.recv(1) == b""  # the connection was closed
    assert logins == []
