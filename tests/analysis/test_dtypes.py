"""The DTypeEnum table against MegEngine's codes and the names its titles print."""

from pathlib import Path

import numpy as np
import pytest

from analysis.dtypes import DTYPES, dtype_by_code, dtype_by_name
from analysis.dump_bin import read_header
from analysis.errors import AnalysisError, DumpFormatError, UnknownDTypeError

EXPECTED = {
    0: ("Float32", 32),
    1: ("Uint8", 8),
    2: ("Int8", 8),
    3: ("Int16", 16),
    4: ("Int32", 32),
    5: ("IntB1", 1),
    6: ("IntB2", 2),
    7: ("IntB4", 4),
    8: ("Byte", 8),
    9: ("Float16", 16),
    10: ("UintB4", 4),
    11: ("BFloat16", 16),
    12: ("Bool", 8),
    13: ("Uint16", 16),
    14: ("Complex64", 64),
    100000: ("Quantized8Asymm", 8),
    100001: ("QuantizedS32", 32),
    100002: ("QuantizedS8", 8),
    100003: ("Quantized4Asymm", 4),
    100004: ("QuantizedS4", 4),
    100005: ("QuantizedS16", 16),
    100006: ("QuantizedS1", 8),
}


def test_table_has_exactly_megengines_codes():
    assert set(DTYPES) == set(EXPECTED)
    for code, (name, bits) in EXPECTED.items():
        info = dtype_by_code(code)
        assert (info.code, info.name, info.bits) == (code, name, bits)
        assert dtype_by_name(name) is info


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_quantized_types_have_no_known_scale(code):
    info = dtype_by_code(code)
    assert info.quantized == (code >= 100000)
    assert info.scale_known == (code < 100000)


def test_storage_matches_upstream_reader_for_the_types_it_knows():
    # compare_binary_iodump's own map (formats spec §4.1).
    upstream = {
        0: np.float32,
        1: np.uint8,
        2: np.int8,
        3: np.int16,
        4: np.int32,
        9: np.float16,
        13: np.uint16,
        100000: np.uint8,
        100001: np.int32,
        100002: np.int8,
    }
    for code, dtype in upstream.items():
        assert dtype_by_code(code).storage == np.dtype(dtype)


def test_whole_byte_types_store_bits_per_element():
    for info in DTYPES.values():
        if not info.packed:
            assert info.storage.itemsize * 8 == info.bits, info.name


@pytest.mark.parametrize(
    "code,n,nbytes", [(7, 1, 1), (7, 3, 2), (100004, 4, 2), (5, 9, 2), (6, 5, 2), (0, 3, 12), (14, 2, 16)]
)
def test_payload_size_rounds_low_bit_types_up_to_bytes(code, n, nbytes):
    assert dtype_by_code(code).payload_nbytes(n) == nbytes


@pytest.mark.parametrize("code", [15, 99999, 100007, -1, 2**32 - 1])
def test_unknown_code_is_a_dump_format_error(code):
    with pytest.raises(UnknownDTypeError) as info:
        dtype_by_code(code, path="x/00000a", offset=4)
    err = info.value
    assert isinstance(err, DumpFormatError) and isinstance(err, AnalysisError)
    assert (err.code, err.offset, str(err.path)) == (code, 4, "x/00000a")
    assert str(err) == f"x/00000a: offset 4: unknown dtype code {code}"


def test_unknown_code_without_location_still_reads_well():
    assert str(UnknownDTypeError(77)) == "unknown dtype code 77"


def test_names_match_the_titles_megengine_wrote(megengine_fixtures: Path):
    seen = set()
    for path in sorted(megengine_fixtures.glob("runs/*/default/bin/*")):
        header = read_header(path)
        assert header.dtype.name == header.title_info().var.dtype, path
        seen.add(header.dtype.code)
    assert seen == {0, 4, 9}  # the fixture README's list
