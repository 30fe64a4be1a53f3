"""Local port-forward (ssh -L): a loopback listener whose connections are carried
over SSH direct-tcpip channels to the agent's port on the board.

The board needs no open port but sshd's, and the agent may listen on the board's
loopback only. When the SSH link dies the forwarded connections are closed at
once (so gRPC sees UNAVAILABLE instead of hanging), and the next connection logs
in again, so a board whose link comes back is usable without a new tunnel.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Callable, List, Optional

import paramiko
from paramiko.common import OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

from controller.ssh.client import SshSession
from controller.ssh.errors import AgentNotRunning, HostUnreachable, SshError

log = logging.getLogger(__name__)

_CHUNK = 256 * 1024
# SSH flow-control window per forwarded connection: paramiko's 2 MB default caps a
# 50 ms link at ~40 MB/s (window / RTT); 16 MB keeps far boards' links busy on big dumps.
WINDOW_BYTES = 16 << 20


def _shutdown(conn: socket.socket) -> None:
    """Shut a local socket both ways: unlike close(), this wakes a thread blocked in recv()."""
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def close_channel(chan: paramiko.Channel) -> None:
    """Close a channel whose transport may be dying: paramiko then raises EOFError
    or OSError from the close message it cannot send, and there is nothing to do."""
    try:
        chan.close()
    except (EOFError, OSError, paramiko.SSHException):
        pass


def check_forward(session: SshSession, port: int) -> None:
    """Open and close one forwarded connection to the board's 127.0.0.1:<port>, so a
    failure is one line naming the board (not an anonymous loopback address in gRPC)."""
    try:
        chan = session.transport.open_channel(
            "direct-tcpip", ("127.0.0.1", port), ("127.0.0.1", 0), timeout=session.target.connect_timeout
        )
    except paramiko.ChannelException as exc:
        if exc.code == OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED:
            raise SshError(
                session.device,
                session.where,
                "the board's sshd forbids port forwarding (AllowTcpForwarding no), "
                "and the agent is reached only through it",
            ) from None
        raise AgentNotRunning(
            session.device,
            session.where,
            f"no agent listens on 127.0.0.1:{port} on the board; "
            f"run `controller deploy --devices <farm.yaml> --device {session.device}`",
        ) from None
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise HostUnreachable(session.device, session.where, f"SSH connection lost: {exc}") from None
    close_channel(chan)


class Tunnel:
    """Forward 127.0.0.1:<local_port> to 127.0.0.1:<remote_port> as seen from the board."""

    def __init__(
        self,
        connect: Callable[[], SshSession],
        remote_port: int,
        remote_host: str = "127.0.0.1",
        session: Optional[SshSession] = None,
        owns_session: bool = False,
    ) -> None:
        """`session`: an existing login to use first; with `owns_session` the
        tunnel closes it (and any later one) on close()."""
        self._connect = connect
        self.remote_host = remote_host
        self.remote_port = remote_port
        self._session = session
        self._owns_session = session is None or owns_session
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._pairs: List[tuple] = []
        self.last_error: Optional[SshError] = None
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        # close() from another thread does not wake a blocked accept(): poll.
        self._listener.settimeout(0.5)
        self.local_port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, name=f"tunnel:{self.local_port}", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.local_port}"

    def _live_session(self) -> SshSession:
        # One login shared by all forwarded connections; log in again after a drop.
        with self._lock:
            if self._closed.is_set():
                # a connection accepted just before close(): logging in now would leave a
                # session nobody closes, reaching for a board the caller is done with
                raise OSError("tunnel closed")
            if self._session is None or not self._session.is_active():
                if self._session is not None and self._owns_session:
                    self._session.close()
                self._session = self._connect()
                self._owns_session = True
            return self._session

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                conn, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # listener closed
            conn.setblocking(True)
            threading.Thread(
                target=self._forward_guarded,
                args=(conn, peer),
                daemon=True,
                name=f"tunnel:{self.local_port}<-{peer[1]}",
            ).start()

    def _forward_guarded(self, conn: socket.socket, peer: tuple) -> None:
        # A thread's exception would vanish; keep it in the log, and the socket closed.
        try:
            self._forward(conn, peer)
        except Exception:  # noqa: BLE001 - last resort of a daemon thread
            log.exception("tunnel %s: forwarding failed", self.address)
            conn.close()

    def _forward(self, conn: socket.socket, peer: tuple) -> None:
        try:
            session = self._live_session()
            chan = session.transport.open_channel(
                "direct-tcpip",
                (self.remote_host, self.remote_port),
                peer,
                timeout=session.target.connect_timeout,
                window_size=WINDOW_BYTES,
            )
        except SshError as exc:
            self.last_error = exc
            log.warning("tunnel %s: %s", self.address, exc)
            conn.close()
            return
        except (paramiko.SSHException, OSError, EOFError) as exc:
            # Typically "Connect failed": nothing listens on the board's agent port.
            log.info("tunnel %s: board refused %s:%d: %s", self.address, self.remote_host, self.remote_port, exc)
            conn.close()
            return
        self.last_error = None
        pair = (conn, chan)
        with self._lock:
            if self._closed.is_set():
                conn.close()
                close_channel(chan)
                return
            self._pairs.append(pair)
        try:
            self._pump(conn, chan)
        finally:
            with self._lock:
                if pair in self._pairs:
                    self._pairs.remove(pair)
            conn.close()
            close_channel(chan)

    def _pump(self, conn: socket.socket, chan: paramiko.Channel) -> None:
        """Copy both ways until either side ends. Blocking reads in two threads,
        never select() on the channel: paramiko backs a channel's fileno() with a
        pipe, and a close racing the transport thread can write its wake-up byte
        into whatever file descriptor reused the pipe's number."""
        up = threading.Thread(
            target=self._upstream, args=(conn, chan), daemon=True, name=f"tunnel:{self.local_port}:up"
        )
        up.start()
        try:
            while True:
                # returns b"" on EOF, on close(), and when the transport dies
                data = chan.recv(_CHUNK)
                if not data:
                    return
                conn.sendall(data)
        except (OSError, paramiko.SSHException, EOFError):
            return
        finally:
            _shutdown(conn)  # wakes the upstream thread's recv
            up.join(timeout=5)

    @staticmethod
    def _upstream(conn: socket.socket, chan: paramiko.Channel) -> None:
        try:
            while True:
                data = conn.recv(_CHUNK)
                if not data:
                    break
                chan.sendall(data)
        except (OSError, paramiko.SSHException, EOFError):
            pass
        try:
            chan.shutdown_write()  # the local side is done sending: half-close toward the board
        except (OSError, paramiko.SSHException, EOFError):
            pass

    def close(self) -> None:
        """Stop listening, cut every forwarded connection, log out."""
        self._closed.set()
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            pairs, self._pairs = self._pairs, []
            session, self._session = self._session, None
        for conn, chan in pairs:
            _shutdown(conn)
            close_channel(chan)
        if session is not None and self._owns_session:
            session.close()
        self._thread.join(timeout=2)

    def __enter__(self) -> Tunnel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
