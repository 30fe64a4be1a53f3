"""Import MegEngine Lite (``megenginelite``) from the cached runtime, with the Python 3.11 shims.

Two quirks of the 1.13.0 binding are patched here, before and after import:
numpy 2 moved ``np.ctypeslib._ctype_ndarray``, and the binding's ctype map lacks
LITE_HALF, so reading a float16 output tensor fails. ``MGB_USE_MEGDNN_DBG`` is
read by the library once, when its CPU handle is made, so the caller must set
the environment before calling :func:`load_lite`.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path
from types import ModuleType
from typing import Iterator, Optional

from agent.lar_lite import runtime
from agent.lar_lite.errors import EngineError

log = logging.getLogger(__name__)

_lite: Optional[ModuleType] = None


def _numpy_shim() -> None:
    """Give numpy 2 back the old private name that megenginelite calls."""
    import numpy.ctypeslib as npct

    if not hasattr(npct, "_ctype_ndarray"):
        from numpy.ctypeslib import _ctypeslib

        npct._ctype_ndarray = _ctypeslib._ctype_ndarray  # type: ignore[attr-defined]


def _half_shim(lite: ModuleType) -> None:
    """Map LITE_HALF to a 2-byte ctype so float16 tensors can be read.

    ``LiteTensor.update`` looks the dtype up in ``_lite_dtypes_to_ctype`` to
    build a ctypes array type; only the element size matters there, and the
    numpy dtype comes from ``_lite_type_to_nptypes``, which has float16.
    """
    tensor_mod = sys.modules.get("megenginelite.tensor")
    table = getattr(tensor_mod, "_lite_dtypes_to_ctype", None)
    half = lite.LiteDataType.LITE_HALF
    if isinstance(table, dict) and half not in table:
        table[half] = ctypes.c_uint16


def load_lite(home: Optional[Path] = None) -> ModuleType:
    """Import and return ``megenginelite`` from the runtime folder (once per process)."""
    global _lite
    if _lite is not None:
        return _lite
    home = runtime.require(home)
    _numpy_shim()
    if str(home) not in sys.path:
        sys.path.insert(0, str(home))
    try:
        with warnings.catch_warnings():
            # pkg_resources (used by the binding's environment check) warns
            # that it is deprecated; that is not the user's business.
            warnings.simplefilter("ignore")
            import megenginelite as lite
    except ImportError as exc:
        raise EngineError(f"cannot import megenginelite from {home}: {exc}") from exc
    except OSError as exc:
        raise EngineError(f"cannot load the MegEngine Lite library from {home}: {exc}") from exc
    _half_shim(lite)
    # The binding logs every engine error at ERROR level on the root logger
    # before raising it; lar-lite reports the raised error itself, once.
    logging.getLogger().addFilter(_DropBindingErrors())
    _lite = lite
    return lite


class _DropBindingErrors(logging.Filter):
    """Drop the duplicate copy of engine errors that megenginelite logs on the root logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "root" and "megenginelite" in (record.pathname or ""))


@contextlib.contextmanager
def without_backtraces() -> Iterator[None]:
    """Hold back the C++ backtraces MegEngine writes to stderr (fd 2) with each error it raises.

    lar-lite reports the raised error itself, in one line; MegEngine's other
    log lines (warnings, the ``[ERR]`` line) are written through once the call
    returns.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable stderr: nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            text = drop_backtraces(held.read().decode("utf-8", "replace"))
            if text:
                sys.stderr.write(text)
                sys.stderr.flush()


def drop_backtraces(text: str) -> str:
    """``text`` without MegEngine's ``backtrace:`` blocks (the header, its frames, the blank line before)."""
    out: list[str] = []
    skipping = False
    for line in text.splitlines(keepends=True):
        if line.strip() == "backtrace:":
            skipping = True
            while out and not out[-1].strip():
                out.pop()
            continue
        if skipping and not line.strip():
            skipping = False  # the blank line that ends the block
            continue
        if skipping and not line.startswith("["):
            continue
        skipping = False
        out.append(line)
    return "".join(out)
