"""Open the files analysis reads (dumps, text dumps, saved diffs) only when they are regular files.

A FIFO given as a dump file, as ``--txt-a`` or as the diff of ``accuracy_shake_var_tree``
blocked every tool in open() for ever (and Ctrl-C could not stop a worker thread stuck
there); a device such as /dev/zero reads until memory runs out. So the file is opened
without blocking, checked with fstat (no race with a swap after a stat), and refused with
an OSError whose strerror says what it is: every caller already turns OSError into its one
line naming the file.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import IO, Any, Union

PathLike = Union[str, "os.PathLike[str]"]


class NotRegularFileError(OSError):
    """The path names a FIFO, a device or a socket, not a regular file."""


def open_regular(path: PathLike, mode: str = "rb", **kw: Any) -> IO:
    """``open(path, mode, **kw)`` for reading, refusing anything but a regular file (after symlinks).

    A folder raises IsADirectoryError, a FIFO, device or socket NotRegularFileError; a
    symlink loop raises OSError with errno ELOOP, as open() does.
    """
    if any(c in mode for c in "wax+"):
        raise ValueError(f"open_regular reads only, not mode {mode!r}")
    # O_NONBLOCK: opening a FIFO with no writer must not hang; it changes nothing for a regular file
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, "a symlink loop (too many levels of symbolic links)", str(path)) from None
        raise
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFileError(errno.EINVAL, f"not a regular file ({kind(st.st_mode)})", str(path))
        return os.fdopen(fd, mode, **kw)
    except BaseException:
        os.close(fd)
        raise


def kind(mode: int) -> str:
    """What a file mode names, in words."""
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symlink"),
    ):
        if test(mode):
            return name
    return "not a regular file"
