"""Talk to a board through the stdlib-only helper script run by the board's Python."""

from __future__ import annotations

import json
import logging
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

import paramiko

from controller.ssh.client import SshSession
from controller.ssh.errors import BoardNotReady, RemoteCommandFailed
from controller.ssh.package import BOARD_PIP, parse_version

log = logging.getLogger(__name__)

MIN_PYTHON = (3, 8)
_HELPER = (Path(__file__).parent / "remote_helper.py").read_bytes


@dataclass(frozen=True)
class BoardFacts:
    """What deploy learned about the board before touching it."""

    python: str  # the command (as in farm.yaml)
    version: str  # e.g. "3.11.7"
    executable: str
    workdir: str  # absolute, '~' expanded on the board
    systemd_user: str  # "yes", or why a systemd --user unit cannot keep the agent running
    modules: Dict[str, str]  # importable module -> version


def helper(session: SshSession, cmd: str, args: Dict[str, Any], timeout: float = 60.0) -> Dict[str, Any]:
    """Run one helper command on the board and return its JSON answer."""
    python = session.target.python
    command = f"{shlex.quote(python)} - {cmd} {shlex.quote(json.dumps(args))}"
    rc, out, err = session.run(command, stdin=_HELPER(), timeout=timeout)
    if rc == 127 or (rc != 0 and "not found" in err and not out.strip()):
        raise BoardNotReady(
            session.device,
            session.where,
            f"python {python!r} not found on the board; install Python >= 3.8 or set `python:` under ssh: to its path",
        )
    if rc == 126:
        raise BoardNotReady(session.device, session.where, f"python {python!r} is not executable on the board")
    line = out.strip().splitlines()[-1] if out.strip() else ""
    try:
        answer = json.loads(line)
    except ValueError:
        last = (err.strip().splitlines() or ["no output"])[-1]
        raise RemoteCommandFailed(
            session.device, session.where, f"board helper {cmd!r} failed (exit {rc}): {last}"
        ) from None
    if rc != 0 or not isinstance(answer, dict):
        raise RemoteCommandFailed(session.device, session.where, f"board helper {cmd!r} failed (exit {rc}): {answer}")
    return answer


def probe(
    session: SshSession,
    modules: Sequence[str],
    pip_hint: str,
    check_systemd: bool,
    min_versions: Sequence[Tuple[str, Tuple[int, ...]]] = (),
) -> BoardFacts:
    """Check Python >= 3.8, the modules the agent needs, and the workdir; say exactly what is missing."""
    t = session.target
    info = helper(session, "probe", {"modules": list(modules), "workdir": t.workdir, "check_systemd": check_systemd})
    version = str(info.get("python", "?"))
    try:
        vt = tuple(int(x) for x in version.split(".")[:2])
    except ValueError:
        vt = (0, 0)
    if vt < MIN_PYTHON:
        raise BoardNotReady(
            session.device, session.where, f"{t.python} {version} is too old (need >= {MIN_PYTHON[0]}.{MIN_PYTHON[1]})"
        )
    errors: Dict[str, str] = info.get("errors", {})
    if errors:
        missing = sorted(errors)
        names = ", ".join(_pip_name(m) for m in missing)
        detail = "; ".join(f"{m}: {errors[m]}" for m in missing if "No module named" not in errors[m])
        raise BoardNotReady(
            session.device,
            session.where,
            f"{names} missing for {t.python} {version}: {pip_hint}" + (f" ({detail})" if detail else ""),
        )
    have: Dict[str, str] = info.get("modules", {})
    for mod, need in min_versions:
        got = have.get(mod)
        if got and got != "?" and parse_version(got) < need:
            want = ".".join(map(str, need))
            raise BoardNotReady(
                session.device,
                session.where,
                f"{_pip_name(mod)} {got} is older than the agent's generated stubs need (>= {want}): "
                f"pip install -U '{_pip_name(mod)}>={want}'",
            )
    if not info.get("workdir_ok"):
        raise BoardNotReady(
            session.device,
            session.where,
            f"workdir {info.get('workdir', t.workdir)} is not writable: "
            f"{info.get('workdir_error', 'permission denied')}",
        )
    return BoardFacts(
        t.python,
        version,
        str(info.get("executable", "")),
        str(info["workdir"]),
        str(info.get("systemd_user", "not checked")),
        dict(info.get("modules", {})),
    )


def _pip_name(module: str) -> str:
    return BOARD_PIP.get(module, module)


def port_free(session: SshSession, port: int) -> Optional[str]:
    """None when 127.0.0.1:<port> is free on the board, else the bind error."""
    ans = helper(session, "port", {"port": port})
    return None if ans.get("free") else str(ans.get("error", "in use"))


def put_file(session: SshSession, data: bytes, path: str, mode: int) -> None:
    """Write a board file atomically, `mode` set before any byte lands: over sftp,
    or through `cat` where the board's sshd has no sftp subsystem (dropbear)."""
    tmp = f"{path}.tmp"
    try:
        sftp = session.client.open_sftp()
    except (paramiko.SSHException, OSError, EOFError):
        sftp = None
    if sftp is not None:
        try:
            with sftp.open(tmp, "wb") as f:
                sftp.chmod(tmp, mode)
                f.write(data)
            sftp.posix_rename(tmp, path)
            return
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise RemoteCommandFailed(
                session.device, session.where, f"cannot write {path} on the board: {exc or type(exc).__name__}"
            ) from None
        finally:
            try:
                sftp.close()
            except (OSError, paramiko.SSHException, EOFError):
                pass  # the error that matters was raised above
    q, qt = shlex.quote(path), shlex.quote(tmp)
    rc, _, err = session.run(f"umask 077 && cat > {qt} && chmod {mode:o} {qt} && mv -f {qt} {q}", stdin=data)
    if rc != 0:
        raise RemoteCommandFailed(session.device, session.where, f"cannot write {path} on the board: {err.strip()}")
