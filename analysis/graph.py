"""The var graph of one run: each dumped var, its owner opr and its inputs in order.

Built either from the titles of a binary dump folder or from a text dump; the
two must agree (same dumped vars, same input lists). Input ids may name vars
that were never dumped (host-only shape vars such as the Int32 Concat feeding
a Reshape); those are kept as edges and described in ``external`` when known.
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Mapping, Optional, Tuple, Union

from analysis.dump_bin import DumpFolder, list_dump_folder, read_header
from analysis.dump_text import TextDump, parse_text_dump
from analysis.errors import AnalysisError, DumpFormatError, GraphError, PathLike, TitleError
from analysis.roots import reach
from analysis.title import VarInfo, parse_title

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VarNode:
    """One var: who produced it (opr name and type) and from which inputs."""

    id: int
    name: str
    opr: str
    opr_type: str
    inputs: Tuple[int, ...]
    shape: Optional[Tuple[int, ...]]
    dtype: Optional[str]
    opr_id: Optional[int] = None  # only the text dump prints it
    # Input index of each entry of ``inputs`` when the list may have gaps: the
    # text dump prints a var taken twice once, at its last index. None: complete.
    input_slots: Optional[Tuple[int, ...]] = None

    @property
    def inputs_complete(self) -> bool:
        """True when ``inputs`` is the opr's whole input list (no var taken twice hidden)."""
        return self.input_slots is None or self.input_slots == tuple(range(len(self.inputs)))


@dataclass(frozen=True)
class GraphDiff:
    """Where two graphs of the same run disagree (empty when they agree)."""

    only_in_first: Tuple[int, ...]
    only_in_second: Tuple[int, ...]
    inputs_differ: Tuple[Tuple[int, Tuple[int, ...], Tuple[int, ...]], ...]  # (id, first, second)

    @property
    def agree(self) -> bool:
        """True when both graphs have the same vars with the same inputs."""
        return not (self.only_in_first or self.only_in_second or self.inputs_differ)

    def describe(self) -> List[str]:
        """One line per disagreement, for reports and test failures."""
        lines = []
        if self.only_in_first:
            lines.append(f"vars only in the first graph: {list(self.only_in_first)}")
        if self.only_in_second:
            lines.append(f"vars only in the second graph: {list(self.only_in_second)}")
        for var_id, a, b in self.inputs_differ:
            lines.append(f"var {var_id}: inputs {list(a)} vs {list(b)}")
        return lines


