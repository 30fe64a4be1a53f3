"""Where the controller keeps each SSH board's agent token, and writing it safely (0600)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Optional

from controller.files import TOKEN_LIMIT, FileRefused, read_regular_file
from controller.ssh.config import SshTarget
from controller.ssh.errors import NotDeployed

TOKEN_DIR = Path(".larfarm") / "tokens"


def new_token() -> str:
    """A fresh agent token (256 bits)."""
    return secrets.token_urlsafe(32)


def token_path(device: str, target: SshTarget, farm_dir: Path) -> Path:
    """`ssh.token_file` (relative to the farm file's folder), else `.larfarm/tokens/<device>.token` there."""
    if target.token_file:
        p = Path(os.path.expanduser(target.token_file))
        return p if p.is_absolute() else Path(farm_dir) / p
    return Path(farm_dir) / TOKEN_DIR / f"{device}.token"


def write_token(path: Path, token: str) -> None:
    """Atomically replace `path` with the token; the file is 0600 from its first byte."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode is masked by umask; the file may also pre-exist
        os.write(fd, (token + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_token(device: str, target: SshTarget, farm_dir: Path) -> str:
    """The token deploy stored for this board; NotDeployed when there is none."""
    path = token_path(device, target, farm_dir)
    try:
        token = read_regular_file(path, TOKEN_LIMIT).decode("utf-8", errors="replace").strip()
    except FileNotFoundError:
        token = ""
    except FileRefused as exc:
        raise NotDeployed(device, target.where, f"cannot read agent token {path}: {exc}") from None
    except OSError as exc:
        raise NotDeployed(device, target.where, f"cannot read agent token {path}: {exc.strerror}") from None
    if not token:
        raise NotDeployed(
            device,
            target.where,
            f"no agent token at {path}; run `controller deploy --devices <farm.yaml> --device {device}` first",
        )
    return token


def remove_token(device: str, target: SshTarget, farm_dir: Path) -> Optional[Path]:
    path = token_path(device, target, farm_dir)
    try:
        path.unlink()
        return path
    except FileNotFoundError:
        return None
