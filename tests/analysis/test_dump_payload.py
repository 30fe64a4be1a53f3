"""Payload codecs: low-bit packing and bfloat16, independent of files."""

import numpy as np
import pytest

from analysis.dtypes import dtype_by_code
from analysis.dump_payload import bfloat16_to_float32, float32_to_bfloat16, pack_lowbit, payload_bytes, unpack_lowbit

LOWBIT = {5: (0, 1), 6: (0, 3), 7: (0, 15), 10: (0, 15), 100003: (0, 15), 100004: (-8, 7)}


@pytest.mark.parametrize("code", sorted(LOWBIT))
@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 9, 17])
def test_lowbit_round_trip_every_value(code, n):
    info = dtype_by_code(code)
    lo, hi = LOWBIT[code]
    values = (np.arange(n) % (hi - lo + 1) + lo).astype(info.value)
    raw = pack_lowbit(values, info)
    assert len(raw) == info.payload_nbytes(n)
    np.testing.assert_array_equal(unpack_lowbit(raw, info, n), values)


@pytest.mark.parametrize("code,bad", [(100004, 8), (100004, -9), (100003, 16), (100003, -1), (5, 2)])
def test_lowbit_values_out_of_range_are_refused(code, bad):
    with pytest.raises(ValueError, match="values must lie in"):
        pack_lowbit(np.array([0, bad]), dtype_by_code(code))


def test_two_bit_order():
    info = dtype_by_code(6)
    assert pack_lowbit(np.array([1, 2, 3, 0, 2], np.uint8), info) == bytes([0b00111001, 0b10])


def test_bfloat16_rounding_and_specials():
    values = np.array([1.0, -0.0, np.inf, -np.inf, 3.0e38, 1.00390625, 1.01171875], np.float32)
    stored = float32_to_bfloat16(values)
    back = bfloat16_to_float32(stored)
    assert back[:4].tolist() == [1.0, -0.0, np.inf, -np.inf]
    assert np.signbit(back[1])
    assert back[5] == 1.0 and back[6] == 1.015625  # ties to even: 0x3F80 stays, 0x3F81 rounds up to 0x3F82
    assert np.isfinite(back[4])


def test_bfloat16_nan_payloads_survive_and_low_only_payloads_stay_nan():
    stored = np.array([0x7FC1, 0xFF81, 0x7F80], np.uint16)
    np.testing.assert_array_equal(float32_to_bfloat16(bfloat16_to_float32(stored)), stored)
    nan_low_bits = np.array([0x7F800001], np.uint32).view(np.float32)  # NaN only in the dropped bits
    out = float32_to_bfloat16(nan_low_bits)
    assert np.isnan(bfloat16_to_float32(out)[0])


def test_payload_bytes_passes_raw_bytes_through_and_encodes_arrays():
    info = dtype_by_code(0)
    assert payload_bytes(b"\x01\x02", info) == b"\x01\x02"
    assert payload_bytes(memoryview(b"ab"), info) == b"ab"
    assert payload_bytes(np.array([1.5], np.float64), info) == np.float32(1.5).tobytes()
    assert payload_bytes(np.array([True, False]), dtype_by_code(12)) == b"\x01\x00"
    assert payload_bytes(np.array([0x3F80], np.uint16), dtype_by_code(11)) == b"\x80\x3f"
