"""Pair the vars of run B with the vars of run A that hold the same logical tensor.

Steps (strongest evidence first): alias groups in each run; anchors (the same
type, opr name and var name, unique on both sides: graph inputs, named
constants, outputs); then B's groups in execution order through the structure
(a var whose first input is paired pairs with a consumer of that input's
partner of a compatible type, opr name and inputs), where a fused ConvBias on
one side stands for the conv plus the elementwise chain it absorbed on the
other; constants left over pair by equal values after the layout undo; last,
equal stable names. Inside paired groups each var takes the partner whose
shape reads as the same tensor. Values break ties only (a ConvBias that kept
the conv's own name, two readings of one shape).
"""

from __future__ import annotations

import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from analysis.layouts import EXACT, LAYOUT, Alignment, alignments, best_alignments
from analysis.match.nodes import CONV_TYPES, INPUT_TYPE, MatchVar, RunVars
from analysis.metrics import megengine_error
from analysis.results import NO_COUNTERPART

#: (side "a" or "b", var id) -> the var's values, or None when they cannot be read.
Loader = Callable[[str, int], Optional[np.ndarray]]
#: Longest elementwise chain a ConvBias absorbs (bias, residual add, nonlinearity).
MAX_CHAIN = 3
#: Constants pair by value only when they agree this closely after the undo.
CONST_EQUAL = 1e-6

FUSED = "fused into ConvBias var {other} of run {run}: no var of its own there"
RELAYOUT = "relayout of var {root}: run {run} holds this tensor only in another layout"
NONE = NO_COUNTERPART + " {run} holds this tensor (no name, structure or value match)"
PADDING = "channel padding (zeros) a layout pass added: no tensor of the model's, none in run {run}"
OTHER_FORM = "run {run} holds this tensor (var {var}) only in a form no layout reading matches (padded, reshaped)"
ORPHAN = "relayout of var {root}, which has no counterpart in run {run}"


