"""Vars matched across differently optimised graphs of one model.

``pair_runs(A, B)`` pairs every var of run B with the var of run A that holds
the same logical tensor (see :mod:`analysis.match.pairing` for the rules);
``same_graph`` says when pairing by var id is right (and free).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from analysis.dump_bin import DumpFolder, list_dump_folder, read_header
from analysis.errors import AnalysisError, PathLike
from analysis.match.nodes import MatchVar, RunVars
from analysis.match.pairing import Loader, Pairing

__all__ = ["Matching", "MatchVar", "RunVars", "pair_runs", "same_graph", "folder_loader", "MATCH_MODES"]

#: ``--match`` values: ``auto`` pairs by graph when the titles show different graphs.
MATCH_MODES = ("auto", "id", "graph")


@dataclass(frozen=True)
class Matching:
    """Which var of A each var of B was compared with, and the vars left without a partner.

    ``pairs`` are (var id in A, var id in B) in A's execution order; several B
    vars may pair with one A var (its relayout copies). ``unmatched_a`` /
    ``unmatched_b`` are (var id, reason); they are never errors.
    """

    kind: str  # "id" or "graph"
    pairs: Tuple[Tuple[int, int], ...]
    unmatched_a: Tuple[Tuple[int, str], ...] = ()
    unmatched_b: Tuple[Tuple[int, str], ...] = ()

    def to_dict(self) -> Dict[str, Any]:
        return {
            "matching": self.kind,
            "pairs": [[a, b] for a, b in self.pairs],
            "unmatched_a": [{"var_id": v, "reason": r} for v, r in self.unmatched_a],
            "unmatched_b": [{"var_id": v, "reason": r} for v, r in self.unmatched_b],
        }

    def partner_of_b(self) -> Dict[int, int]:
        return {b: a for a, b in self.pairs}


def same_graph(ra: RunVars, rb: RunVars) -> bool:
    """True when both runs dumped the same vars under the same ids, types, names and shapes."""
    return ra.signature() == rb.signature()


def pair_runs(ra: RunVars, rb: RunVars, loader: Optional[Loader] = None) -> Matching:
    """Pair B's vars with A's by graph (names, structure, passes; values break ties when ``loader`` is given)."""
    p = Pairing(ra, rb, loader)
    p.anchors()
    for _ in range(3):
        if not p.structure():
            break
    p.constants_by_value()
    p.stable_names()
    for _ in range(3):
        if not p.structure():
            break
    pairs, un_a, un_b = p.members()
    rank = {vid: i for i, vid in enumerate(ra.order)}
    pairs.sort(key=lambda ab: (rank[ab[0]], ab[1]))
    return Matching(
        kind="graph",
        pairs=tuple(pairs),
        unmatched_a=tuple(sorted(un_a.items())),
        unmatched_b=tuple(sorted(un_b.items())),
    )


def pair_by_id(ra: RunVars, rb: RunVars) -> Matching:
    """Pairs of equal var ids (what comparing identical graphs means)."""
    common = [vid for vid in ra.order if vid in rb.vars]
    return Matching(
        kind="id",
        pairs=tuple((v, v) for v in common),
        unmatched_a=tuple((v, "only in run A") for v in ra.order if v not in rb.vars),
        unmatched_b=tuple((v, "only in run B") for v in rb.order if v not in ra.vars),
    )


def folder_loader(folder_a: Union[PathLike, DumpFolder], folder_b: Union[PathLike, DumpFolder]) -> Loader:
    """Values of a var read from the run's dump folder (None when the file cannot be read)."""
    paths = {}
    for side, folder in (("a", folder_a), ("b", folder_b)):
        for entry in list_dump_folder(folder).outputs:
            paths[(side, entry.var_id)] = entry.path

    def load(side: str, vid: int) -> Optional[np.ndarray]:
        path: Optional[Path] = paths.get((side, vid))
        if path is None:
            return None
        try:
            return np.asarray(read_header(path).load(), dtype=np.float32)
        except (AnalysisError, ValueError, TypeError):
            return None

    return load
