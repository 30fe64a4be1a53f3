"""adb transport messages and streams, device side (AOSP adb/protocol.txt).

A message is a 24-byte little-endian header (command, arg0, arg1, data length,
data checksum, magic = command ^ 0xffffffff) and its payload. After CNXN (or AUTH)
the host OPENs streams by service name; each WRTE is answered by OKAY before the
next one is sent on that stream (adb's flow control), CLSE ends a stream.
"""

from __future__ import annotations

import os
import queue
import socket
import struct
import threading
from typing import Callable, Optional

A_SYNC = 0x434E5953
A_CNXN = 0x4E584E43
A_AUTH = 0x48545541
A_OPEN = 0x4E45504F
A_OKAY = 0x59414B4F
A_CLSE = 0x45534C43
A_WRTE = 0x45545257
A_STLS = 0x534C5453
A_VERSION = 0x01000001  # the version that may skip the checksum
MAX_PAYLOAD = 1024 * 1024
AUTH_TOKEN, AUTH_SIGNATURE, AUTH_RSAPUBLICKEY = 1, 2, 3
HEADER = struct.Struct("<6I")


class Disconnected(Exception):
    """The transport is gone (unplugged, or the host closed it)."""


def pack(command: int, arg0: int, arg1: int, data: bytes = b"") -> bytes:
    # Past the handshake both sides speak A_VERSION, which skips the checksum: adbd sends 0 there too.
    check = sum(data) & 0xFFFFFFFF if command in (A_CNXN, A_AUTH) else 0
    return HEADER.pack(command, arg0, arg1, len(data), check, command ^ 0xFFFFFFFF) + data


def _read_exact(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        try:
            chunk = sock.recv(min(n, 1 << 20))
        except OSError:
            chunk = b""
        if not chunk:
            raise Disconnected()
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_message(sock: socket.socket) -> tuple[int, int, int, bytes]:
    command, arg0, arg1, length, _check, magic = HEADER.unpack(_read_exact(sock, HEADER.size))
    if magic != command ^ 0xFFFFFFFF:
        raise Disconnected()  # adbd drops a transport that sends garbage
    return command, arg0, arg1, _read_exact(sock, length) if length else b""


class Stream:
    """One open service stream: recv() what the host wrote, send() with WRTE/OKAY flow control."""

    def __init__(self, transport: Transport, local_id: int, remote_id: int) -> None:
        self.transport = transport
        self.local_id = local_id
        self.remote_id = remote_id
        self._incoming: queue.Queue[bytes | None] = queue.Queue()
        self._buffer = b""
        self._acked = threading.Event()
        self._acked.set()
        self.closed = threading.Event()

    # called by the transport's reader
    def _deliver(self, data: bytes | None) -> None:
        self._incoming.put(data)

    def _ack(self) -> None:
        self._acked.set()

    def _close_from_host(self) -> None:
        self.closed.set()
        self._acked.set()
        self._incoming.put(None)

    # used by services
    def recv(self) -> bytes:
        """Next bytes the host wrote; b'' once the stream or transport closed."""
        if self._buffer:
            data, self._buffer = self._buffer, b""
            return data
        data = self._incoming.get()
        if data is None:
            self._incoming.put(None)  # later calls see the end too
            return b""
        return data

    def recv_exact(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            data = self.recv()
            if not data:
                raise Disconnected()
            out += data
        self._buffer = out[n:] + self._buffer
        return out[:n]

    def send(self, data: bytes) -> None:
        """Write to the host, at most max_payload per WRTE, waiting for each OKAY."""
        view = memoryview(data)
        step = self.transport.max_payload
        for start in range(0, len(view), step):
            self._acked.wait()
            if self.closed.is_set():
                raise Disconnected()
            self._acked.clear()
            self.transport.write(A_WRTE, self.local_id, self.remote_id, bytes(view[start : start + step]))

    def close(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            self._acked.wait(5)
            try:
                self.transport.write(A_CLSE, self.local_id, self.remote_id)
            except Disconnected:
                pass
        self.transport.forget(self.local_id)


#: Given a service name, the function serving its stream, or None for an unknown service.
Resolver = Callable[[str], Optional[Callable[[Stream], None]]]


class Transport:
    """One host connection: handshake (optionally refusing auth), then streams, each served in a thread."""

    def __init__(self, sock: socket.socket, banner: bytes, resolve: Resolver, authorized: bool) -> None:
        self.sock = sock
        self.banner = banner
        self.resolve = resolve
        self.authorized = authorized
        self.max_payload = 4096
        self._send_lock = threading.Lock()
        self._streams: dict[int, Stream] = {}
        self._next_id = 1
        self._lock = threading.Lock()
        self.gone = threading.Event()

    def write(self, command: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        try:
            with self._send_lock:
                self.sock.sendall(pack(command, arg0, arg1, data))
        except OSError:
            raise Disconnected() from None

    def forget(self, local_id: int) -> None:
        with self._lock:
            self._streams.pop(local_id, None)

    def close(self) -> None:
        """Pull the cable: the host sees the connection drop, every stream ends."""
        self.gone.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self._lock:
            streams, self._streams = list(self._streams.values()), {}
        for s in streams:
            s._close_from_host()

    def serve(self) -> None:
        """Read messages until the connection ends."""
        try:
            self._loop()
        except Disconnected:
            pass
        finally:
            self.close()

    def _loop(self) -> None:
        online = False
        while True:
            command, arg0, arg1, data = read_message(self.sock)
            if command == A_CNXN:
                self.max_payload = max(4096, min(arg1, MAX_PAYLOAD))
                if self.authorized:
                    self.write(A_CNXN, A_VERSION, MAX_PAYLOAD, self.banner)
                    online = True
                else:  # ask for a signature no key will satisfy: the host shows "unauthorized"
                    self.write(A_AUTH, AUTH_TOKEN, 0, os.urandom(20))
            elif command == A_AUTH:
                if arg0 == AUTH_SIGNATURE:
                    self.write(A_AUTH, AUTH_TOKEN, 0, os.urandom(20))
                # AUTH_RSAPUBLICKEY: a phone now shows its RSA prompt; nobody accepts it here
            elif not online:
                continue
            elif command == A_OPEN:
                self._open(arg0, data.rstrip(b"\x00").decode("utf-8", "replace"))
            elif command == A_WRTE:
                stream = self._streams.get(arg1)
                if stream is not None:
                    stream._deliver(data)
                    self.write(A_OKAY, arg1, arg0)
            elif command == A_OKAY:
                stream = self._streams.get(arg1)
                if stream is not None:
                    stream._ack()
            elif command == A_CLSE:
                with self._lock:
                    stream = self._streams.pop(arg1, None)
                if stream is not None:
                    stream._close_from_host()

    def _open(self, remote_id: int, service: str) -> None:
        serve = self.resolve(service)
        if serve is None:  # adbd refuses an unknown service with a bare CLSE
            self.write(A_CLSE, 0, remote_id)
            return
        with self._lock:
            local_id = self._next_id
            self._next_id += 1
            stream = Stream(self, local_id, remote_id)
            self._streams[local_id] = stream
        self.write(A_OKAY, local_id, remote_id)

        def run() -> None:
            try:
                serve(stream)
            except Disconnected:
                pass
            finally:
                stream.close()

        threading.Thread(target=run, name=f"adbd-{service[:20]}", daemon=True).start()