class Pairing:
    """The mutable state of one matching; :func:`pair_runs` returns its result."""

    def __init__(self, ra: RunVars, rb: RunVars, loader: Optional[Loader]) -> None:
        self.a, self.b = ra, rb
        self.loader = loader
        self.b2a: Dict[int, int] = {}  # B group root -> A group root
        self.a2b: Dict[int, int] = {}
        self.gone_a: Dict[int, str] = {}  # var -> why it has no partner (fused away)
        self.gone_b: Dict[int, str] = {}
        self._values: Dict[Tuple[str, int], Optional[np.ndarray]] = {}

    # -- values -------------------------------------------------------------
    def values(self, side: str, vid: int) -> Optional[np.ndarray]:
        if self.loader is None:
            return None
        key = (side, vid)
        if key not in self._values:
            self._values[key] = self.loader(side, vid)
        return self._values[key]

    def aligns(self, a: int, b: int) -> List[Alignment]:
        va, vb = self.a.vars[a], self.b.vars[b]
        return alignments(va.shape, va.fmt, vb.shape, vb.fmt)

    def _group_distance(self, a: int, b: int) -> float:
        """Smallest distance between a var of a's group and a var of b's that read as one tensor."""
        return min(
            (
                self.distance(x, y)
                for x in self.a.groups[self.a.root[a]]
                for y in self.b.groups[self.b.root[b]]
                if self.aligns(x, y)
            ),
            default=math.inf,
        )

    def group_aligns(self, a: int, b: int) -> bool:
        """True when some var of a's alias group and some var of b's read as one tensor."""
        return any(self.aligns(x, y) for x in self.a.groups[self.a.root[a]] for y in self.b.groups[self.b.root[b]])

    def distance(self, a: int, b: int) -> float:
        """Smallest max error (MegEngine's metric) over the best readings; inf when unknown or unalignable."""
        aligns = candidate_alignments(self.a.vars[a], self.b.vars[b])
        xa, xb = self.values("a", a), self.values("b", b)
        if not aligns or xa is None or xb is None:
            return math.inf
        best = math.inf
        for al in aligns:
            try:
                pa, pb = al.apply(xa.reshape(self.a.vars[a].shape), xb.reshape(self.b.vars[b].shape))
            except ValueError:
                continue
            if pa.size == 0:
                return 0.0
            err = float(np.max(megengine_error(pa, pb)))
            best = min(best, err if math.isfinite(err) else math.inf)
        return best

    # -- bookkeeping --------------------------------------------------------
    def link(self, a: int, b: int) -> None:
        ra, rb = self.a.root[a], self.b.root[b]
        if ra in self.a2b or rb in self.b2a:
            return
        self.a2b[ra] = rb
        self.b2a[rb] = ra

    def free_a(self, a: int) -> bool:
        return self.a.root[a] not in self.a2b and a not in self.gone_a

    def free_b(self, b: int) -> bool:
        return self.b.root[b] not in self.b2a and b not in self.gone_b

    # -- steps --------------------------------------------------------------
    def anchors(self) -> None:
        """Equal (type, opr, name), unique on both sides and on group roots: graph inputs, named consts, outputs."""
        ka = _unique_keys(self.a)
        kb = _unique_keys(self.b)
        for key, b in kb.items():
            a = ka.get(key)
            if a is None or not self.group_aligns(a, b):
                continue
            self.link(a, b)

    def structure(self) -> int:
        """One pass over B's group roots in order; returns how many were paired."""
        paired = 0
        for b in self.b.order:
            if self.b.is_alias(b) or not self.free_b(b):
                continue
            if self._structural(b):
                paired += 1
        return paired

    def _structural(self, b: int) -> bool:
        vb = self.b.vars[b]
        ins = self.b.dumped_inputs(b)
        if not ins:
            return False
        src_a = self.b2a.get(self.b.root[ins[0]])
        if src_a is None:
            return False
        cands: List[Tuple[int, int]] = []
        for member in self.a.groups[src_a]:
            for c in self.a.consumers.get(member, ()):
                ca = self.a.root[c]
                if ca == src_a or not self.free_a(ca) or any(ca == c for _, c in cands):
                    continue
                score = self._score(ca, b)
                if score is not None:
                    cands.append((score, ca))
        scored = sorted(cands, key=lambda t: (-t[0], t[1]))
        if not scored:
            return False
        top = [c for s, c in scored if s == scored[0][0]]
        a = top[0]
        if len(top) > 1 and self.loader is not None:
            a = min(top, key=lambda c: (self._chain_distance(c, b), c))
        va = self.a.vars[a]
        if va.type != vb.type and {va.type, vb.type} == set(CONV_TYPES):
            return self._fuse(a, b)
        if not self.group_aligns(a, b):
            return False
        self.link(a, b)
        self._pair_constant_inputs(a, b)
        return True

    def _pair_constant_inputs(self, a: int, b: int) -> None:
        """Paired oprs of one type take their constants (filter, bias) at the same input positions."""
        for x, y in zip(self.a.vars[a].inputs, self.b.vars[b].inputs, strict=False):
            if x not in self.a.vars or y not in self.b.vars:
                continue
            rx, ry = self.a.root[x], self.b.root[y]
            if (
                self.a.vars[rx].is_const
                and self.b.vars[ry].is_const
                and self.free_a(rx)
                and self.free_b(ry)
                and self.group_aligns(rx, ry)
            ):
                self.link(rx, ry)

    def _score(self, a: int, b: int) -> Optional[int]:
        va, vb = self.a.vars[a], self.b.vars[b]
        conv_pair = {va.type, vb.type} <= CONV_TYPES
        if va.type != vb.type and not conv_pair:
            return None
        ins_b = self.b.dumped_inputs(b)
        roots_a = {self.a.root[i] for i in self.a.dumped_inputs(a)}
        checked = ins_b[:2] if conv_pair and va.type != vb.type else ins_b
        for i in checked:
            mapped = self.b2a.get(self.b.root[i])
            if mapped is not None and mapped not in roots_a:
                return None
        score = 0
        score += 2 if va.opr == vb.opr else 0
        score += 1 if va.name == vb.name else 0
        score += 1 if len(va.inputs) == len(vb.inputs) else 0
        return score

    def _chain_distance(self, a: int, b: int) -> float:
        return self.distance(a, b)

    # -- ConvBias <-> conv + elementwise chain -------------------------------
    def _fuse(self, a: int, b: int) -> bool:
        """Pair a ConvBias with the member of the other run's conv chain it ends on."""
        if self.b.vars[b].type == "ConvBiasForward":
            chain = _chain(self.a, a)
            pick = self._pick(chain, b, side_of_chain="a")
            if pick is None:
                return False
            self.link(chain[pick], b)
            for m in chain[:pick]:
                self.gone_a[m] = FUSED.format(other=b, run="B")
            self._pair_weights(self.a, chain, pick, a, self.b, b, chain_is_a=True)
        else:
            chain = _chain(self.b, b)
            pick = self._pick(chain, a, side_of_chain="b")
            if pick is None:
                return False
            self.link(a, chain[pick])
            for m in chain[:pick]:
                self.gone_b[m] = FUSED.format(other=a, run="A")
            self._pair_weights(self.b, chain, pick, b, self.a, a, chain_is_a=False)
        return True

    def _pick(self, chain: Sequence[int], cb: int, side_of_chain: str) -> Optional[int]:
        """Which chain member the ConvBias ``cb`` (in the other run) holds."""
        run_chain = self.a if side_of_chain == "a" else self.b
        run_cb = self.b if side_of_chain == "a" else self.a
        vcb = run_cb.vars[cb]
        fits = [k for k, m in enumerate(chain) if self._aligns_sided(side_of_chain, m, cb)]
        if not fits:
            return None
        if self.loader is not None:
            dist = [(self._dist_sided(side_of_chain, chain[k], cb), k) for k in fits]
            best = min(dist)
            if math.isfinite(best[0]):
                return best[1]
        names = {run_chain.vars[chain[k]].name: k for k in fits}
        if vcb.name != vcb.opr and vcb.name in names:
            return names[vcb.name]
        for alias in run_cb.groups[run_cb.root[cb]]:
            if run_cb.vars[alias].name in names:
                return names[run_cb.vars[alias].name]
        return fits[-1]

    def _aligns_sided(self, side_of_chain: str, m: int, cb: int) -> bool:
        return bool(self.aligns(m, cb) if side_of_chain == "a" else self.aligns(cb, m))

    def _dist_sided(self, side_of_chain: str, m: int, cb: int) -> float:
        return self.distance(m, cb) if side_of_chain == "a" else self.distance(cb, m)

    def _pair_weights(
        self, run_chain: RunVars, chain: Sequence[int], pick: int, conv: int, run_cb: RunVars, cb: int, chain_is_a: bool
    ) -> None:
        """The ConvBias's filter and bias pair with the conv's filter and the chain's bias."""
        cb_ins = run_cb.vars[cb].inputs
        conv_ins = run_chain.vars[conv].inputs
        wanted = []
        if len(cb_ins) > 1 and len(conv_ins) > 1:
            wanted.append((conv_ins[1], cb_ins[1]))
        if len(cb_ins) > 2:
            for prev, m in zip(chain, chain[1 : pick + 1], strict=False):
                others = [i for i in run_chain.vars[m].inputs if i != prev]
                if len(others) == 1:
                    wanted.append((others[0], cb_ins[2]))
                    break
        for x, y in wanted:
            if x not in run_chain.vars or y not in run_cb.vars:
                continue
            a, b = (x, y) if chain_is_a else (y, x)
            if self.free_a(a) and self.free_b(b) and self.group_aligns(a, b):
                self.link(a, b)

    # -- constants by value, names last ---------------------------------------
    def constants_by_value(self) -> None:
        if self.loader is None:
            return
        free_a = [a for a in self.a.order if not self.a.is_alias(a) and self.free_a(a) and self.a.vars[a].is_const]
        for b in self.b.order:
            vb = self.b.vars[b]
            if self.b.is_alias(b) or not self.free_b(b) or not vb.is_const:
                continue
            best: Tuple[float, int] = (math.inf, -1)
            for a in free_a:
                if not self.free_a(a) or not self.group_aligns(a, b):
                    continue
                best = min(best, (self._group_distance(a, b), a))
            if best[0] <= CONST_EQUAL:
                self.link(best[1], b)

    def stable_names(self) -> None:
        by_name: Dict[str, List[int]] = {}
        for a in self.a.order:
            va = self.a.vars[a]
            if not self.a.is_alias(a) and self.free_a(a) and va.stable_name:
                by_name.setdefault(va.name, []).append(a)
        for b in self.b.order:
            vb = self.b.vars[b]
            if self.b.is_alias(b) or not self.free_b(b) or not vb.stable_name:
                continue
            cands = [a for a in by_name.get(vb.name, ()) if self.free_a(a) and _types_fit(self.a.vars[a], vb)]
            if len(cands) == 1 and self.group_aligns(cands[0], b):
                self.link(cands[0], b)

    # -- members of paired groups ---------------------------------------------
    def members(self) -> Tuple[List[Tuple[int, int]], Dict[int, str], Dict[int, str]]:
        """Every B var with its A partner; the vars of each side left without one, with the reason."""
        pairs: List[Tuple[int, int]] = []
        used_a = set()
        un_b: Dict[int, str] = {}
        for b in self.b.order:
            if b in self.gone_b:
                un_b[b] = self.gone_b[b]
                continue
            rb = self.b.root[b]
            ra = self.b2a.get(rb)
            if ra is None and b in self.b.padding:
                un_b[b] = PADDING.format(run="A")
                continue
            if ra is None:
                un_b[b] = NONE.format(run="A") if rb == b else ORPHAN.format(root=rb, run="A")
                continue
            a = ra if rb == b and self.aligns(ra, b) else self._member_partner(ra, b)
            if a is None:
                un_b[b] = RELAYOUT.format(root=rb, run="A") if rb != b else OTHER_FORM.format(var=ra, run="A")
                continue
            pairs.append((a, b))
            used_a.add(a)
        un_a: Dict[int, str] = {}
        for a in self.a.order:
            if a in used_a:
                continue
            ra = self.a.root[a]
            if a in self.gone_a:
                un_a[a] = self.gone_a[a]
            elif ra in self.a2b:
                un_a[a] = RELAYOUT.format(root=ra, run="B")
            elif a in self.a.padding:
                un_a[a] = PADDING.format(run="B")
            elif ra != a:
                un_a[a] = ORPHAN.format(root=ra, run="B")
            else:
                un_a[a] = NONE.format(run="B")
        return pairs, un_a, un_b

    def _member_partner(self, ra: int, b: int) -> Optional[int]:
        vb = self.b.vars[b]
        group = self.a.groups[ra]
        for test in (
            lambda va: va.type == vb.type and va.name == vb.name and va.shape == vb.shape,
            lambda va: va.type == vb.type and va.shape == vb.shape,
            lambda va: va.shape == vb.shape and va.fmt == vb.fmt,
        ):
            for a in group:
                if test(self.a.vars[a]):
                    return a
        # The member read as the same tensor by a known layout beats a plain reshape; the root wins ties.
        ranked = [(al[0].rank, a != ra, a) for a in group for al in [self.aligns(a, b)] if al]
        return min(ranked)[2] if ranked else None


