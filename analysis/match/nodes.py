"""One run's vars as the matcher sees them: titles, alias groups, consumers.

Relayout vars (Reshape, Dimshuffle, RelayoutFormat, AxisAddRemove) hold their
first input's tensor in another layout, and a ``fuse():...@N`` constant is var
N folded at load time: each joins its source's *alias group*, whose root is
the var that computed the tensor. Groups, not vars, are what the graphs share.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, Optional, Tuple, Union

from analysis.dump_bin import DumpFile, DumpFolder, list_dump_folder, read_header
from analysis.errors import AnalysisError, PathLike
from analysis.title import parse_title

#: Opr types whose output is the first input's tensor in another layout.
RELAYOUT_TYPES = frozenset({"Reshape", "Dimshuffle", "RelayoutFormat", "AxisAddRemove"})
#: Opr types of constants (weights, biases, folded values).
CONST_TYPES = frozenset(
    {
        "ImmutableTensor",
        "SharedDeviceTensor",
        "SharedDeviceTensorWithFormat",
        "VolatileSharedDeviceTensor",
        "MultipleDeviceTensorHolder",
        "MultipleDeviceTensorWithFormatHolder",
    }
)
CONV_TYPES = frozenset({"ConvolutionForward", "ConvBiasForward"})
INPUT_TYPE = "Host2DeviceCopy"
_FOLDED = re.compile(r"^fuse\(\):.*@(\d{1,20})$")
# Names made at load time carry fresh ids ("[123]") or fold marks; model names do not.
_GENERATED = re.compile(r"\[\d+\]|@\d+$|^fuse\(\):")


@dataclass(frozen=True)
class MatchVar:
    """What one dumped var's title tells the matcher."""

    id: int
    name: str
    opr: str
    type: str
    inputs: Tuple[int, ...]
    shape: Tuple[int, ...]
    fmt: Optional[str] = None
    dtype: str = ""

    @property
    def is_const(self) -> bool:
        return self.type in CONST_TYPES

    @property
    def stable_name(self) -> bool:
        """True when the name comes from the model file (no load-time id in it)."""
        return bool(self.name) and not _GENERATED.search(self.name)

    @property
    def folded_from(self) -> Optional[int]:
        """N of a ``fuse():...@N`` constant: the var whose value was folded into it."""
        m = _FOLDED.match(self.opr)
        return int(m.group(1)) if m else None

    def key(self) -> Tuple[str, str, str]:
        """Type (constants as one kind), opr name and var name: equal keys are the same var when unique."""
        return ("const" if self.is_const else self.type, self.opr, self.name)


class RunVars:
    """The vars of one run with alias groups and consumers; read-only once built."""

    def __init__(self, vars: Iterable[MatchVar], headers: Optional[Mapping[int, DumpFile]] = None) -> None:
        self.vars: Dict[int, MatchVar] = {v.id: v for v in sorted(vars, key=lambda v: v.id)}
        #: The dump headers read to build this (from_dump_folder), so a compare need not read them again.
        self.headers: Mapping[int, DumpFile] = headers or {}
        self.order: List[int] = list(self.vars)  # ids grow in construction (topological) order
        consumers: Dict[int, List[int]] = {}
        for v in self.vars.values():
            for src in dict.fromkeys(v.inputs):
                if src in self.vars and src != v.id:
                    consumers.setdefault(src, []).append(v.id)
        self.consumers: Mapping[int, List[int]] = consumers
        self.root: Dict[int, int] = {}
        for vid in self.order:
            self.root[vid] = self._root_of(vid)
        # Zeros a layout pass concatenated onto a tensor to pad its channels: no tensor of the model's.
        self.padding = frozenset(
            i
            for v in self.vars.values()
            if self.root[v.id] != v.id and v.type == "Concat"
            for i in (v.inputs[1], *self.vars[v.inputs[1]].inputs)
            if i in self.vars
        )
        groups: Dict[int, List[int]] = {}
        for vid in self.order:
            groups.setdefault(self.root[vid], []).append(vid)
        self.groups: Mapping[int, List[int]] = groups

    def _source(self, v: MatchVar) -> Optional[int]:
        if v.type in RELAYOUT_TYPES and v.inputs and v.inputs[0] in self.vars:
            return v.inputs[0]
        src = v.folded_from
        if src is not None and src in self.vars and src != v.id:
            return src
        if v.type == "Concat" and len(v.inputs) == 2 and v.inputs[0] in self.vars and self._constant(v.inputs[1]):
            # The global layout transform pads channels: concat(data, broadcast(const 0)) is data, padded.
            return v.inputs[0]
        return None

    def _constant(self, vid: int) -> bool:
        v = self.vars.get(vid)
        if v is None:
            return False
        if v.type == "Broadcast" and v.inputs:
            v = self.vars.get(v.inputs[0], v)
        return v.is_const

    def _root_of(self, vid: int) -> int:
        seen = set()
        cur = vid
        while cur not in seen:
            seen.add(cur)
            if cur in self.root:
                return self.root[cur]
            src = self._source(self.vars[cur])
            if src is None:
                return cur
            cur = src
        return vid  # a cycle cannot happen in a real graph; stop rather than loop

    def dumped_inputs(self, vid: int) -> List[int]:
        return [i for i in self.vars[vid].inputs if i in self.vars]

    def is_alias(self, vid: int) -> bool:
        return self.root[vid] != vid

    def signature(self) -> Tuple[Tuple[int, str, str, str, Tuple[int, ...]], ...]:
        """Ids with their opr type, opr and var names and shape: equal signatures are the same graph."""
        return tuple((v.id, v.type, v.opr, v.name, v.shape) for v in self.vars.values())

    @classmethod
    def from_dump_folder(cls, folder: Union[PathLike, DumpFolder]) -> RunVars:
        """Read every output dump's title (``-inpK`` copies skipped); unreadable files are left out."""
        out = []
        headers: Dict[int, DumpFile] = {}
        for entry in list_dump_folder(folder).outputs:
            try:
                header = read_header(entry.path)
                title = parse_title(header.title)
            except AnalysisError:
                continue  # compare reports the unreadable file; the matcher just cannot use it
            info = title.var
            headers[info.id] = header
            out.append(
                MatchVar(
                    id=info.id,
                    name=info.name,
                    opr=info.owner_opr,
                    type=info.owner_type,
                    inputs=title.input_ids,
                    shape=tuple(header.shape),
                    fmt=info.format,
                    dtype=info.dtype,
                )
            )
        return cls(out, headers)
