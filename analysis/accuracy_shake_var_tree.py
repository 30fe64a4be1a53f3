"""Drop-in for MegEngine's ``accuracy_shake_var_tree``, with its bugs fixed.

``python -m analysis.accuracy_shake_var_tree DIFF`` reads what
``compare_binary_iodump`` printed and shows the roots of the differing
subgraph in MegEngine's form (``varnode root:``, then per root its key
``id:N``, ``detail info:`` and the record). The Python API keeps MegEngine's
names: ``parse(path)`` returns the root dict, ``varNode.get_varNode("id:3")``,
``.get_dependence_list()``, ``.get_reference_list()``, ``.show_src_info()``
and ``get_dependence(string, src_info)``.

What differs from MegEngine 1.13, on purpose:

* A root is a differing var none of whose inputs differ, whatever the order
  of the records: MegEngine raises TypeError when a consumer's record comes
  before its producer's (records reversed, two diffs concatenated).
* A differing var with no inputs (an input, a constant) is a root; MegEngine
  never reports it, and reports its consumers instead.
* ``not finite`` and ``shape mismatch`` records count as differing vars, like
  ``not equal`` ones (MegEngine ignores them).
* ``inpK:`` records (MGB_DUMP_INPUT files) are skipped: they repeat an input
  var's value as seen after its consumer ran.
* A var recorded twice keeps its first record; roots are printed in the order
  they first became roots, which for MegEngine's own sorted output is its
  order.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from analysis.files import open_regular

PROG = "accuracy_shake_var_tree"

_MESSAGES = (" not equal: ", " not finite: ", " shape mismatch: ")
_TITLE_START = re.compile(r"(inp\d+: )?var=\{id:")
_ID = re.compile(r"\{id:(\d+),")
_INPUTS = "owner_opr_inputs="


class varNode:  # noqa: N801 - MegEngine's name, kept for drop-in use
    """A var of the differing subgraph, keyed ``"id:<n>"`` like MegEngine.

    ``src_info`` is the var's record (title A, title B, message line);
    ``vitrual`` (MegEngine's spelling) is True for vars that only appear as
    someone's input and have no record of their own.
    """

    id: str
    dependence_list: List[varNode]
    reference_list: List[varNode]
    src_info: str
    vitrual: bool
    is_root: bool
    var_node_dict: Dict[str, varNode] = {}
    var_node_root_dict: Dict[str, varNode] = {}

    def __new__(cls, id: str, dependence_list: Sequence[str] = (), src_info: str = "") -> varNode:
        node = cls.var_node_dict.get(id)
        if node is None:
            node = super().__new__(cls)
            node.id = id
            node.dependence_list = []
            node.reference_list = []
            node.src_info = ""
            node.vitrual = True
            node.is_root = False
            cls.var_node_dict[id] = node
        return node

    def __init__(self, id: str, dependence_list: Sequence[str] = (), src_info: str = "") -> None:
        """Record var ``id`` as differing, with its inputs (MegEngine's constructor does this)."""
        first_record = self.vitrual
        self.vitrual = False
        if first_record:
            self.src_info = src_info
        for dep_id in dependence_list:
            dep = varNode._node(dep_id)
            if dep not in self.dependence_list:
                self.dependence_list.append(dep)
                dep.reference_list.append(self)
        roots = varNode.var_node_root_dict
        self.is_root = not any(not d.vitrual for d in self.dependence_list)
        if self.is_root:
            roots.setdefault(self.id, self)
        else:
            roots.pop(self.id, None)
        # Consumers recorded earlier are no longer roots: this var explains them.
        for user in self.reference_list:
            if not user.vitrual and user.is_root:
                user.is_root = False
                roots.pop(user.id, None)

    @classmethod
    def _node(cls, id: str) -> varNode:
        """The node for ``id``, created as a placeholder (not recorded) if new."""
        node = cls.var_node_dict.get(id)
        return node if node is not None else cls.__new__(cls, id)

    @staticmethod
    def get_varNode(id: str) -> varNode:
        """The node keyed ``id`` (e.g. ``"id:3"``); KeyError if the diff never named it."""
        return varNode.var_node_dict[id]

    def get_dependence_list(self) -> List[varNode]:
        return self.dependence_list

    def get_reference_list(self) -> List[varNode]:
        return self.reference_list

    def show_src_info(self) -> None:
        print(self.src_info)

    def __repr__(self) -> str:
        return f"varNode({self.id!r}, root={self.is_root})"

    @classmethod
    def clear(cls) -> None:
        cls.var_node_dict.clear()
        cls.var_node_root_dict.clear()


def title_ids(title: str) -> Tuple[Optional[int], List[int]]:
    """(var id, input ids) from a title, also one rejoined without spaces.

    The var's id is the first ``{id:N,``; the inputs are every ``{id:N,`` after
    ``owner_opr_inputs=`` (robust to the wrapping: no space sits inside them).
    """
    m = _ID.search(title)
    if m is None:
        return None, []
    cut = title.find(_INPUTS, m.end())
    inputs = [int(x) for x in _ID.findall(title, cut)] if cut >= 0 else []
    return int(m.group(1)), inputs


def get_dependence(string: str, src_info: str) -> Optional[varNode]:
    """Record the var a title describes as differing, with its inputs (MegEngine's API)."""
    var, inputs = title_ids(string)
    if var is None:
        return None
    return varNode(f"id:{var}", [f"id:{i}" for i in inputs], src_info)


def split_records(lines: Iterable[str]) -> List[Tuple[str, str, str]]:
    """(title A, title B, message line) per record of a compare_binary_iodump output.

    Titles are rejoined like MegEngine does (stripped lines, no separator), so
    the record prints back exactly as MegEngine prints it; the message line
    keeps its newline.
    """
    records: List[Tuple[str, str, str]] = []
    blocks: List[str] = []
    in_title = False
    for line in lines:
        if line.startswith(_MESSAGES):
            if len(blocks) >= 2:
                records.append((blocks[-2], blocks[-1], line))
            blocks, in_title = [], False
        elif _TITLE_START.match(line):
            blocks.append(line.strip())
            in_title = True
        elif in_title and line.startswith("  "):
            blocks[-1] += line.strip()
        else:
            in_title = False  # a path line, or anything else between records
    return records


def parse(filename: str) -> Dict[str, varNode]:
    """Build the tree of differing vars from a compare output; returns the roots by key."""
    varNode.clear()
    with open_regular(filename, "r", encoding="utf-8", errors="replace") as f:
        records = split_records(f)  # line by line: a diff of many gigabytes is never held whole
    for title0, title1, message in records:
        if title0.startswith("inp"):
            continue
        get_dependence(title0, title0 + "\n" + title1 + "\n" + message)
    return varNode.var_node_root_dict


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m analysis.{PROG}",
        description="Show the root vars of the differing subgraph in a saved compare_binary_iodump output.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("filename", help="file which save the outputs of compare_binary_iodump")
    args = parser.parse_args(argv)
    try:
        roots = parse(args.filename)
    except OSError as exc:
        print(f"{PROG}: error: {args.filename}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    try:
        print("varnode root:")
        for key, value in roots.items():
            print(key)
            print("detail info:")
            value.show_src_info()
        sys.stdout.flush()
    except BrokenPipeError:  # piped into `head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError as exc:  # a full disk: one line, and no second failure at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print(f"{PROG}: error: cannot write to stdout: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
