"""One phone through the `adb` program: argv lists only, every phone-side word quoted.

`adb shell` joins its arguments with spaces and hands the line to the phone's
`sh -c`, so each word of a phone command goes through `quote()`; nothing from a
request ever reaches a shell unquoted. adb's own refusals (unauthorized, offline,
not found) become PhoneError lines that name the phone and say what to do.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Sequence

from agent.errors import StateError

_SAFE = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")
_PROP = re.compile(r"^\[([^\]]+)\]: \[(.*)\]$")
CALL_TIMEOUT_S = 60.0
CONNECT_WAIT_S = 10.0


class PhoneError(StateError):
    """The phone cannot be used now (unauthorized, offline, gone, full, noexec); names the phone."""


class PhoneStopped(PhoneError):
    """A call was cut short because its run was cancelled or timed out."""


class PhoneDisconnected(PhoneError):
    """The phone went away mid-call (unplugged, Wi-Fi dropped)."""

    def __init__(self, serial: str) -> None:
        self.serial = serial
        super().__init__(f"device {serial} disconnected")


def quote(word: str) -> str:
    """One word for the phone's sh, POSIX single-quoted unless it is plainly safe."""
    if "\x00" in word:
        raise ValueError("a NUL byte cannot reach the phone's shell")
    if word and _SAFE.match(word):
        return word
    return "'" + word.replace("'", "'\"'\"'") + "'"


def command(words: Sequence[str]) -> str:
    """A phone command line from words, each quoted."""
    return " ".join(quote(w) for w in words)


def explain(serial: str, adb_message: str) -> PhoneError:
    """adb's complaint about a phone as one line saying what to do."""
    text = adb_message.strip().splitlines()[0] if adb_message.strip() else "adb failed without a message"
    low = adb_message.lower()
    if "unauthorized" in low or "failed to authenticate" in low:
        return PhoneError(
            f"phone {serial} is unauthorized: unlock it and accept the RSA key prompt for this computer "
            "(USB debugging), then retry"
        )
    if "offline" in low:
        return PhoneError(f"phone {serial} is offline: replug it (or `adb reconnect`) and retry")
    if "not found" in low or "no devices" in low or "cannot connect" in low or "failed to connect" in low:
        hint = f" (for adb over Wi-Fi: `adb connect {serial}`)" if ":" in serial else " (is it plugged in?)"
        return PhoneError(f"phone {serial} is not attached: adb does not list it{hint}")
    return PhoneError(f"phone {serial}: adb: {text}")