@dataclass
class VarGraph:
    """Vars (dumped ones) keyed by id, with the edges their inputs give.

    ``external`` describes input vars that have no record of their own (from
    the titles, when known); ``problems`` lists files that could not be used
    and were skipped, so callers can report them; ``recorded_order`` is the
    order a text dump printed the records in (constants appear when first
    used), None for graphs built from titles. Treat a graph as read-only.
    """

    nodes: Dict[int, VarNode]
    external: Dict[int, VarNode] = field(default_factory=dict)
    problems: List[AnalysisError] = field(default_factory=list)
    recorded_order: Optional[Tuple[int, ...]] = None

    def __post_init__(self) -> None:
        consumers: Dict[int, List[int]] = {}
        for node in self.nodes.values():
            for src in dict.fromkeys(node.inputs):  # an opr may take one var twice
                consumers.setdefault(src, []).append(node.id)
        self._consumers = {k: tuple(sorted(v)) for k, v in consumers.items()}

    # -- single steps -------------------------------------------------------
    def __contains__(self, var_id: object) -> bool:
        return var_id in self.nodes

    def __len__(self) -> int:
        return len(self.nodes)

    def node(self, var_id: int) -> VarNode:
        """The node of a dumped var (or of a known undumped input); KeyError otherwise."""
        if var_id in self.nodes:
            return self.nodes[var_id]
        if var_id in self.external:
            return self.external[var_id]
        raise KeyError(var_id)

    def is_dumped(self, var_id: int) -> bool:
        """True when the var has its own record (file or ``produced`` block)."""
        return var_id in self.nodes

    def inputs_of(self, var_id: int) -> Tuple[int, ...]:
        """Input var ids of the var's owner opr, in order (empty for unknown vars)."""
        node = self.nodes.get(var_id)
        return node.inputs if node is not None else ()

    def consumers_of(self, var_id: int) -> Tuple[int, ...]:
        """Dumped vars whose owner opr takes this var as an input, ascending."""
        return self._consumers.get(var_id, ())

    # -- transitive ---------------------------------------------------------
    def dependencies(self, var_id: int) -> FrozenSet[int]:
        """Every var the given var depends on, transitively (undumped inputs included)."""
        return frozenset(reach(var_id, self.inputs_of))

    def dependents(self, var_id: int) -> FrozenSet[int]:
        """Every dumped var that depends on the given var, transitively."""
        return frozenset(reach(var_id, self.consumers_of))

    def undumped_inputs(self) -> FrozenSet[int]:
        """Input ids that have no record of their own."""
        return frozenset(i for n in self.nodes.values() for i in n.inputs if i not in self.nodes)

    def execution_order(self) -> List[int]:
        """Dumped var ids in a topological order, smallest id first where free.

        MegEngine allocates ids in construction order, so this is ascending ids
        for real graphs; the topological sort keeps it right even if not.
        """
        pending = {
            vid: sum(1 for i in dict.fromkeys(n.inputs) if i in self.nodes and i != vid)
            for vid, n in self.nodes.items()
        }
        ready = [vid for vid, count in pending.items() if count == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            vid = heapq.heappop(ready)
            order.append(vid)
            for consumer in self.consumers_of(vid):
                if consumer == vid:
                    continue
                pending[consumer] -= 1
                if pending[consumer] == 0:
                    heapq.heappush(ready, consumer)
        if len(order) != len(self.nodes):
            stuck = sorted(set(self.nodes) - set(order))
            raise GraphError(f"the var graph has a cycle through vars {stuck[:10]}")
        return order

    # -- comparing sources --------------------------------------------------
    def diff(self, other: VarGraph) -> GraphDiff:
        """How this graph and another of the same run disagree."""
        mine, theirs = set(self.nodes), set(other.nodes)
        differ = tuple(
            (vid, self.nodes[vid].inputs, other.nodes[vid].inputs)
            for vid in sorted(mine & theirs)
            if not inputs_agree(self.nodes[vid], other.nodes[vid])
        )
        return GraphDiff(
            only_in_first=tuple(sorted(mine - theirs)),
            only_in_second=tuple(sorted(theirs - mine)),
            inputs_differ=differ,
        )

    def agrees_with(self, other: VarGraph) -> bool:
        """True when both have the same dumped vars with the same input lists."""
        return self.diff(other).agree

    def merge(self, other: VarGraph) -> VarGraph:
        """Union of both graphs; this one wins on conflicts, the other fills gaps (e.g. opr ids)."""
        nodes = dict(other.nodes)
        for vid, node in self.nodes.items():
            theirs = other.nodes.get(vid)
            if theirs is not None:
                if not node.inputs_complete and theirs.inputs_complete and inputs_agree(node, theirs):
                    node = replace(node, inputs=theirs.inputs, input_slots=None)
                node = replace(
                    node,
                    opr_id=node.opr_id if node.opr_id is not None else theirs.opr_id,
                    shape=node.shape if node.shape is not None else theirs.shape,
                    dtype=node.dtype if node.dtype is not None else theirs.dtype,
                )
            nodes[vid] = node
        external = {**other.external, **self.external}
        for vid in nodes:
            external.pop(vid, None)
        return VarGraph(
            nodes=nodes,
            external=external,
            problems=list(self.problems) + list(other.problems),
            recorded_order=self.recorded_order or other.recorded_order,
        )

    # -- constructors -------------------------------------------------------
    @classmethod
    def from_titles(cls, titles: Mapping[int, VarInfo], inputs: Mapping[int, Tuple[VarInfo, ...]]) -> VarGraph:
        """Build from parsed titles: ``titles[id]`` the var, ``inputs[id]`` its opr's inputs."""
        nodes = {vid: _node_from_info(info, tuple(v.id for v in inputs.get(vid, ()))) for vid, info in titles.items()}
        external: Dict[int, VarNode] = {}
        for ins in inputs.values():
            for info in ins:
                if info.id not in nodes and info.id not in external:
                    external[info.id] = _node_from_info(info, ())
        return cls(nodes=nodes, external=external)

    @classmethod
    def from_dump_folder(cls, folder: Union[PathLike, DumpFolder], *, strict: bool = False) -> VarGraph:
        """Build from the titles of a ``--bin-io-dump`` folder (output dumps; ``-inpK`` files skipped).

        A file whose header or title cannot be read is skipped and recorded in
        ``problems`` (``strict=True`` raises it instead).
        """
        listing = list_dump_folder(folder)
        titles: Dict[int, VarInfo] = {}
        inputs: Dict[int, Tuple[VarInfo, ...]] = {}
        problems: List[AnalysisError] = []
        for entry in listing.outputs:
            try:
                header = read_header(entry.path)
                title = parse_title(header.title)
            except TitleError as exc:
                located = exc.with_path(entry.path)
                if strict:
                    raise located from None
                problems.append(located)
                continue
            except DumpFormatError as exc:
                if strict:
                    raise
                problems.append(exc)
                continue
            if title.var.id != entry.var_id:
                mismatch = DumpFormatError(
                    entry.path, None, f"file name says var {entry.var_id} but the title says var {title.var.id}"
                )
                if strict:
                    raise mismatch
                problems.append(mismatch)
                continue
            titles[entry.var_id] = title.var
            inputs[entry.var_id] = title.inputs
        for problem in problems:
            log.warning("var graph: skipped %s", problem)
        graph = cls.from_titles(titles, inputs)
        graph.problems = problems
        return graph

    @classmethod
    def from_text_dump(cls, dump: Union[PathLike, TextDump], iteration: int = -1) -> VarGraph:
        """Build from one iteration of a ``--io-dump`` text file (the last by default).

        Inputs are the ``[iK]`` dependencies in K order; other dependencies
        (comp order, non-input shape deps) are not edges of the data graph.
        """
        if not isinstance(dump, TextDump):
            dump = parse_text_dump(Path(dump))
        if not dump.iterations:
            return cls(nodes={})
        nodes = {}
        # the weight chains folded at load time belong to every forward's graph (the binary dump holds them)
        records = dump.load_time + dump.iterations[iteration]
        for rec in records:
            slots = rec.input_slots
            nodes[rec.id] = VarNode(
                id=rec.id,
                name=rec.name,
                opr=rec.owner_opr,
                opr_type=rec.owner_type,
                inputs=rec.input_ids,
                shape=rec.shape,
                dtype=rec.dtype,
                opr_id=rec.opr_id,
                input_slots=None if slots == tuple(range(len(slots))) else slots,
            )
        return cls(nodes=nodes, recorded_order=tuple(rec.id for rec in records))


def _node_from_info(info: VarInfo, inputs: Tuple[int, ...]) -> VarNode:
    return VarNode(
        id=info.id,
        name=info.name,
        opr=info.owner_opr,
        opr_type=info.owner_type,
        inputs=inputs,
        shape=info.shape,
        dtype=info.dtype,
    )


def inputs_agree(a: VarNode, b: VarNode) -> bool:
    """True when two descriptions of one var's inputs can be the same input list.

    Equal lists agree. A text-dump list with gaps (a var taken twice is printed
    once, at its last index K) agrees with a complete list that has each var
    at its K, the same set of vars, and every gap filled by a var that the
    text shows at a later index.
    """
    if a.inputs == b.inputs:
        return True
    for full, part in ((a, b), (b, a)):
        if part.inputs_complete or not full.inputs_complete:
            continue
        slots = part.input_slots or ()
        last = dict(zip(part.inputs, slots, strict=False))  # no slots recorded: nothing to map
        n = len(full.inputs)
        if (
            slots
            and slots[-1] == n - 1
            and set(full.inputs) == set(part.inputs)
            and all(full.inputs[k] == v for v, k in last.items())
            and all(last[v] >= k for k, v in enumerate(full.inputs))
        ):
            return True
    return False


def agree(first: VarGraph, second: VarGraph) -> GraphDiff:
    """Compare two graphs of one run (e.g. from binary titles and from the text dump)."""
    return first.diff(second)


def merge(primary: VarGraph, secondary: VarGraph) -> VarGraph:
    """Union of two graphs; ``primary`` wins where both describe a var."""
    return primary.merge(secondary)


def ids_in_order(ids: Iterable[int], graph: Optional[VarGraph] = None) -> List[int]:
    """Sort var ids in execution order (graph order when given, else ascending)."""
    ids = set(ids)
    if graph is None:
        return sorted(ids)
    order = [i for i in graph.execution_order() if i in ids]
    return order + sorted(ids - set(order))
