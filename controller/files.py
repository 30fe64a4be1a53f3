"""Read the small files a user hands the controller (farm.yaml, campaign.yaml, report.json) safely.

A path may name a FIFO, a device such as /dev/zero or a file of many gigabytes; reading it the
plain way blocks for ever or fills memory until the kernel kills the controller. Here a path
must be a regular file (after symlinks) and at most `limit` bytes, else one clear error.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Union

from analysis.files import kind  # one table of file kinds, in words
from controller.errors import ControllerError

#: farm.yaml and campaign.yaml: a farm of thousands of devices stays far below this
CONFIG_LIMIT = 4 * 1024 * 1024
#: a token file: one line
TOKEN_LIMIT = 64 * 1024
#: report.json of a large campaign (every metric of every var of every check)
REPORT_LIMIT = 512 * 1024 * 1024


class FileRefused(ControllerError):
    """The path is not a regular file or is too large; str() says which and why (callers add the path)."""


def read_regular_file(path: Union[str, Path], limit: int) -> bytes:
    """The bytes of `path`, a regular file of at most `limit` bytes; OSError or FileRefused otherwise."""
    # O_NONBLOCK: opening a FIFO with no writer must not hang; it changes nothing for a regular file
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused(f"not a regular file ({kind(st.st_mode)})")
        if st.st_size > limit:
            raise FileRefused(f"too large ({st.st_size} bytes; the limit is {limit})")
        chunks = []
        left = limit + 1  # the file may grow while we read: never take more than the limit
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:
            raise FileRefused(f"too large (grew past the limit of {limit} bytes while read)")
        return data
    finally:
        os.close(fd)
