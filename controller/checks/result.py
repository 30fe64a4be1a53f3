"""The checks' results as frozen data; the terminal, JSON and HTML reports only render these."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Mapping, Optional, Tuple

from analysis import render
from analysis.results import RunDiff, VarDiff
from analysis.thresholds import ThresholdReport

OK = "ok"  # within tolerance
DIFFERS = "differs"  # differences found
SKIPPED = "skipped"  # could not be made (device unhealthy, nothing to compare)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Two stored runs compared by analysis: its RunDiff and threshold report, labelled for the reports.

    Every number and every verdict (which vars differ, first, roots,
    amplification, the suggested cut) is analysis's; ``to_json()`` is exactly
    the object ``python -m analysis --json`` prints for the same two runs.
    """

    label: str
    devices: Tuple[str, ...]
    runs: Tuple[str, str]
    diff: RunDiff
    threshold_report: ThresholdReport

    @property
    def differs(self) -> bool:
        """Vars over tolerance, or dumps on one side only (analysis's ``clean``, negated)."""
        return not self.diff.clean

    def to_json(self) -> Dict[str, Any]:
        return render.to_json_data(self.diff, self.threshold_report)


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One check over one device (naive, shake) or one device pair (cross), or a whole campaign (thresholds).

    ``differing``, ``first`` and ``roots`` are read off the comparisons' RunDiffs
    (shake: gathered over its repeats); ``amplification`` holds the roots'
    values from the RunDiff that found them.
    """

    kind: str
    devices: Tuple[str, ...]
    runs: Tuple[str, ...]
    tolerance: float
    status: str
    differing: Tuple[int, ...] = ()
    first: Optional[VarDiff] = None
    roots: Tuple[VarDiff, ...] = ()
    amplification: Mapping[int, Optional[float]] = dataclasses.field(default_factory=dict)
    threshold: Optional[float] = None
    comparisons: Tuple[Comparison, ...] = ()
    note: str = ""
    details: Dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def differs(self) -> bool:
        return self.status == DIFFERS

    @classmethod
    def read_off(
        cls,
        kind: str,
        devices: Tuple[str, ...],
        runs: Tuple[str, ...],
        tolerance: float,
        status: str,
        diff: RunDiff,
        cut: Optional[float] = None,
        **fields: Any,
    ) -> CheckResult:
        """A result whose differing vars, first, roots and their amplification are ``diff``'s (at ``cut`` if given)."""
        roots = tuple(diff.roots(cut))
        amp = diff.amplification
        return cls(
            kind,
            devices,
            runs,
            tolerance,
            status,
            differing=tuple(v.var_id for v in diff.differing(cut)),
            first=diff.first(cut),
            roots=roots,
            amplification={v.var_id: amp.get(v.var_id) for v in roots},
            **fields,
        )


@dataclasses.dataclass(frozen=True)
class DeviceSummary:
    """A device as the report shows it: how it was reached and whether it stayed healthy."""

    name: str
    address: str
    runner: str
    labels: Dict[str, Any]
    healthy: bool
    reason: str = ""
    runs: Tuple[str, ...] = ()
    facts: Dict[str, Any] = dataclasses.field(default_factory=dict)
    attempts: int = 0
    options: Dict[str, Any] = dataclasses.field(default_factory=dict)  # effective graph options that are on


@dataclasses.dataclass(frozen=True)
class CampaignReport:
    """Everything a report shows."""

    campaign: str
    model: str
    tolerance: float
    checks_asked: Tuple[str, ...]
    devices: Tuple[DeviceSummary, ...]
    checks: Tuple[CheckResult, ...]
    store: str
    started_at: float
    finished_at: float
    bytes_fetched: int = 0
    bytes_dumped: int = 0

    @property
    def differs(self) -> bool:
        return any(c.differs for c in self.checks)

    @property
    def clean(self) -> bool:
        """Every device healthy and every check within tolerance (exit code 0)."""
        return not self.differs and not self.unhealthy and not any(c.status == SKIPPED for c in self.checks)

    @property
    def unhealthy(self) -> List[DeviceSummary]:
        return [d for d in self.devices if not d.healthy]
