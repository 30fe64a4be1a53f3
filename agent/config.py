"""The agent's config file (YAML when PyYAML is importable, else JSON) and its defaults."""

from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Optional, Set

from agent.adb_config import AdbSettings, parse_adb
from agent.errors import ConfigError
from agent.files import FileRefused, read_regular_file

log = logging.getLogger(__name__)

DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_QUOTA = 20 << 30
#: Largest size the config accepts (1 PiB): a bigger number is a typo, and stays a safe integer.
MAX_SIZE = 1 << 50
#: Runner types the agent knows; a runner's name doubles as its type when `type` is absent.
RUNNER_TYPES = ("load_and_run", "lite", "adb")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*$", re.IGNORECASE)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FLAG = re.compile(r"^--?[A-Za-z0-9][A-Za-z0-9_-]*(=.*)?$")


@dataclass(frozen=True)
class RunnerConfig:
    """One configured program: the only things the agent will ever execute."""

    name: str
    type: str
    path: Path
    args: tuple[str, ...] = ()  # fixed leading arguments from the config (e.g. a script)
    extra_flags_allow: tuple[str, ...] = ()
    env_allow: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # fixed variables set for every run
    version: Optional[str] = None
    adb: Optional[AdbSettings] = None  # type adb: the phone this runner drives (path is the adb program)


@dataclass(frozen=True)
class AgentConfig:
    """Everything `agent serve` needs; built from the config file plus command-line overrides."""

    listen: str = DEFAULT_LISTEN
    workspace: Path = Path("larfarm-agent-workspace")
    token: Optional[str] = field(default=None, repr=False)
    tls_cert: Optional[Path] = None
    tls_key: Optional[Path] = None
    tls_client_ca: Optional[Path] = None
    quota_bytes: int = DEFAULT_QUOTA
    max_blob_bytes: int = 8 << 30
    run_timeout_s: float = 600.0
    max_run_timeout_s: float = 6 * 3600.0
    keep_finished_s: float = 7 * 24 * 3600.0
    log_lines_max: int = 2000
    log_tail_bytes: int = 1 << 20
    fetch_chunk_bytes: int = 1 << 20
    max_queued_runs: int = 64
    #: Fetch, Follow and UploadBlob streams open at once, in all and per client (token or host);
    #: each holds a server thread, so one client must not be able to take them all.
    max_streams: int = 16
    max_streams_per_client: int = 4
    #: A stream whose peer takes (or sends) nothing for this long is ended, freeing its thread.
    stream_stall_s: float = 120.0
    port_file: Optional[Path] = None
    runners: tuple[RunnerConfig, ...] = ()

    def runner(self, name: str) -> Optional[RunnerConfig]:
        for r in self.runners:
            if r.name == name:
                return r
        return None


def parse_size(value: Any, where: str) -> int:
    """Bytes from an int or a string like '20G', '512 MiB'."""
    if isinstance(value, bool):
        raise ConfigError(where, "expected a size such as 20G or a number of bytes")
    if isinstance(value, int):
        if not 0 < value <= MAX_SIZE:
            raise ConfigError(where, f"size must be positive and at most 1 PiB, got {value}")
        return value
    if isinstance(value, str):
        m = _SIZE.match(value)
        if m:
            mult = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[m.group(2).upper()]
            number = float(m.group(1))
            if math.isfinite(number) and 0 < number * mult <= MAX_SIZE:
                return int(number * mult)
    raise ConfigError(where, f"expected a size such as 20G or a number of bytes, got {value!r}")


def _load_text(path: Path) -> dict:
    try:
        text = read_regular_file(path).decode("utf-8")
    except FileRefused as err:
        raise ConfigError(str(path), f"cannot read: {err}") from None
    except OSError as err:
        raise ConfigError(str(path), f"cannot read: {err.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), "cannot read: not UTF-8 text") from None
    yaml: Optional[ModuleType]
    try:
        import yaml  # optional on boards: JSON is valid YAML, so a JSON config works everywhere
    except ImportError:
        yaml = None
    if yaml is not None:
        try:
            data = _strict_yaml(yaml, text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            problem = getattr(err, "problem", None) or "not valid YAML"
            raise ConfigError(f"{path}{line}", problem) from None
        except RecursionError:  # thousands of nested brackets: PyYAML's composer recurses per level
            raise ConfigError(str(path), "not valid YAML: nested too deeply") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(
                f"{path}:{err.lineno}", f"{err.msg} (PyYAML is not installed, so the config must be JSON)"
            ) from None
        except RecursionError:
            raise ConfigError(str(path), "not valid JSON: nested too deeply") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), "the top level must be a mapping")
    return data


