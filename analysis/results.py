"""Comparison results as frozen data: VarDiff per var, RunDiff per pair of runs.

Rendering (terminal text, JSON) lives in ``analysis.render``; these objects
only answer questions: which vars differ, the first, the roots, amplification.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from analysis import roots as _roots
from analysis.metrics import TensorMetrics

#: VarDiff.status values.
COMPARED = "compared"
#: Both runs' file lists give the dump the same sha256: equal bytes, never read.
IDENTICAL_BY_DIGEST = "identical_by_digest"
ONLY_A = "only_a"
ONLY_B = "only_b"
ERROR = "error"
#: How graph matching's reason starts for a var it found no counterpart for (not fused, not a relayout,
#: not padding): unexplained, so the comparison is not clean.
NO_COUNTERPART = "no var of run"


@dataclass(frozen=True)
class Tolerance:
    """Tolerance policy: a default and per-var overrides (var id -> tolerance)."""

    default: float = 1e-3
    per_var: Mapping[int, float] = field(default_factory=dict)

    def __call__(self, var_id: int) -> float:
        return float(self.per_var.get(var_id, self.default))

    @staticmethod
    def of(value: Union[float, Tolerance, Callable[[int], float]]) -> Callable[[int], float]:
        """Accept a number, a Tolerance or any callable var id -> tolerance."""
        if isinstance(value, (int, float)):
            if not value >= 0:
                raise ValueError(f"tolerance must be a number >= 0, got {value!r}")
            return Tolerance(float(value))
        if callable(value):
            return value
        raise TypeError(f"tolerance must be a number or a callable, got {type(value).__name__}")


@dataclass(frozen=True)
class VarDiff:
    """One var (one dump file name) compared between run A and run B.

    ``status`` is ``compared``, ``identical_by_digest`` (both file lists give
    the same sha256: error 0 and bitwise equal, and no byte of either file was
    read, so ``metrics`` and the shapes stay None), ``only_a``/``only_b`` (the
    file exists on one side only; reported, not fatal) or ``error`` (a file
    could not be read; ``error`` says why). ``metrics`` is None unless both
    sides were read and have the same shape. ``input_index`` is set for MGB_DUMP_INPUT files
    (``<id>-inpK``), which repeat another var's value and never count as roots.
    """

    name: str
    var_id: int
    input_index: Optional[int]
    status: str
    tolerance: float
    opr_name: str = ""
    opr_type: str = ""
    var_name: str = ""
    inputs: Tuple[int, ...] = ()
    shape_a: Optional[Tuple[int, ...]] = None
    shape_b: Optional[Tuple[int, ...]] = None
    dtype_a: Optional[str] = None
    dtype_b: Optional[str] = None
    metrics: Optional[TensorMetrics] = None
    error: Optional[str] = None
    # Graph matching (run B's graph differs): B's var compared with this A var, and how
    # the layouts were undone ("" when both are as dumped). Shapes are then the undone ones.
    var_id_b: Optional[int] = None
    var_name_b: str = ""
    opr_name_b: str = ""
    opr_type_b: str = ""
    layout: str = ""
    # Another B var (a relayout copy) is this A var's main partner: reported, not used for roots.
    secondary: bool = False

    @property
    def compared(self) -> bool:
        """Both sides are known: read and compared, or identical by digest."""
        return self.status in (COMPARED, IDENTICAL_BY_DIGEST)

    @property
    def identical_by_digest(self) -> bool:
        return self.status == IDENTICAL_BY_DIGEST

    @property
    def shape_mismatch(self) -> bool:
        return self.compared and self.shape_a != self.shape_b

    @property
    def dtype_mismatch(self) -> bool:
        return self.compared and self.dtype_a != self.dtype_b

    @property
    def bitwise_equal(self) -> bool:
        if self.identical_by_digest:
            return True
        return self.metrics is not None and self.metrics.bitwise_equal and not self.dtype_mismatch

    @property
    def max_err(self) -> Optional[float]:
        """MegEngine's metric; ``inf`` for a shape mismatch, None if not compared."""
        if self.shape_mismatch:
            return math.inf
        if self.identical_by_digest:
            return 0.0
        return None if self.metrics is None else self.metrics.max_err

    def differs(self, tolerance: Optional[float] = None) -> bool:
        """Over tolerance (strictly), or shapes differ; at ``tolerance`` if given."""
        err = self.max_err
        if err is None:
            return False
        return exceeds(err, self.tolerance if tolerance is None else tolerance)

    def to_dict(self) -> Dict[str, Any]:
        """Plain JSON-able data (non-finite floats become the strings "inf", "-inf", "nan")."""
        m = self.metrics
        out: Dict[str, Any] = {
            "name": self.name,
            "var_id": self.var_id,
            "input_index": self.input_index,
            "status": self.status,
            "opr_name": self.opr_name,
            "opr_type": self.opr_type,
            "var_name": self.var_name,
            "inputs": list(self.inputs),
            "shape_a": _list(self.shape_a),
            "shape_b": _list(self.shape_b),
            "dtype_a": self.dtype_a,
            "dtype_b": self.dtype_b,
            "shape_mismatch": self.shape_mismatch,
            "dtype_mismatch": self.dtype_mismatch,
            "tolerance": self.tolerance,
            "differs": self.differs(),
            "bitwise_equal": self.bitwise_equal,
            "max_err": json_float(self.max_err),
            "error": self.error,
        }
        if self.var_id_b is not None:
            out.update(
                var_id_b=self.var_id_b,
                var_name_b=self.var_name_b,
                opr_name_b=self.opr_name_b,
                opr_type_b=self.opr_type_b,
                layout=self.layout,
                secondary=self.secondary,
            )
        if m is not None:
            out.update(
                n_elems=m.n_elems,
                count_over_tol=m.count_over_tol,
                first_index=m.first_index,
                first_values=None if m.first_values is None else [json_float(v) for v in m.first_values],
                max_abs=json_float(m.max_abs),
                max_rel=json_float(m.max_rel),
                mean_abs=json_float(m.mean_abs),
                cosine=json_float(m.cosine),
                sqnr_db=json_float(m.sqnr_db),
                nan_a=m.nan_a,
                nan_b=m.nan_b,
                inf_a=m.inf_a,
                inf_b=m.inf_b,
                err_hist=None if m.error_histogram is None else [list(b) for b in m.error_histogram],
            )
        elif self.identical_by_digest:
            # What equal bytes imply; what only the bytes could tell stays null.
            out.update(
                n_elems=None,
                count_over_tol=0,
                first_index=None,
                first_values=None,
                max_abs=0.0,
                max_rel=0.0,
                mean_abs=0.0,
                cosine=1.0,
                sqnr_db=json_float(math.inf),
                nan_a=None,
                nan_b=None,
                inf_a=None,
                inf_b=None,
                err_hist=None,
            )
        return out


