"""Settings of an `adb` runner: which phone, where its work folder and load_and_run live."""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import ConfigError

DEFAULT_WORKDIR = "/data/local/tmp/larfarm"
DEFAULT_PROGRAM = "/data/local/tmp/load_and_run"
#: adb serials: USB serial numbers, emulator-5554, host:port for adb over Wi-Fi.
_SERIAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\[\]-]{0,127}$")
_PHONE_PATH = re.compile(r"^/[A-Za-z0-9._/+-]*$")
_KEYS = {"serial", "workdir", "program", "program_local"}


@dataclass(frozen=True)
class AdbSettings:
    serial: str
    workdir: str = DEFAULT_WORKDIR
    program: str = DEFAULT_PROGRAM
    program_local: Path | None = None  # pushed to `program` once per sha256 when set


def _phone_path(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _PHONE_PATH.match(value) or ".." in value.split("/"):
        raise ConfigError(where, "expected an absolute phone path of letters, digits and . _ / + -")
    return posixpath.normpath(value)


def parse_adb(raw: Any, where: str) -> AdbSettings:
    """The `adb:` mapping of a runner; a wrong key or value names itself."""
    if not isinstance(raw, dict):
        raise ConfigError(where, "expected a mapping with serial, workdir, program, program_local")
    unknown = set(raw) - _KEYS
    if unknown:
        raise ConfigError(f"{where}.{min(unknown)}", f"unknown key (known: {', '.join(sorted(_KEYS))})")
    serial = raw.get("serial")
    if not isinstance(serial, str) or not _SERIAL.match(serial):
        raise ConfigError(f"{where}.serial", "expected the phone's serial as `adb devices` lists it (or host:port)")
    workdir = _phone_path(raw.get("workdir", DEFAULT_WORKDIR), f"{where}.workdir")
    if workdir == "/":
        raise ConfigError(f"{where}.workdir", "must be a folder below / (runs are removed from it)")
    program = _phone_path(raw.get("program", DEFAULT_PROGRAM), f"{where}.program")
    local = raw.get("program_local")
    if local is not None and (not isinstance(local, str) or not os.path.isabs(local)):
        raise ConfigError(f"{where}.program_local", "must be an absolute path to the phone's load_and_run")
    return AdbSettings(serial, workdir, program, Path(local) if local else None)
