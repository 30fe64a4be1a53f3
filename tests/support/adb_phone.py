"""A stand-in Android phone the real `adb` client connects to (`adb connect 127.0.0.1:PORT`).

It speaks adbd's side of the protocol (tests.support.adbd), keeps its storage in a
host folder, advertises what a real phone does, and can be unplugged, plugged back
or set to refuse authorization. Its `load_and_run` is lar-lite, so dumps are real.

Fixtures: ``adb`` (the adb program on a private server port, killed at teardown)
and ``phones`` (a factory of started phones, stopped at teardown).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path
from typing import Callable, Iterator, Sequence

import pytest

from tests.support.adbd.storage import Storage
from tests.support.adbd.sync import serve_sync
from tests.support.adbd.toysh import Pids, Shell
from tests.support.adbd.wire import Stream, Transport
from tests.support.lite import lar_lite_command

FEATURES = (
    "shell_v2,cmd,stat_v2,ls_v2,fixed_push_mkdir,apex,abb,fixed_push_symlink_timestamp,abb_exec,"
    "remount_shell,track_app,sendrecv_v2,sendrecv_v2_dry_run_send,openscreen_mdns,push_sync"
)
SHELL_EXIT = 3
WORKDIR = "/data/local/tmp"


class Phone:
    """One stand-in phone listening on 127.0.0.1; its serial for adb is `127.0.0.1:PORT`."""

    def __init__(
        self,
        root: Path,
        model: str = "Pixel 7",
        authorized: bool = True,
        free_bytes: int | None = None,
        programs: dict[str, Sequence[str]] | None = None,
    ) -> None:
        self.storage = Storage(root)
        self.model = model
        self.authorized = authorized
        self.free = free_bytes
        self.programs = dict(programs) if programs is not None else {"load_and_run": lar_lite_command()}
        self.props = {
            "ro.product.model": model,
            "ro.product.name": model.lower().replace(" ", "_"),
            "ro.product.device": model.lower().replace(" ", ""),
            "ro.product.manufacturer": "Google",
            "ro.product.cpu.abi": "arm64-v8a",
            "ro.product.cpu.abilist": "arm64-v8a,armeabi-v7a,armeabi",
            "ro.build.version.release": "13",
            "ro.build.version.sdk": "33",
            "ro.board.platform": "taro",
            "ro.soc.model": "SM8450",
            "ro.soc.manufacturer": "Qualcomm",
        }
        self.pids = Pids()
        self.plugged = True
        self.opened: list[str] = []  # every service the host opened, in order (for protocol tests)
        self._transports: list[Transport] = []
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.port = self._sock.getsockname()[1]
        self._closing = False
        threading.Thread(target=self._accept, name=f"phone-{self.port}", daemon=True).start()

    @property
    def serial(self) -> str:
        return f"127.0.0.1:{self.port}"

    def banner(self) -> bytes:
        p = self.props
        return (
            f"device::ro.product.name={p['ro.product.name']};ro.product.model={p['ro.product.model']};"
            f"ro.product.device={p['ro.product.device']};features={FEATURES}"
        ).encode()

    def path(self, phone_path: str) -> Path:
        """Where a phone path lives in the host folder."""
        return self.storage.host(phone_path)

    # --- cable

    def unplug(self) -> None:
        """Drop every connection and refuse new ones until plug(); programs keep running, as on a phone."""
        with self._lock:
            self.plugged = False
            transports, self._transports = self._transports, []
        for t in transports:
            t.close()

    def plug(self) -> None:
        with self._lock:
            self.plugged = True

    def stop(self) -> None:
        self._closing = True
        self.unplug()
        self._sock.close()
        self.pids.kill_all()

    def _accept(self) -> None:
        while not self._closing:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                if not self.plugged:
                    conn.close()
                    continue
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                t = Transport(conn, self.banner(), self._resolve, self.authorized)
                self._transports.append(t)
            threading.Thread(target=t.serve, daemon=True).start()

    # --- services

    def _resolve(self, service: str) -> Callable[[Stream], None] | None:
        self.opened.append(service)
        head, colon, command = service.partition(":")
        if not colon:
            return None
        kind, *opts = head.split(",")
        if kind == "sync":
            return lambda s: serve_sync(s, self.storage)
        if kind == "shell":
            return lambda s: self._shell(s, command, "v2" in opts)
        if kind == "exec":
            return lambda s: self._shell(s, command, False)
        return None

    def _free(self) -> int:
        return self.free if self.free is not None else shutil.disk_usage(self.storage.root).free

    def _shell(self, stream: Stream, command: str, v2: bool) -> None:
        """Run command; v2 frames stdout(1)/stderr(2)/exit(3) packets, else stdout and stderr go raw and mixed."""
        shell = Shell(self.storage, self.pids, self.props, self.programs, self._free, dict(os.environ))
        lock = threading.Lock()

        def packet(kind: int) -> Callable[[bytes], None]:
            def write(data: bytes) -> None:
                with lock:
                    stream.send(bytes([kind]) + len(data).to_bytes(4, "little") + data if v2 else data)

            return write

        if not command.strip():
            packet(2)(b"this phone has no interactive shell\n")
            code = 1
        else:
            code = shell.run(command, packet(1), packet(2))
        if v2:
            with lock:
                stream.send(bytes([SHELL_EXIT]) + (1).to_bytes(4, "little") + bytes([code & 0xFF]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Adb:
    """The real adb client on a private server port (ANDROID_ADB_SERVER_PORT is set for child processes too)."""

    def __init__(self, program: str, port: int) -> None:
        self.program = program
        self.port = port

    def env(self) -> dict[str, str]:
        return {**os.environ, "ANDROID_ADB_SERVER_PORT": str(self.port)}

    def __call__(self, *args: str, timeout: float = 60, check: bool = True, **kw) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [self.program, "-P", str(self.port), *args],
            capture_output=True,
            env=self.env(),
            timeout=timeout,
            check=False,
            **kw,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"adb {' '.join(args)} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}"
            )
        return proc

    def connect(self, phone: Phone, timeout: float = 20) -> None:
        """`adb connect` and wait until the phone is in state `device`."""
        self("connect", phone.serial)
        self("-s", phone.serial, "wait-for-device", timeout=timeout)


@pytest.fixture
def adb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Adb]:
    """The adb program with its own server (skips when adb is not installed, fails in CI)."""
    program = shutil.which("adb")
    if program is None:
        if os.environ.get("CI"):
            pytest.fail("adb is not installed (apt-get install adb)")
        pytest.skip("adb is not installed (apt-get install adb)")
    port = free_port()
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(port))
    client = Adb(program, port)
    client("start-server", timeout=30)
    try:
        yield client
    finally:
        client("kill-server", check=False, timeout=30)


@pytest.fixture
def phones(tmp_path: Path) -> Iterator[Callable[..., Phone]]:
    """Factory: phones(model=..., authorized=..., free_bytes=...) starts a stand-in phone."""
    made: list[Phone] = []

    def make(**kw) -> Phone:
        phone = Phone(tmp_path / f"phone{len(made)}", **kw)
        made.append(phone)
        return phone

    yield make
    for phone in made:
        phone.stop()
