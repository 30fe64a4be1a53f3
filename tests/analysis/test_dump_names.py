"""Dump file names: %06x var ids, -inpK input dumps, --bin-out-dump run<N>-var<ID>."""

import pytest

from analysis import dump_bin
from analysis.dump_names import dump_name, parse_dump_name, parse_out_dump_name


@pytest.mark.parametrize(
    "name,expected",
    [
        ("00000e", (14, None)),
        ("00016e", (366, None)),
        ("00002a-inp0", (42, 0)),
        ("00002a-inp12", (42, 12)),
        ("1000000", (0x1000000, None)),
        ("abcdef", (0xABCDEF, None)),
        ("00000E", None),
        ("0000e", None),
        ("00000e-inp", None),
        ("00000e-inp01", None),
        ("0000000e", None),
        ("00000e.txt", None),
        ("run0-var14", None),
        (".00000e.tmp", None),
        ("00000e-inp-1", None),
    ],
)
def test_parse_dump_name(name, expected):
    assert parse_dump_name(name) == expected


@pytest.mark.parametrize(
    "name,expected",
    [
        ("run0-var14", (0, 14)),
        ("run10-var366", (10, 366)),
        ("run01-var1", None),
        ("run1-var", None),
        ("00000e", None),
        ("run1-var0x1", None),
    ],
)
def test_parse_out_dump_name(name, expected):
    assert parse_out_dump_name(name) == expected


def test_dump_name_is_the_inverse():
    for var_id, inp in [(0, None), (14, None), (0xFFFFFF, 3), (0x1000000, None)]:
        assert parse_dump_name(dump_name(var_id, inp)) == (var_id, inp)
    assert dump_name(14) == "00000e" and dump_name(42, 1) == "00002a-inp1"
    with pytest.raises(ValueError, match="var id must be >= 0"):
        dump_name(-1)


def test_every_fixture_file_name_is_a_dump_name(megengine_fixtures):
    for path in megengine_fixtures.glob("runs/*/*/bin/*"):
        var_id, inp = parse_dump_name(path.name)
        assert inp is None and dump_name(var_id) == path.name


def test_dump_bin_still_exports_the_name_helpers():
    assert dump_bin.parse_dump_name is parse_dump_name and dump_bin.dump_name is dump_name
    assert dump_bin.parse_out_dump_name is parse_out_dump_name
