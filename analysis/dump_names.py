"""File names of MegEngine binary dumps: ``%06x`` var ids, ``-inpK`` inputs, ``run<N>-var<ID>``.

Kept apart so a folder can be indexed (and names checked) without the reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Tuple

# printf("%06zx"): lower-case hex, at least 6 digits; size_t fits in 16.
_DUMP_NAME = re.compile(r"([0-9a-f]{6,16})(?:-inp(0|[1-9][0-9]{0,19}))?")


def parse_dump_name(filename: str) -> Optional[Tuple[int, Optional[int]]]:
    """``(var_id, input_index)`` for a MegEngine dump file name, else None.

    Names are ``%06zx`` of the var id (lower-case hex, at least 6 digits) and,
    for MGB_DUMP_INPUT files, ``-inp<K>`` with K the input index.
    """
    match = _DUMP_NAME.fullmatch(filename)
    if match is None:
        return None
    digits = match.group(1)
    if len(digits) > 6 and digits[0] == "0":
        return None  # printf never pads past 6 digits
    inp = match.group(2)
    return int(digits, 16), (None if inp is None else int(inp))


_OUT_DUMP_NAME = re.compile(r"run(0|[1-9][0-9]{0,19})-var(0|[1-9][0-9]{0,19})")


def parse_out_dump_name(filename: str) -> Optional[Tuple[int, int]]:
    """``(run, var_id)`` for a ``--bin-out-dump`` file name ``run<N>-var<ID>``, else None.

    Those files (graph outputs per execution) share the binary layout, but
    their ids describe vars from before load_and_run re-creates the inputs,
    so they do not match ``--bin-io-dump`` ids (formats spec §1.9).
    """
    match = _OUT_DUMP_NAME.fullmatch(filename)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


def dump_name(var_id: int, input_index: Optional[int] = None) -> str:
    """The file name MegEngine gives a var's dump (inverse of parse_dump_name)."""
    if var_id < 0:
        raise ValueError(f"var id must be >= 0, got {var_id}")
    return f"{var_id:06x}" + ("" if input_index is None else f"-inp{input_index}")


#: Sub-folder of a run's output folder that holds the ``--bin-io-dump`` files.
BIN_DIR = "bin"


@dataclass(frozen=True)
class DumpRecord:
    """One file a run wrote, as its manifest lists it: the one description from agent to report.

    ``name`` is relative to the run's output folder and '/'-separated
    (``bin/00002a``, ``bin/00002a-inp0``, ``io.txt``); ``var_id`` and
    ``input_index`` are set for binary dump files under ``bin/`` only, as the
    agent parsed them (and as :func:`parse_dump_name` reads them).
    """

    name: str
    size: int
    sha256: str
    var_id: Optional[int] = None
    input_index: Optional[int] = None

    @property
    def is_bin_dump(self) -> bool:
        """A ``--bin-io-dump`` file (an opr output, or an ``-inpK`` input dump)."""
        return self.var_id is not None

    @property
    def basename(self) -> str:
        return self.name.rpartition("/")[2]

    @classmethod
    def of(cls, name: str, size: int, sha256: str) -> DumpRecord:
        """A record whose var id and input index are read from ``name`` with the dump-name grammar."""
        head, _, base = name.rpartition("/")
        parsed = parse_dump_name(base) if head == BIN_DIR else None
        if parsed is None:
            return cls(name, size, sha256)
        return cls(name, size, sha256, parsed[0], parsed[1])
