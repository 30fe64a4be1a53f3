"""Workspace confinement: names and paths from requests are checked here, never trusted."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from agent.errors import NotFoundError, UnsafePathError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME_PART = re.compile(r"^[A-Za-z0-9._+-][A-Za-z0-9._+@=-]*$")
#: Longest relative name accepted from a request.
MAX_NAME = 255


def is_sha256(text: str) -> bool:
    """True for a lowercase hex sha256 digest."""
    return bool(_SHA256.match(text))


def check_sha256(text: str, what: str) -> str:
    """Return text if it is a lowercase hex sha256, else raise UnsafePathError."""
    if not is_sha256(text):
        raise UnsafePathError(f"{what}: {text[:80]!r} is not a lowercase hex sha256")
    return text


def check_relname(name: str, what: str = "name") -> str:
    """Validate a relative file name such as `bin/00000e` (no traversal, absolute, NUL, odd chars)."""
    if not name:
        raise UnsafePathError(f"{what}: empty name")
    if len(name) > MAX_NAME:
        raise UnsafePathError(f"{what}: name longer than {MAX_NAME} characters")
    if "\x00" in name:
        raise UnsafePathError(f"{what}: name contains NUL")
    if name.startswith("/") or "\\" in name:
        raise UnsafePathError(f"{what}: {name!r} is absolute or uses backslashes")
    for part in name.split("/"):
        if part in ("", ".", ".."):
            raise UnsafePathError(f"{what}: {name!r} has an empty, '.' or '..' component")
        if not _NAME_PART.match(part):
            raise UnsafePathError(f"{what}: {name!r} has characters outside [A-Za-z0-9._+@=-]")
    return name


def confine(root: Path, name: str, what: str = "name") -> Path:
    """Join a checked relative name to root; refuse it if it resolves (symlinks too) outside root."""
    check_relname(name, what)
    real_root = Path(os.path.realpath(root))
    target = Path(os.path.realpath(real_root / name))
    if target != real_root and real_root not in target.parents:
        raise UnsafePathError(f"{what}: {name!r} leads outside the workspace")
    return target


def open_confined(root: Path, name: str, what: str = "name"):
    """Open a regular file under root for reading, refusing symlinks and escapes."""
    path = confine(root, name, what)
    try:
        # O_NONBLOCK: a FIFO put in a file's place must be refused below, not block this thread in open()
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise NotFoundError(f"{what}: {name!r} does not exist") from None
    except OSError as err:
        raise UnsafePathError(f"{what}: cannot open {name!r}: {err.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePathError(f"{what}: {name!r} is not a regular file")
    return os.fdopen(fd, "rb", buffering=0)
