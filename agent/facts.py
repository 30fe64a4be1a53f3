"""Device facts: arch, OS, CPU model, cores, memory, free disk, runners and their versions."""

from __future__ import annotations

import os
import platform
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

from agent import __version__
from agent.adb import PhoneFacts
from agent.config import AgentConfig, RunnerConfig
from agent.manifest import sha256_of


@dataclass(frozen=True)
class RunnerFacts:
    name: str
    path: str
    version: str
    available: bool


@dataclass(frozen=True)
class DeviceFacts:
    agent_version: str
    hostname: str
    arch: str
    os: str
    os_release: str
    cpu_model: str
    cpu_cores: int
    mem_total_bytes: int
    mem_available_bytes: int
    disk_free_bytes: int
    python_version: str
    runners: tuple[RunnerFacts, ...]
    phone: Optional[PhoneFacts] = None  # set when the agent drives a phone over adb


def cpu_model() -> str:
    """The CPU's name from /proc/cpuinfo (x86 `model name`, ARM `Hardware`/`Processor`)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.processor() or "unknown"
    found: Dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Hardware", "Processor", "cpu model", "uarch") and value.strip():
            found.setdefault(key, value.strip())
    for key in ("model name", "Hardware", "Processor", "cpu model", "uarch"):
        if key in found:
            return found[key]
    return platform.processor() or "unknown"


def memory() -> tuple[int, int]:
    """(total, available) bytes from /proc/meminfo; (0, 0) where there is none."""
    values = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts:
                values[key] = int(parts[0]) * 1024
    except (OSError, ValueError):
        return 0, 0
    return values.get("MemTotal", 0), values.get("MemAvailable", values.get("MemFree", 0))


_version_cache: dict[tuple[str, int, int], str] = {}


def runner_version(cfg: RunnerConfig) -> RunnerFacts:
    """The configured version, else the program's sha256 prefix (never executes it)."""
    path = cfg.path
    available = path.is_file() and os.access(path, os.X_OK)
    version = cfg.version or ""
    if not version and available:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key not in _version_cache:
            _version_cache[key] = "sha256:" + sha256_of(path)[:12]
        version = _version_cache[key]
    return RunnerFacts(cfg.name, str(path), version, available)


def gather(config: AgentConfig) -> DeviceFacts:
    from agent.adb_runner import facts_of, phone_of  # an agent serving a phone describes the phone

    phone = phone_of(config)
    if phone is not None:
        return _phone_facts(config, facts_of(phone))
    total, avail = memory()
    try:
        disk_free = shutil.disk_usage(config.workspace).free
    except OSError:
        disk_free = 0
    return DeviceFacts(
        agent_version=__version__,
        hostname=socket.gethostname(),
        arch=platform.machine(),
        os=platform.system(),
        os_release=platform.release(),
        cpu_model=cpu_model(),
        cpu_cores=os.cpu_count() or 0,
        mem_total_bytes=total,
        mem_available_bytes=avail,
        disk_free_bytes=disk_free,
        python_version=platform.python_version(),
        runners=tuple(runner_version(r) for r in config.runners),
    )


def _phone_facts(config: AgentConfig, phone: PhoneFacts) -> DeviceFacts:
    """The phone's own facts, and the board fields as far as they apply (the target's ABI, OS, SoC, free space)."""
    return DeviceFacts(
        agent_version=__version__,
        hostname=socket.gethostname(),  # the PC the phone hangs off: where this agent runs
        arch=phone.abi,
        os="Android",
        os_release=phone.android_version,
        cpu_model=phone.soc or phone.platform,
        cpu_cores=0,  # not asked of the phone
        mem_total_bytes=0,
        mem_available_bytes=0,
        disk_free_bytes=phone.workdir_free_bytes,
        python_version=platform.python_version(),
        runners=tuple(runner_version(r) for r in config.runners),
        phone=phone,
    )
