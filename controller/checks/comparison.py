"""Compare two stored runs with analysis: their manifests' digests, the campaign's cached graphs, one call.

No metric and no tolerance decision lives here: vars whose dump files have the
same sha256 in both manifests are analysis's ``identical_by_digest`` (never
read, never fetched), the rest is analysis's comparison of the stored files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Tuple

from analysis import thresholds
from analysis.compare import compare_runs
from analysis.compare_matched import compare_graph_matched, graphs_differ
from analysis.dump_names import BIN_DIR
from analysis.results import RunDiff
from analysis.thresholds import ThresholdReport
from controller.checks.graphs import RunGraphs
from controller.checks.result import Comparison
from controller.errors import StoreError
from controller.store import RunRecord, Store


def compare_stored(
    a: RunRecord,
    dir_a: Path,
    b: RunRecord,
    dir_b: Path,
    tolerance: float,
    graphs: Optional[RunGraphs] = None,
) -> Tuple[RunDiff, ThresholdReport]:
    """analysis's RunDiff of run b against reference run a, and its threshold report.

    Raises StoreError when a dump the comparison needs is missing or unreadable
    in the store (never a silent zero).
    """
    if _whole(a, dir_a) and _whole(b, dir_b) and graphs_differ(dir_a / BIN_DIR, dir_b / BIN_DIR):
        # other graph options (layouts, fusion): vars paired by analysis.match, layouts undone
        diff = compare_graph_matched(dir_a / BIN_DIR, dir_b / BIN_DIR, tolerance)
    else:
        graph = (graphs or RunGraphs()).pair(a.run_id, dir_a, b.run_id, dir_b)
        diff = compare_runs(
            dir_a / BIN_DIR,
            dir_b / BIN_DIR,
            tolerance,
            records_a=a.dump_records(),
            records_b=b.dump_records(),
            graph=graph.graph,
            graph_source=graph.source,
        )
    bad = diff.errors()
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise StoreError(
            f"{b.run_id} vs {a.run_id}: a dump needed for the comparison is not in the store "
            f"or unreadable: {bad[0].error}{more}"
        )
    return diff, thresholds.analyse(diff)


def _whole(run: RunRecord, folder: Path) -> bool:
    """True when every dump file of the run's manifest is in the store (digest-first may leave some out)."""
    names = [r.name for r in run.dump_records()]
    return bool(names) and all((folder / name).is_file() for name in names)


def compare_pair(
    label: str,
    devices: Sequence[str],
    a: RunRecord,
    b: RunRecord,
    store: Store,
    tolerance: float,
    graphs: Optional[RunGraphs] = None,
) -> Comparison:
    """Two runs of this campaign's store compared, labelled for the reports."""
    diff, report = compare_stored(a, store.run_dir(a.run_id), b, store.run_dir(b.run_id), tolerance, graphs)
    return Comparison(label, tuple(devices), (a.run_id, b.run_id), diff, report)
