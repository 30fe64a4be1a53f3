"""Root cause over the var graph: roots, first var, amplification, dependencies.

The graph is given as ``inputs_of``: var id -> the ids of its owner opr's
inputs, in order (from the text dump's graph or from the binary titles). Every
function here depends only on sets and that mapping, never on the order the
vars were recorded in, so two runs of the same comparison agree.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set

InputsOf = Mapping[int, Sequence[int]]


def find_roots(differing: Iterable[int], inputs_of: InputsOf) -> List[int]:
    """Differing vars none of whose inputs differ, sorted by var id.

    A differing var with no inputs (an input or a constant), or whose inputs
    were not dumped, is a root: nothing upstream can explain its error.
    """
    bad: Set[int] = set(differing)
    return sorted(v for v in bad if not any(i in bad for i in inputs_of.get(v, ())))


def first_var(differing: Iterable[int]) -> Optional[int]:
    """The smallest differing var id (MegEngine's guide: its opr is the culprit), or None."""
    return min(differing, default=None)


def amplification(errors: Mapping[int, float], inputs_of: InputsOf) -> Dict[int, Optional[float]]:
    """Per var: its error divided by the largest error among its inputs.

    Only inputs with a known error (dumped and compared) count. The value is
    ``inf`` when the var has an error but all its inputs are exact (the opr
    created the error), None when no input has a known error or when the var
    and its inputs are all exact (nothing to amplify), else the ratio (below 1
    the opr damped the error, above 1 it amplified it).
    """
    out: Dict[int, Optional[float]] = {}
    for var, err in errors.items():
        known = [errors[i] for i in inputs_of.get(var, ()) if i in errors]
        if not known:
            out[var] = None
            continue
        worst = max(known)
        if worst > 0:
            out[var] = err / worst if math.isfinite(worst) else (math.nan if math.isinf(err) else 0.0)
        elif err > 0:
            out[var] = math.inf
        else:
            out[var] = None
    return out


def consumers(inputs_of: InputsOf) -> Dict[int, List[int]]:
    """Reverse edges: var id -> the vars whose owner opr reads it, sorted by id."""
    rev: Dict[int, List[int]] = {}
    for var, inputs in inputs_of.items():
        for i in set(inputs):
            rev.setdefault(i, []).append(var)
    for users in rev.values():
        users.sort()
    return rev


def dependencies(var: int, inputs_of: InputsOf) -> Set[int]:
    """Every var ``var`` depends on, transitively (not including itself)."""
    return reach(var, lambda v: inputs_of.get(v, ()))


def dependents(var: int, inputs_of: InputsOf) -> Set[int]:
    """Every var that depends on ``var`` (what its error can reach), transitively."""
    rev = consumers(inputs_of)
    return reach(var, lambda v: rev.get(v, ()))


def reach(start: int, step: Callable[[int], Iterable[int]]) -> Set[int]:
    """Every var reachable from ``start`` by repeated ``step`` (not including ``start``)."""
    seen: Set[int] = set()
    todo = deque([start])
    while todo:
        for nxt in step(todo.popleft()):
            if nxt not in seen and nxt != start:
                seen.add(nxt)
                todo.append(nxt)
    return seen