def _strict_yaml(yaml: Any, text: str) -> Any:
    """yaml.safe_load, refusing aliases (an alias bomb is a few lines) and keys written twice."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        todo = [node]
        visited: Set[int] = set()
        while todo:
            n = todo.pop()
            if id(n) in visited:  # the composer hands an alias back as its anchor's very node
                raise yaml.MarkedYAMLError(
                    problem="YAML aliases (*name) are not accepted here", problem_mark=n.start_mark
                )
            visited.add(id(n))
            if isinstance(n, yaml.MappingNode):
                seen: Dict[str, int] = {}
                for k, v in n.value:
                    if isinstance(k, yaml.ScalarNode):
                        if k.value in seen:
                            raise yaml.MarkedYAMLError(
                                problem=f"key {k.value!r} written twice (first on line {seen[k.value]})",
                                problem_mark=k.start_mark,
                            )
                        seen[k.value] = k.start_mark.line + 1
                    todo.extend((k, v))
            elif isinstance(n, yaml.SequenceNode):
                todo.extend(n.value)
        return loader.construct_document(node)
    finally:
        loader.dispose()


_TOP_KEYS = {
    "listen",
    "workspace",
    "token_file",
    "tls",
    "quota",
    "max_blob_size",
    "run_timeout_s",
    "max_run_timeout_s",
    "keep_finished_s",
    "log_lines_max",
    "log_tail_size",
    "fetch_chunk_size",
    "max_queued_runs",
    "max_streams",
    "max_streams_per_client",
    "stream_stall_s",
    "runners",
}
_RUNNER_KEYS = {"type", "path", "args", "extra_flags_allow", "env_allow", "env", "version", "adb"}


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(where, "expected a list of strings")
    return tuple(value)


def _positive(value: Any, where: str) -> float:
    # `not 0 < value < inf` also refuses NaN, which every comparison lets through
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ConfigError(where, f"expected a positive number (finite), got {value!r}")
    return float(value)


#: Whole-number keys and their upper bound (each one sizes a thread pool, a queue or a buffer).
_COUNTS = {"log_lines_max": 1_000_000, "max_queued_runs": 10_000, "max_streams": 1_000, "max_streams_per_client": 1_000}


def _count(value: Any, where: str, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise ConfigError(where, f"expected a whole number between 1 and {high}, got {value!r}")
    return value


def _path(value: Any, where: str, base: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(where, "expected a path")
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else base / p


def _runner(name: str, raw: Any, where: str) -> RunnerConfig:
    if not isinstance(raw, dict):
        raise ConfigError(where, "expected a mapping with at least `path`")
    unknown = set(raw) - _RUNNER_KEYS
    if unknown:
        raise ConfigError(f"{where}.{sorted(unknown)[0]}", f"unknown key (known: {', '.join(sorted(_RUNNER_KEYS))})")
    rtype = raw.get("type", name)
    if rtype not in RUNNER_TYPES:
        raise ConfigError(f"{where}.type", f"unknown runner type {rtype!r} (known: {', '.join(RUNNER_TYPES)})")
    path = raw.get("path")
    if not isinstance(path, str) or not os.path.isabs(path):
        # A runner's program comes from this file only, and only as an absolute path.
        raise ConfigError(f"{where}.path", "must be an absolute path to the program")
    flags = _str_list(raw.get("extra_flags_allow"), f"{where}.extra_flags_allow")
    for flag in flags:
        if not _FLAG.match(flag):
            raise ConfigError(f"{where}.extra_flags_allow", f"{flag!r} is not a --flag")
    env_allow = _str_list(raw.get("env_allow"), f"{where}.env_allow")
    for name_ in env_allow:
        if not _ENV_NAME.match(name_):
            raise ConfigError(f"{where}.env_allow", f"{name_!r} is not an environment variable name")
    env_raw = raw.get("env") or {}
    if not isinstance(env_raw, dict) or not all(
        isinstance(k, str) and _ENV_NAME.match(k) and isinstance(v, (str, int)) for k, v in env_raw.items()
    ):
        raise ConfigError(f"{where}.env", "expected a mapping of variable names to strings")
    version = raw.get("version")
    if version is not None and not isinstance(version, str):
        raise ConfigError(f"{where}.version", "expected a string")
    if (rtype == "adb") != ("adb" in raw):
        raise ConfigError(f"{where}.adb", "an adb runner needs `adb:` (the phone), and only an adb runner takes it")
    return RunnerConfig(
        name=name,
        type=rtype,
        path=Path(path),
        args=_str_list(raw.get("args"), f"{where}.args"),
        extra_flags_allow=flags,
        env_allow=env_allow,
        env=tuple((k, str(v)) for k, v in sorted(env_raw.items())),
        version=version,
        adb=parse_adb(raw["adb"], f"{where}.adb") if rtype == "adb" else None,
    )


def load_config(path: Optional[Path]) -> AgentConfig:
    """Read the config file (or defaults when path is None); relative paths are relative to it."""
    if path is None:
        return AgentConfig()
    data = _load_text(path)
    where = str(path)
    base = path.resolve().parent
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"{where}: {sorted(unknown)[0]}", f"unknown key (known: {', '.join(sorted(_TOP_KEYS))})")
    kw: dict[str, Any] = {}
    if "listen" in data:
        if not isinstance(data["listen"], str):
            raise ConfigError(f"{where}: listen", "expected HOST:PORT")
        kw["listen"] = data["listen"]
    if "workspace" in data:
        kw["workspace"] = _path(data["workspace"], f"{where}: workspace", base)
    if "token_file" in data:
        kw["token"] = read_token_file(_path(data["token_file"], f"{where}: token_file", base))
    tls = data.get("tls")
    if tls is not None:
        if not isinstance(tls, dict) or set(tls) - {"cert", "key", "client_ca"}:
            raise ConfigError(f"{where}: tls", "expected a mapping with cert, key and optional client_ca")
        for key in ("cert", "key", "client_ca"):
            if key in tls:
                kw[f"tls_{key}"] = _path(tls[key], f"{where}: tls.{key}", base)
    if "quota" in data:
        kw["quota_bytes"] = parse_size(data["quota"], f"{where}: quota")
    if "max_blob_size" in data:
        kw["max_blob_bytes"] = parse_size(data["max_blob_size"], f"{where}: max_blob_size")
    if "log_tail_size" in data:
        kw["log_tail_bytes"] = parse_size(data["log_tail_size"], f"{where}: log_tail_size")
    if "fetch_chunk_size" in data:
        n = parse_size(data["fetch_chunk_size"], f"{where}: fetch_chunk_size")
        if n > 8 << 20:
            raise ConfigError(f"{where}: fetch_chunk_size", "at most 8M")
        kw["fetch_chunk_bytes"] = n
    for key in ("run_timeout_s", "max_run_timeout_s", "keep_finished_s"):
        if key in data:
            kw[key] = _positive(data[key], f"{where}: {key}")
    if "stream_stall_s" in data:
        kw["stream_stall_s"] = _positive(data["stream_stall_s"], f"{where}: stream_stall_s")
    for key, high in _COUNTS.items():
        if key in data:
            kw[key] = _count(data[key], f"{where}: {key}", high)
    runners = data.get("runners") or {}
    if not isinstance(runners, dict):
        raise ConfigError(f"{where}: runners", "expected a mapping of runner name to settings")
    kw["runners"] = tuple(_runner(str(n), r, f"{where}: runners.{n}") for n, r in runners.items())
    return AgentConfig(**kw)


def read_token_file(path: Path) -> str:
    """The token is the file's first line; an empty file is an error, not 'no token'."""
    try:
        token = read_regular_file(path).decode("utf-8", errors="replace").strip().splitlines()
    except FileRefused as err:
        raise ConfigError(str(path), f"cannot read token file: {err}") from None
    except OSError as err:
        raise ConfigError(str(path), f"cannot read token file: {err.strerror}") from None
    if not token or not token[0].strip():
        raise ConfigError(str(path), "token file is empty")
    try:
        if path.stat().st_mode & 0o077:
            log.warning("token file %s is readable by other users: chmod 600 it", path)
    except OSError:
        pass
    return token[0].strip()
