"""End the process at once when MegEngine calls ``exit()`` from inside a forward.

A fatal kernel error in MegEngine's CPU worker thread (here the NCHW88 kernels'
"bad err=45 in Xbyak::Error") calls ``exit()`` in that thread. glibc then runs the
exit handlers there, and MegEngine's own (``CompNode::finalize``) waits for the
worker queue, which is that very thread: the process hangs until it is killed, and
a farm run waits out its whole timeout. A handler registered after the engine's
runs before it: it says what happened in one line and ends the process.

Once armed, lar-lite must leave through :func:`leave` (``os._exit``), never the C
exit handlers: ours would then call back into a finalized interpreter.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Optional

_EXIT_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p)
_handler: Optional[object] = None  # kept referenced: libc holds only the raw pointer
_context = ""


def _on_exit(status: int, _arg: Optional[int]) -> None:
    line = (
        f"lar-lite: error: MegEngine called exit({status}) inside the forward (a fatal engine error; its own "
        f"message precedes this line on stderr){_context}\n"
    )
    try:
        os.write(2, line.encode())
    finally:
        os._exit(status or 1)


def arm(context: str) -> None:
    """Register the handler (once); `context` names what was on, e.g. " with --enable-nchw88"."""
    global _handler, _context
    _context = context
    if _handler is not None:
        return
    libc = ctypes.CDLL(None)
    handler = _EXIT_HANDLER(_on_exit)
    if libc.on_exit(handler, None) != 0:
        return  # no room for a handler: the old behaviour, nothing worse
    _handler = handler


def armed() -> bool:
    return _handler is not None


def leave(code: int) -> None:
    """Flush Python's and C's buffers and end without running the C exit handlers."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    ctypes.CDLL(None).fflush(None)
    os._exit(code)
