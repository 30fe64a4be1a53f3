"""Read the small files the agent is handed (its config, its token) safely: regular files of bounded size.

A FIFO would block the agent for ever and /dev/zero would fill its memory; both are refused
with one line naming the path. Python 3.8, standard library only (this runs on boards).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Union

from agent.errors import AgentError

#: agent.yaml and the token file: far above any real one
CONFIG_LIMIT = 1024 * 1024


class FileRefused(AgentError):
    """The path is not a regular file, or is larger than the limit; str() says which (callers add the path)."""


def read_regular_file(path: Union[str, Path], limit: int = CONFIG_LIMIT) -> bytes:
    """The bytes of `path`, a regular file of at most `limit` bytes; OSError or FileRefused otherwise."""
    # O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one
    fd = os.open(str(path), os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused("not a regular file")
        if st.st_size > limit:
            raise FileRefused(f"larger than {limit} bytes")
        data = b""
        while len(data) <= limit:
            chunk = os.read(fd, min(limit + 1 - len(data), 1 << 20))
            if not chunk:
                break
            data += chunk
        if len(data) > limit:
            raise FileRefused(f"larger than {limit} bytes")
        return data
    finally:
        os.close(fd)
