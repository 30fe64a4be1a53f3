"""The phone's storage: a host folder standing in for '/', and which of it may execute programs."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path


class Storage:
    """Maps phone paths into `root`; programs run only under `exec_dirs` (elsewhere is mounted noexec)."""

    def __init__(self, root: Path, exec_dirs: tuple[str, ...] = ("/data/local/tmp",)) -> None:
        self.root = Path(root).resolve()
        self.exec_dirs = exec_dirs
        for folder in ("data/local/tmp", "sdcard", "system/bin"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)

    def phone_path(self, path: str, cwd: str = "/") -> str:
        """The normalised absolute phone path of `path` seen from `cwd`."""
        return posixpath.normpath(posixpath.join(cwd, path))

    def host(self, path: str, cwd: str = "/") -> Path:
        """Where a phone path lives on the host; never outside root (.. stops at '/', as on the phone)."""
        full = self.phone_path(path, cwd)
        host = self.root / full.lstrip("/")
        real = Path(os.path.realpath(host))
        if real != self.root and self.root not in real.parents:
            raise PermissionError(f"{path}: outside the phone")
        return host

    def executable(self, path: str, cwd: str = "/") -> bool:
        """Whether a program at `path` may run: under an exec dir (no noexec mount) and mode +x."""
        full = self.phone_path(path, cwd)
        if not any(full == d or full.startswith(d + "/") for d in self.exec_dirs):
            return False
        try:
            return bool(self.host(full).stat().st_mode & 0o100)
        except OSError:
            return False