@dataclass(frozen=True)
class RunDiff:
    """All VarDiffs of two runs, with the graph that links them.

    ``inputs_of`` maps a var id to its owner opr's input ids (from the text
    dump if one was given, else from the dump titles: ``graph_source``).
    ``order`` is the execution order of var ids (ids increase in topological
    order in MegEngine, so by default it is the sorted ids).
    """

    a: str
    b: str
    tolerance: float
    vars: Tuple[VarDiff, ...]
    inputs_of: Mapping[int, Tuple[int, ...]]
    order: Tuple[int, ...] = ()
    graph_source: str = "titles"
    stray_a: Tuple[str, ...] = ()
    stray_b: Tuple[str, ...] = ()
    #: "id" (same var ids on both sides) or "graph" (analysis.match paired B's vars with A's).
    matching: str = "id"
    #: Graph matching only: (var id in A, var id in B) compared, in A's execution order.
    pairs: Tuple[Tuple[int, int], ...] = ()
    #: Graph matching only: (var id, reason) of vars without a counterpart; never errors.
    unmatched_a: Tuple[Tuple[int, str], ...] = ()
    unmatched_b: Tuple[Tuple[int, str], ...] = ()

    # -- selections ---------------------------------------------------------
    def outputs(self) -> List[VarDiff]:
        """Compared opr-output vars (no ``-inpK`` files) in execution order."""
        rank = {v: i for i, v in enumerate(self.order)}
        outs = [v for v in self.vars if v.compared and v.input_index is None and not v.secondary]
        return sorted(outs, key=lambda v: (rank.get(v.var_id, len(rank)), v.var_id))

    def differing(self, tolerance: Optional[float] = None) -> List[VarDiff]:
        """Differing vars in execution order (at the run's tolerances, or ``tolerance``)."""
        return [v for v in self.outputs() if v.differs(tolerance)]

    def only_a(self) -> List[VarDiff]:
        return [v for v in self.vars if v.status == ONLY_A]

    def only_b(self) -> List[VarDiff]:
        return [v for v in self.vars if v.status == ONLY_B]

    def errors(self) -> List[VarDiff]:
        return [v for v in self.vars if v.status == ERROR]

    def var(self, var_id: int) -> Optional[VarDiff]:
        """The output VarDiff of ``var_id``, or None."""
        return self._by_id.get(var_id)

    @cached_property
    def _by_id(self) -> Dict[int, VarDiff]:
        return {v.var_id: v for v in self.vars if v.input_index is None and not v.secondary}

    # -- root cause ---------------------------------------------------------
    def first(self, tolerance: Optional[float] = None) -> Optional[VarDiff]:
        """The differing var with the smallest id (step 2 of MegEngine's guide)."""
        vid = _roots.first_var(v.var_id for v in self.differing(tolerance))
        return None if vid is None else self.var(vid)

    def roots(self, tolerance: Optional[float] = None) -> List[VarDiff]:
        """Differing vars none of whose inputs differ, by var id (order-independent)."""
        ids = _roots.find_roots((v.var_id for v in self.differing(tolerance)), self.inputs_of)
        return [self._by_id[i] for i in ids]

    @property
    def amplification(self) -> Dict[int, Optional[float]]:
        """Per compared var: its error / the max error of its inputs (see roots.amplification)."""
        errors = {v.var_id: v.max_err for v in self.outputs() if v.max_err is not None}
        return _roots.amplification(errors, self.inputs_of)

    def dependencies(self, var_id: int) -> List[int]:
        """Vars ``var_id`` depends on, transitively, sorted."""
        return sorted(_roots.dependencies(var_id, self.inputs_of))

    def dependents(self, var_id: int) -> List[int]:
        """Vars that depend on ``var_id`` (what its error reaches), transitively, sorted."""
        return sorted(_roots.dependents(var_id, self.inputs_of))

    def stats(self) -> Dict[str, int]:
        """Counts: compared (identical by digest too), bitwise equal, differing, one-sided, unreadable, mismatches."""
        outs = self.outputs()
        return {
            "files": len(self.vars),
            "compared": len(outs),
            "identical_by_digest": sum(v.identical_by_digest for v in outs),
            "bitwise_equal": sum(v.bitwise_equal for v in outs),
            "differing": sum(v.differs() for v in outs),
            "shape_mismatch": sum(v.shape_mismatch for v in outs),
            "dtype_mismatch": sum(v.dtype_mismatch for v in outs),
            "not_finite": sum(1 for v in outs if v.metrics is not None and not v.metrics.finite),
            "only_a": len(self.only_a()),
            "only_b": len(self.only_b()),
            "errors": len(self.errors()),
            "unmatched_a": len(self.unmatched_a),
            "unmatched_b": len(self.unmatched_b),
            "no_counterpart": len(self.no_counterpart()),
        }

    def no_counterpart(self) -> List[Tuple[str, int, str]]:
        """Graph matching: ("a"/"b", var id, reason) of vars it could not explain (not fused, relayout or padding)."""
        return [
            (side, vid, reason)
            for side, items in (("a", self.unmatched_a), ("b", self.unmatched_b))
            for vid, reason in items
            if reason.startswith(NO_COUNTERPART)
        ]

    @property
    def clean(self) -> bool:
        """True when nothing differs, nothing is one-sided or without a counterpart, and every file was read."""
        s = self.stats()
        return not (s["differing"] or s["only_a"] or s["only_b"] or s["errors"] or s["no_counterpart"])

    def to_dict(self) -> Dict[str, Any]:
        """Plain JSON-able data of the whole comparison."""
        first = self.first()
        amp = self.amplification
        return {
            "a": self.a,
            "b": self.b,
            "tolerance": self.tolerance,
            "graph_source": self.graph_source,
            "stats": self.stats(),
            "first": None if first is None else first.var_id,
            "roots": [v.var_id for v in self.roots()],
            "differing": [v.var_id for v in self.differing()],
            "amplification": {str(k): json_float(v) for k, v in sorted(amp.items())},
            "stray_a": list(self.stray_a),
            "stray_b": list(self.stray_b),
            **self.matching_dict(),
            "vars": [v.to_dict() for v in self.vars],
        }

    def matching_dict(self) -> Dict[str, Any]:
        """``matching``, ``pairs`` and ``unmatched_a``/``unmatched_b`` (one-sided files when matched by id)."""
        if self.matching == "id":
            pairs = [[v.var_id, v.var_id] for v in self.outputs()]
            un_a = [{"var_id": v.var_id, "reason": "only in run A"} for v in self.only_a() if v.input_index is None]
            un_b = [{"var_id": v.var_id, "reason": "only in run B"} for v in self.only_b() if v.input_index is None]
        else:
            pairs = [[a, b] for a, b in self.pairs]
            un_a = [{"var_id": v, "reason": r} for v, r in self.unmatched_a]
            un_b = [{"var_id": v, "reason": r} for v, r in self.unmatched_b]
        return {"matching": self.matching, "pairs": pairs, "unmatched_a": un_a, "unmatched_b": un_b}


def exceeds(err: float, tolerance: float) -> bool:
    """MegEngine's test ``err > tolerance``, with the tolerance cast to float32 as numpy does."""
    return err > float(np.float32(tolerance))


def spread(diffs: Iterable[RunDiff]) -> Dict[int, float]:
    """Per var, the largest error any of ``diffs`` found; exact vars left out.

    The shake check's measure: repeats of one configuration, each compared with
    the first, say which vars jitter between identical runs and by how much.
    """
    out: Dict[int, float] = {}
    for diff in diffs:
        for v in diff.outputs():
            err = v.max_err
            if err is not None and err > 0:
                out[v.var_id] = max(out.get(v.var_id, 0.0), err)
    return out


def json_float(x: Optional[float]) -> Union[None, float, str]:
    """A float for JSON: non-finite values as the strings "inf", "-inf", "nan"."""
    if x is None:
        return None
    x = float(x)
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _list(shape: Optional[Sequence[int]]) -> Optional[List[int]]:
    return None if shape is None else list(shape)
