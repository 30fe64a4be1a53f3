"""Watch a run's output folder and report each binary dump file once it is complete.

MegEngine writes each dump file with one fwrite, one file after another, so a
file is complete as soon as a newer one appears, and every file is complete
once the process has ended.
"""

from __future__ import annotations

import os
from pathlib import Path

from agent.manifest import BIN_DIR, FileEntry, Hasher


class DumpWatcher:
    def __init__(self, out_dir: Path, hasher: Hasher) -> None:
        self.out_dir = out_dir
        self.hasher = hasher
        self.reported: dict[str, FileEntry] = {}

    def poll(self, final: bool = False) -> tuple[list[FileEntry], int]:
        """(newly complete bin dump files, bytes now in the output folder)."""
        files: list[tuple[int, str]] = []
        total = 0
        bin_dir = self.out_dir / BIN_DIR
        try:
            with os.scandir(bin_dir) as it:
                for e in it:
                    if e.is_file(follow_symlinks=False):
                        st = e.stat(follow_symlinks=False)
                        total += st.st_size
                        files.append((st.st_mtime_ns, e.name))
        except FileNotFoundError:
            pass
        with os.scandir(self.out_dir) as it:
            for e in it:
                if e.is_file(follow_symlinks=False):
                    total += e.stat(follow_symlinks=False).st_size
        files.sort()
        ready = files if final else files[:-1]  # the newest may still be being written
        new = []
        for _mtime, name in ready:
            rel = f"{BIN_DIR}/{name}"
            if rel in self.reported:
                continue
            entry = self.hasher.entry(self.out_dir, rel)
            if entry is not None:
                self.reported[rel] = entry
                new.append(entry)
        return new, total