def candidate_alignments(va: MatchVar, vb: MatchVar) -> List[Alignment]:
    """The readings to try for a pair: the best ones, and where the vars come from different oprs
    (a Dimshuffle's (N, C/c, c, H, W) has the shape of an NCHWc var) the layout readings too."""
    aligns = alignments(va.shape, va.fmt, vb.shape, vb.fmt)
    best = best_alignments(aligns)
    if best and best[0].rank == EXACT and va.type != vb.type:
        return [al for al in aligns if al.rank <= LAYOUT]
    return best


def _chain(run: RunVars, conv: int) -> List[int]:
    """The conv and the single-consumer elementwise vars after it (what a ConvBias can absorb)."""
    chain = [conv]
    cur = conv
    for _ in range(MAX_CHAIN):
        cons = run.consumers.get(cur, [])
        if len(cons) != 1 or run.vars[cons[0]].type != "Elemwise":
            break
        cur = cons[0]
        chain.append(cur)
    return chain


def _types_fit(va: MatchVar, vb: MatchVar) -> bool:
    if va.type == vb.type or (va.is_const and vb.is_const):
        return True
    return va.type == INPUT_TYPE == vb.type


def _unique_keys(run: RunVars) -> Dict[Tuple[str, str, str], int]:
    count: Dict[Tuple[str, str, str], List[int]] = {}
    for vid in run.order:
        count.setdefault(run.vars[vid].key(), []).append(vid)
    return {k: v[0] for k, v in count.items() if len(v) == 1 and not run.is_alias(v[0])}
