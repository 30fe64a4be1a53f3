"""Phones on this PC through the `adb` program: farm.yaml's `adb:` block, `adb connect`, and listing phones.

The controller never drives a run on a phone itself: a local agent with an adb
runner does (agent/adb_runner.py). Here live only what comes before that: which
adb, connecting Wi-Fi serials, and the facts `controller devices --adb` shows.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator

from controller.errors import DeviceUnreachable

_SERIAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\[\]-]{0,127}$")
_PHONE_PATH = re.compile(r"^/[A-Za-z0-9._/+-]*$")
_PROP = re.compile(r"^\[([^\]]+)\]: \[(.*)\]$")
TIMEOUT_S = 30.0


class AdbTarget(BaseModel):
    """farm.yaml `adb:` of a phone: its serial (host:port for Wi-Fi adb) and where things live on it."""

    model_config = ConfigDict(extra="forbid")

    serial: str
    adb: str | None = None  # the adb program; default: `adb` on PATH
    workdir: str = "/data/local/tmp/larfarm"
    program: str = "/data/local/tmp/load_and_run"
    program_local: str | None = None  # the phone's load_and_run on this PC, pushed once per sha256

    @field_validator("serial")
    @classmethod
    def _serial_ok(cls, value: str) -> str:
        if not _SERIAL.match(value):
            raise ValueError("expected the serial `adb devices` lists, or host:port for adb over Wi-Fi")
        return value

    @field_validator("workdir", "program")
    @classmethod
    def _phone_path_ok(cls, value: str) -> str:
        if not _PHONE_PATH.match(value) or ".." in value.split("/") or value.rstrip("/") == "":
            raise ValueError("expected an absolute phone path below / (letters, digits, . _ / + -)")
        return value.rstrip("/")


def adb_program(target: AdbTarget | None, base: Path = Path(".")) -> Path:
    """The adb program to use: the farm's, else the one on PATH."""
    if target is not None and target.adb:
        path = Path(target.adb).expanduser()
        path = path if path.is_absolute() else (base / path).resolve()
        # checked here: a local agent would run a non-executable runner path as a Python script
        if path.exists() and not (path.is_file() and os.access(path, os.X_OK)):
            raise DeviceUnreachable("adb", "local", f"the adb program {path} cannot run: not an executable file")
        return path
    found = shutil.which("adb")
    if found is None:
        raise DeviceUnreachable("adb", "local", "the adb program is not installed (apt-get install adb)")
    return Path(found)


def _adb(program: Path, *args: str, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [str(program), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise DeviceUnreachable("adb", "local", f"the adb program {program} is not there") from None
    except OSError as err:  # not executable, a folder, a foreign binary
        raise DeviceUnreachable("adb", "local", f"the adb program {program} cannot run: {err.strerror}") from None
    except subprocess.TimeoutExpired:
        raise DeviceUnreachable("adb", "local", f"adb {args[0]} did not answer in {timeout:g} s") from None


def connect(name: str, program: Path, serial: str) -> None:
    """`adb connect` a Wi-Fi serial (host:port) so the phone's agent finds it; USB serials need nothing."""
    if ":" not in serial:
        return
    proc = _adb(program, "connect", serial)
    text = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip()
    if proc.returncode != 0 or "connected to" not in text:
        if "authenticate" in text:
            text = "unauthorized: accept the RSA key prompt on the phone, then retry"
        raise DeviceUnreachable(name, f"adb:{serial}", text or "adb connect failed")


@dataclass(frozen=True)
class PhoneInfo:
    """One line of `controller devices --adb`."""

    serial: str
    state: str  # device, unauthorized, offline, ...
    problem: str = ""
    # the rest as the agent's Facts.phone names them (agent.proto's PhoneFacts)
    model: str = ""
    abi: str = ""
    android_version: str = ""
    sdk: str = ""
    soc: str = ""  # ro.soc.model (Android 12+)
    platform: str = ""  # ro.board.platform
    workdir_free_bytes: int | None = None  # free bytes under /data/local/tmp; None when unknown


def _props(program: Path, serial: str) -> dict[str, str]:
    proc = _adb(program, "-s", serial, "shell", "getprop")
    props = {}
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        m = _PROP.match(line.strip())
        if m:
            props[m.group(1)] = m.group(2)
    return props


def _free(program: Path, serial: str, folder: str) -> int | None:
    proc = _adb(program, "-s", serial, "shell", f"df -k {folder}")
    lines = proc.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        return int(lines[-1].split()[3]) * 1024 if proc.returncode == 0 and len(lines) > 1 else None
    except (IndexError, ValueError):
        return None


_PROBLEMS = {
    "unauthorized": "accept the RSA key prompt on the phone (USB debugging)",
    "offline": "replug the phone or run `adb reconnect`",
    "no permissions": "this user may not open the USB device: add a udev rule for it",
}


def list_phones(program: Path, folder: str = "/data/local/tmp") -> list[PhoneInfo]:
    """Every phone `adb devices` lists, with facts for those that are usable."""
    proc = _adb(program, "devices")
    if proc.returncode != 0:
        raise DeviceUnreachable("adb", "local", proc.stderr.decode("utf-8", "replace").strip() or "adb devices failed")
    phones = []
    for line in proc.stdout.decode("utf-8", "replace").splitlines()[1:]:
        serial, _, state = line.partition("\t")
        if not serial.strip() or not state:
            continue
        state = state.strip()
        if state != "device":
            problem = next((hint for key, hint in _PROBLEMS.items() if state.startswith(key)), state)
            phones.append(PhoneInfo(serial, state, problem=problem))
            continue
        p = _props(program, serial)
        phones.append(
            PhoneInfo(
                serial,
                state,
                model=p.get("ro.product.model", ""),
                abi=p.get("ro.product.cpu.abi", ""),
                android_version=p.get("ro.build.version.release", ""),
                sdk=p.get("ro.build.version.sdk", ""),
                soc=p.get("ro.soc.model", ""),
                platform=p.get("ro.board.platform", ""),
                workdir_free_bytes=_free(program, serial, folder),
            )
        )
    return phones


def agent_runner(target: AdbTarget, program: Path, base: Path) -> dict[str, object]:
    """The `adb:` settings of the local agent's runner for this phone."""
    settings: dict[str, object] = {"serial": target.serial, "workdir": target.workdir, "program": target.program}
    if target.program_local:
        local = Path(target.program_local).expanduser()
        settings["program_local"] = str(local if local.is_absolute() else (base / local).resolve())
    return {"adb": settings}
