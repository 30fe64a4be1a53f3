"""The agent's dump-name grammar is analysis's: the same (var id, input index) for every name.

The agent may not import analysis (it runs on boards with a bare Python), so it keeps
its own copy of the grammar in agent/manifest.py; these tests keep the two equal.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from agent.manifest import dump_ids, parse_dump_name
from analysis.dump_names import DumpRecord
from analysis.dump_names import parse_dump_name as analysis_parse

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _agree(base: str) -> None:
    assert parse_dump_name(base) == analysis_parse(base), base
    record = DumpRecord.of(f"bin/{base}", 0, "0" * 64)
    assert dump_ids(f"bin/{base}") == (record.var_id, record.input_index), base


def test_every_fixture_file_name_reads_the_same() -> None:
    names = {p.name for p in FIXTURES.rglob("*") if p.is_file()}
    dumps = {p.name for p in FIXTURES.rglob("*") if p.is_file() and p.parent.name == "bin"}
    assert len(dumps) >= 40  # distinct names of the real MegEngine 1.13 runs
    for name in sorted(names):
        _agree(name)
    assert all(parse_dump_name(n) is not None for n in dumps)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("00000e", (14, None)),
        ("00002a-inp1", (42, 1)),
        ("00002a-inp0", (42, 0)),
        ("1000000", (0x1000000, None)),  # more than 6 digits, no padding
        ("ffffffffffffffff", (2**64 - 1, None)),  # size_t's largest
        ("0000001", None),  # printf never pads past 6 digits
        ("00000E", None),  # %zx is lower-case
        ("00001", None),  # fewer than 6 digits
        ("000001-inp01", None),  # %d never has a leading zero
        ("000001-inp", None),
        ("10000000000000000", None),  # 17 digits: no size_t
        ("000001\n", None),  # a regex `$` would accept it
        ("000001-inp\u0661", None),  # an Arabic-Indic digit: `\d` would accept it
        ("run0-var1", None),  # --bin-out-dump names are another family
    ],
)
def test_grammar_cases(name: str, expected) -> None:
    assert parse_dump_name(name) == expected
    _agree(name)


def test_only_files_directly_under_bin_are_dumps() -> None:
    assert dump_ids("io.txt") == (None, None)
    assert dump_ids("00000e") == (None, None)
    assert dump_ids("bin/sub/00000e") == (None, None)
    assert dump_ids("bin/xyz") == (None, None)


_HEX = "0123456789abcdefABCDEF"
_inp = st.one_of(
    st.none(),
    st.integers(0, 10**22).map(str),
    st.integers(0, 999).map(lambda k: f"0{k}"),  # leading zero
    st.text("0123456789\u0661\u0967", max_size=4),
)


@st.composite
def dump_like(draw) -> str:
    """Names near the grammar: hex of any case and length, zero padding, -inp suffixes, junk."""
    digits = draw(st.one_of(st.text(_HEX, min_size=0, max_size=20), st.integers(0, 2**70).map(lambda v: f"{v:06x}")))
    pad = draw(st.integers(0, 4))
    name = "0" * pad + digits
    inp = draw(_inp)
    if inp is not None:
        name += draw(st.sampled_from(["-inp", "-INP", "inp", "-inp-"])) + inp
    return draw(st.sampled_from(["", " ", "-", "\n", "x", ".tmp"])) + name if draw(st.booleans()) else name


@settings(max_examples=2000, deadline=None)
@given(st.one_of(dump_like(), st.text(max_size=24)))
@example("000000")
@example("000000-inp0")
def test_random_names_read_the_same(name: str) -> None:
    _agree(name)


def test_a_run_record_reloaded_after_an_upgrade_reads_var_ids_with_this_grammar(tmp_path: Path) -> None:
    """An older agent gave `0000001` var id 1; the record it left is read with today's grammar."""
    from agent import events as ev
    from agent import records
    from agent.manifest import FileEntry

    entries = (FileEntry("bin/000001", 4, "a" * 64, 1), FileEntry("bin/0000001", 4, "b" * 64, 1))
    fin = ev.FinishedRecord(state=ev.SUCCEEDED, manifest=entries)
    records.save(tmp_path, records.StoredRun("r1", "", "lite", 1.0, fin))
    back = records.load(tmp_path).record.manifest
    assert [(e.name, e.var_id) for e in back] == [("bin/000001", 1), ("bin/0000001", None)]
