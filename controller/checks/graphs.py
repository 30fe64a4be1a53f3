"""Each stored run's var graph, parsed once per campaign: the checks share one cache keyed by run id.

A run's graph is its text dump (`io.txt`) completed with the titles of the
binary dumps in the store; the default run takes part in the naive, cross and
every shake comparison, and is read once for all of them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

from analysis.dump_names import BIN_DIR
from analysis.dump_text import TextDump, other_graph, parse_text_dump
from analysis.errors import AnalysisError
from analysis.graph import VarGraph

log = logging.getLogger(__name__)

TEXT_DUMP = "io.txt"


@dataclass(frozen=True)
class RunGraph:
    """A run's var graph (None when neither the text dump nor any title gave one) and where it came from."""

    graph: Optional[VarGraph]
    source: str


def read_run_graph(run_dir: Path) -> RunGraph:
    """The var graph of a stored run: the text dump's, completed with the titles of the files in the store."""
    graph: Optional[VarGraph] = None
    dump: Optional[TextDump] = None
    source = "titles"
    text = run_dir / TEXT_DUMP
    if text.is_file():
        try:
            dump = parse_text_dump(text)
            graph = VarGraph.from_text_dump(dump)
            source = f"text dump {text}"
        except AnalysisError as exc:
            log.warning("%s: text dump unusable, using binary titles only (%s)", text, exc)
    bin_dir = run_dir / BIN_DIR
    if bin_dir.is_dir() and any(bin_dir.iterdir()):
        try:
            titles = VarGraph.from_dump_folder(bin_dir)
            other = other_graph(dump, {v: (n.name, n.shape) for v, n in titles.nodes.items()}) if dump else None
            if other is not None:  # two graphs: merging them would pair unrelated vars
                log.warning("%s: %s; using binary titles only", text, other)
                graph, source = None, f"titles ({text}: {other})"
            graph = graph.merge(titles) if graph is not None and graph.nodes else titles
        except AnalysisError as exc:
            log.warning("%s: titles unusable (%s)", bin_dir, exc)
    if graph is not None and not graph.nodes:
        graph = None
    return RunGraph(graph, source)


class RunGraphs:
    """Var graphs by run id, each read from the store the first time a check asks for it."""

    def __init__(self) -> None:
        self._by_run: Dict[str, RunGraph] = {}
        self.parsed = 0  # how many runs were read (a campaign reads each at most once)

    def of(self, run_id: str, run_dir: Path) -> RunGraph:
        """The graph of one run (read on first use)."""
        got = self._by_run.get(run_id)
        if got is None:
            got = self._by_run[run_id] = read_run_graph(run_dir)
            self.parsed += 1
        return got

    def pair(self, run_a: str, dir_a: Path, run_b: str, dir_b: Path) -> RunGraph:
        """The graph to compare two runs over: A's, with B's filling vars A lacks."""
        a, b = self.of(run_a, dir_a), self.of(run_b, dir_b)
        if a.graph is None:
            return b
        if b.graph is None:
            return a
        return RunGraph(a.graph.merge(b.graph), a.source)