class Phone:
    """The adb program aimed at one serial."""

    def __init__(self, adb: str, serial: str) -> None:
        self.adb = adb
        self.serial = serial

    def argv(self, *args: str) -> list[str]:
        return [self.adb, "-s", self.serial, *args]

    def call(
        self, *args: str, timeout: float = CALL_TIMEOUT_S, interrupt: threading.Event | None = None
    ) -> tuple[int, bytes, bytes]:
        """Run adb against this phone; (exit code, stdout, stderr). Raises PhoneError when adb cannot run.

        A set `interrupt` ends the call early (PhoneStopped): a long push when the run is cancelled.
        """
        try:
            proc = subprocess.Popen(
                self.argv(*args),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                # the agent signals its runner's whole process group on cancel and timeout: that is for
                # agent.adb_run to act on, and a call cut short would read as "phone gone" mid-kill
                start_new_session=True,
            )
        except FileNotFoundError:
            raise PhoneError(f"phone {self.serial}: the adb program {self.adb} is not there") from None
        except OSError as err:  # not executable, a folder, a foreign binary
            raise PhoneError(f"phone {self.serial}: the adb program {self.adb} cannot run: {err.strerror}") from None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                out, said = proc.communicate(timeout=max(0.0, min(left, 0.1) if interrupt is not None else left))
                return proc.returncode, out, said
            except subprocess.TimeoutExpired:
                stopped = interrupt is not None and interrupt.is_set()
                if stopped or time.monotonic() >= deadline:
                    proc.kill()
                    proc.communicate()
                    if stopped:
                        raise PhoneStopped(f"phone {self.serial}: adb {args[0]} stopped: the run was stopped") from None
                    raise PhoneError(f"phone {self.serial}: adb {args[0]} did not answer in {timeout:g} s") from None

    def connect(self) -> None:
        """`adb connect host:port` for a Wi-Fi serial (USB serials need nothing)."""
        if ":" not in self.serial:
            return
        code, out, err = self.call("connect", self.serial, timeout=20)
        text = (out + err).decode("utf-8", "replace")
        if code != 0 or "connected to" not in text:
            raise explain(self.serial, text or "cannot connect")
        # a phone back after a drop may show `offline` until the server's handshake with it is done
        deadline = time.monotonic() + CONNECT_WAIT_S
        while self.state() == "offline" and time.monotonic() < deadline:
            time.sleep(0.2)

    def state(self) -> str:
        """'device' when usable, else adb's complaint ('unauthorized', 'offline', 'not found', ...)."""
        code, out, err = self.call("get-state", timeout=10)
        if code == 0:
            return out.decode("utf-8", "replace").strip()
        return (err or out).decode("utf-8", "replace").strip() or "not found"

    def require(self) -> None:
        """Raise the phone's PhoneError unless it is attached and authorized."""
        state = self.state()
        if state != "device":
            raise explain(self.serial, state)

    def shell(self, words: Sequence[str], timeout: float = CALL_TIMEOUT_S) -> tuple[int, bytes, bytes]:
        """Run one quoted command on the phone (shell v2: stdout, stderr and exit code kept apart)."""
        code, out, err = self.call("shell", command(words), timeout=timeout)
        if code != 0 and err.startswith((b"error:", b"adb: error")):
            raise explain(self.serial, err.decode("utf-8", "replace"))
        return code, out, err

    def shell_line(self, line: str, timeout: float = CALL_TIMEOUT_S) -> tuple[int, bytes, bytes]:
        """A command line already built from quoted words (with && between them)."""
        code, out, err = self.call("shell", line, timeout=timeout)
        if code != 0 and err.startswith((b"error:", b"adb: error")):
            raise explain(self.serial, err.decode("utf-8", "replace"))
        return code, out, err

    def getprops(self) -> dict[str, str]:
        _code, out, _err = self.shell(["getprop"])
        props = {}
        for line in out.decode("utf-8", "replace").splitlines():
            m = _PROP.match(line.strip())
            if m:
                props[m.group(1)] = m.group(2)
        return props

    def free_bytes(self, folder: str) -> int | None:
        """Free bytes of the file system holding folder (toybox `df -k`), None when unknown."""
        code, out, _err = self.shell(["df", "-k", folder])
        lines = out.decode("utf-8", "replace").strip().splitlines()
        if code != 0 or len(lines) < 2:
            return None
        fields = lines[-1].split()
        try:
            return int(fields[3]) * 1024
        except (IndexError, ValueError):
            return None

    def sha256s(self, paths: Sequence[str]) -> dict[str, str]:
        """path -> sha256 for those of paths that exist on the phone (toybox sha256sum)."""
        if not paths:
            return {}
        _code, out, _err = self.shell(["sha256sum", *paths])
        found = {}
        for line in out.decode("utf-8", "replace").splitlines():
            digest, _, name = line.partition("  ")
            if len(digest) == 64 and name in paths:
                found[name] = digest
        return found

    def push(
        self, local: Sequence[str], remote: str, timeout: float = 3600.0, interrupt: threading.Event | None = None
    ) -> None:
        """`adb push` files (several go into the folder `remote/`); a set `interrupt` cuts it short."""
        code, out, err = self.call("push", *local, remote, timeout=timeout, interrupt=interrupt)
        if code != 0:
            raise explain(self.serial, (err or out).decode("utf-8", "replace"))


@dataclass(frozen=True)
class PhoneFacts:
    """What a phone is (the agent's Facts.phone, `controller devices --adb`, run.json)."""

    serial: str
    model: str
    abi: str  # ro.product.cpu.abi
    android_version: str
    sdk: str
    soc: str  # ro.soc.model (Android 12+), else empty
    platform: str  # ro.board.platform
    workdir_free_bytes: int  # 0 when df could not say


def phone_facts(phone: Phone, workdir: str) -> PhoneFacts:
    """Ask the phone for its facts (getprop, df of the work folder's parent, which exists before the first run)."""
    phone.require()
    props = phone.getprops()
    free = phone.free_bytes(workdir.rsplit("/", 1)[0] or "/")
    return PhoneFacts(
        serial=phone.serial,
        model=props.get("ro.product.model", ""),
        abi=props.get("ro.product.cpu.abi", ""),
        android_version=props.get("ro.build.version.release", ""),
        sdk=props.get("ro.build.version.sdk", ""),
        soc=props.get("ro.soc.model", ""),
        platform=props.get("ro.board.platform", ""),
        workdir_free_bytes=free if free is not None else 0,
    )
