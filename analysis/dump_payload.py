"""Encode and decode dump payloads whose numpy view is not the stored bytes.

Low-bit types pack several elements per byte (element 0 in the least
significant bits, like megdnn's 4-bit layout); bfloat16 is the upper half of
a float32. Everything else is stored as numpy stores it.
"""

from __future__ import annotations

from typing import Union

import numpy as np

from analysis.dtypes import DTypeInfo

Payload = Union[bytes, bytearray, memoryview, np.ndarray]


def unpack_lowbit(raw: bytes, info: DTypeInfo, n_elems: int) -> np.ndarray:
    """Unpack 1/2/4-bit elements into one byte each; signed types are sign-extended."""
    bits = info.bits
    per_byte = 8 // bits
    packed = np.frombuffer(raw, dtype=np.uint8)
    shifts = np.arange(per_byte, dtype=np.uint8) * bits
    mask = np.uint8((1 << bits) - 1)
    values = ((packed[:, None] >> shifts[None, :]) & mask).reshape(-1)[:n_elems]
    if info.signed_lowbit:
        signed = values.astype(np.int8)
        signed[signed >= (1 << (bits - 1))] -= np.int8(1 << bits)
        return signed
    return values.astype(info.value, copy=False)


def pack_lowbit(values: np.ndarray, info: DTypeInfo) -> bytes:
    """Inverse of unpack_lowbit; the padding bits of the last byte are zero."""
    bits = info.bits
    per_byte = 8 // bits
    flat = np.asarray(values).reshape(-1).astype(np.int64)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if info.signed_lowbit else (0, (1 << bits) - 1)
    if flat.size and (flat.min() < lo or flat.max() > hi):
        raise ValueError(f"{info.name} values must lie in [{lo}, {hi}], got [{flat.min()}, {flat.max()}]")
    flat = flat & ((1 << bits) - 1)
    pad = (-flat.size) % per_byte
    if pad:
        flat = np.concatenate([flat, np.zeros(pad, dtype=np.int64)])
    groups = flat.reshape(-1, per_byte).astype(np.uint8)
    shifts = np.arange(per_byte, dtype=np.uint8) * bits
    return np.bitwise_or.reduce(groups << shifts[None, :], axis=1).astype(np.uint8).tobytes()


def bfloat16_to_float32(stored: np.ndarray) -> np.ndarray:
    """Widen bfloat16 storage (uint16) to float32, exactly."""
    return (stored.astype(np.uint32) << 16).view(np.float32)


def float32_to_bfloat16(data: np.ndarray) -> np.ndarray:
    """Round float32 to bfloat16 storage (nearest, ties to even).

    Values that are already bfloat16 (low 16 bits zero) come through exactly,
    NaN payloads included, so widening and writing back is lossless; a NaN
    whose payload lies only in the dropped bits stays a (quiet) NaN.
    """
    bits = np.ascontiguousarray(data, dtype="<f4").reshape(-1).view(np.uint32)
    rounded = ((bits + np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1))) >> 16).astype(np.uint16)
    nan = np.isnan(bits.view(np.float32))
    high = (bits[nan] >> 16).astype(np.uint16)
    high[(high & 0x7F) == 0] |= np.uint16(0x40)
    rounded[nan] = high
    return rounded


def payload_bytes(data: Payload, info: DTypeInfo) -> bytes:
    """The stored bytes for ``data``: raw bytes as given, arrays encoded for ``info``.

    Arrays are what ``DumpFile.load()`` returns: unpacked low-bit values,
    float32 for bfloat16 (uint16 is taken as already stored), bool for Bool.
    """
    if not isinstance(data, np.ndarray):
        return bytes(data)
    if info.packed:
        return pack_lowbit(data, info)
    if info.name == "BFloat16" and data.dtype != np.uint16:
        return float32_to_bfloat16(data).tobytes()
    if info.name == "Bool":
        return np.ascontiguousarray(data, dtype=np.bool_).view(np.uint8).tobytes()
    return np.ascontiguousarray(data, dtype=info.storage).tobytes()
