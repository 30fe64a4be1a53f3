"""MegEngine's DTypeEnum codes (the ``dtype`` field of a binary dump header).

The header carries only the code: quantised types lose their scale and zero
point, so they are read as raw integers and flagged ``scale_known=False``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np

from analysis.errors import PathLike, UnknownDTypeError

#: MEGDNN_PARAMETERIZED_DTYPE_ENUM_BASE: first code of the quantised types.
PARAMETERIZED_BASE = 100000


@dataclass(frozen=True)
class DTypeInfo:
    """One DTypeEnum entry: how its elements are stored in a dump payload.

    ``storage`` is the numpy dtype of one stored unit: the element itself, or
    a byte holding several packed low-bit elements (``bits`` < 8).
    ``value`` is the numpy dtype ``DumpFile.load()`` returns.
    """

    code: int
    name: str
    storage: np.dtype
    bits: int
    quantized: bool
    scale_known: bool
    value: np.dtype
    signed_lowbit: bool = False

    @property
    def packed(self) -> bool:
        """True when several elements share one byte (1, 2 or 4 bits each)."""
        return self.bits < 8

    def payload_nbytes(self, n_elems: int) -> int:
        """Bytes MegEngine writes for ``n_elems`` elements: ceil(n * bits / 8)."""
        return (n_elems * self.bits + 7) // 8


def _info(
    code: int, name: str, storage: str, bits: int, value: Optional[str] = None, signed_lowbit: bool = False
) -> DTypeInfo:
    quantized = code >= PARAMETERIZED_BASE
    return DTypeInfo(
        code=code,
        name=name,
        storage=np.dtype(storage),
        bits=bits,
        quantized=quantized,
        scale_known=not quantized,
        value=np.dtype(value or storage),
        signed_lowbit=signed_lowbit,
    )


# Order and spelling follow megdnn's DTypeEnum (dtype.h). Low-bit IntB* are read
# as their raw unsigned bit fields, least significant first, like the 4-bit types
# (MegEngine's own bit order for IntB1/IntB2 is not documented).
_TABLE = (
    _info(0, "Float32", "<f4", 32),
    _info(1, "Uint8", "u1", 8),
    _info(2, "Int8", "i1", 8),
    _info(3, "Int16", "<i2", 16),
    _info(4, "Int32", "<i4", 32),
    _info(5, "IntB1", "u1", 1),
    _info(6, "IntB2", "u1", 2),
    _info(7, "IntB4", "u1", 4),
    _info(8, "Byte", "u1", 8),
    _info(9, "Float16", "<f2", 16),
    _info(10, "UintB4", "u1", 4),
    _info(11, "BFloat16", "<u2", 16, value="<f4"),
    _info(12, "Bool", "u1", 8, value="?"),
    _info(13, "Uint16", "<u2", 16),
    _info(14, "Complex64", "<c8", 64),
    _info(100000, "Quantized8Asymm", "u1", 8),
    _info(100001, "QuantizedS32", "<i4", 32),
    _info(100002, "QuantizedS8", "i1", 8),
    _info(100003, "Quantized4Asymm", "u1", 4),
    _info(100004, "QuantizedS4", "u1", 4, value="i1", signed_lowbit=True),
    _info(100005, "QuantizedS16", "<i2", 16),
    _info(100006, "QuantizedS1", "i1", 8),
)

DTYPES: Dict[int, DTypeInfo] = {info.code: info for info in _TABLE}
DTYPES_BY_NAME: Dict[str, DTypeInfo] = {info.name: info for info in _TABLE}


def dtype_by_code(code: int, *, path: Optional[PathLike] = None, offset: Optional[int] = None) -> DTypeInfo:
    """The DTypeInfo for a header's dtype code; UnknownDTypeError names path/offset if given."""
    try:
        return DTYPES[code]
    except (KeyError, TypeError):
        raise UnknownDTypeError(code, path, offset) from None


def dtype_by_name(name: str) -> Optional[DTypeInfo]:
    """The DTypeInfo for MegEngine's dtype spelling (``"Float32"``), or None if unknown."""
    return DTYPES_BY_NAME.get(name)
