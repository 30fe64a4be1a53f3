"""Manifest entries of a run's files: name, size, sha256 and, for binary dump files, the var id."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from agent.errors import UnsafePathError
from agent.paths import check_relname

#: `printf("%06zx")` of the var id (lower-case hex, at least 6 digits; size_t fits in 16), optionally
#: `-inp<K>` (MGB_DUMP_INPUT), as BinaryOprIODump names its files. The reference grammar of a dump
#: name: analysis.dump_names.parse_dump_name must read every name the same (tests/agent/test_manifest.py);
#: the agent cannot import analysis, so the two are kept equal by that test.
_DUMP_NAME = re.compile(r"([0-9a-f]{6,16})(?:-inp(0|[1-9][0-9]{0,19}))?")
BIN_DIR = "bin"


@dataclass(frozen=True)
class FileEntry:
    """One file of a run's manifest; the controller receives it as analysis.dump_names.DumpRecord."""

    name: str  # relative to the run's output folder, '/'-separated
    size: int
    sha256: str
    var_id: Optional[int] = None
    input_index: Optional[int] = None


def parse_dump_name(filename: str) -> Optional[tuple[int, Optional[int]]]:
    """(var id, input index) for a MegEngine binary dump file name (`00002a`, `00002a-inp1`), else None."""
    m = _DUMP_NAME.fullmatch(filename)  # fullmatch: `$` would also accept a trailing newline
    if m is None:
        return None
    digits = m.group(1)
    if len(digits) > 6 and digits[0] == "0":
        return None  # printf pads to 6 digits, never further
    inp = m.group(2)
    return int(digits, 16), (None if inp is None else int(inp))


def dump_ids(name: str) -> tuple[Optional[int], Optional[int]]:
    """(var id, input index) for `bin/<hex>[-inpK]`, else (None, None)."""
    head, _, base = name.rpartition("/")
    parsed = parse_dump_name(base) if head == BIN_DIR else None
    return (None, None) if parsed is None else parsed


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    # not a plain open(): a FIFO swapped in after the isfile() check would block the run's thread for ever
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    with open(fd, "rb", buffering=0) as f:
        while True:
            block = f.read(4 << 20)
            if not block:
                return h.hexdigest()
            h.update(block)


class Hasher:
    """Hashes files once: a result is reused while size, mtime and inode are unchanged."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[tuple[int, int, int], str]] = {}
        self._lock = threading.Lock()

    def entry(self, root: Path, name: str) -> Optional[FileEntry]:
        path = root / name
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        if not os.path.isfile(path) or os.path.islink(path):
            return None
        key = (st.st_size, st.st_mtime_ns, st.st_ino)
        with self._lock:
            hit = self._cache.get(name)
        if hit is not None and hit[0] == key:
            sha = hit[1]
        else:
            sha = sha256_of(path)
            with self._lock:
                self._cache[name] = (key, sha)
        var_id, inp = dump_ids(name)
        return FileEntry(name, st.st_size, sha, var_id, inp)


def list_files(root: Path) -> list[str]:
    """Relative names of regular files under root, sorted; symlinks and odd names are skipped."""
    names = []
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(dirpath, d))]
        rel_dir = os.path.relpath(dirpath, root)
        for f in files:
            full = os.path.join(dirpath, f)
            if os.path.islink(full) or not os.path.isfile(full):
                continue  # a symlink could point anywhere: never serve it
            rel = f if rel_dir == "." else f"{rel_dir}/{f}".replace(os.sep, "/")
            try:
                check_relname(rel)
            except UnsafePathError:
                continue
            names.append(rel)
    return sorted(names)


def build_manifest(root: Path, hasher: Hasher) -> list[FileEntry]:
    out = []
    for name in list_files(root):
        e = hasher.entry(root, name)
        if e is not None:
            out.append(e)
    return out
