"""The checks' results as frozen data; the terminal, JSON and HTML reports only render these."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Tuple

OK = "ok"  # within tolerance
DIFFERS = "differs"  # differences found
SKIPPED = "skipped"  # could not be made (device unhealthy, nothing to compare)


@dataclasses.dataclass(frozen=True)
class VarPoint:
    """One var of a comparison, in execution order: its error and where it comes from."""

    id: int
    err: float
    opr: str = ""
    type: str = ""
    name: str = ""


@dataclasses.dataclass(frozen=True)
class Root:
    """A var over tolerance none of whose inputs are: where the drift starts."""

    id: int
    opr: str
    type: str
    name: str
    err: float
    amplification: Optional[float]


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Two runs compared: which vars differ, the first one, the roots, a suggested threshold."""

    label: str
    devices: Tuple[str, ...]
    runs: Tuple[str, str]
    tolerance: float
    differing: Tuple[int, ...]
    first: Optional[int]
    first_var: Optional[VarPoint]
    roots: Tuple[Root, ...]
    threshold: Optional[float]
    roots_at_threshold: Tuple[Root, ...] = ()
    differing_at_threshold: Tuple[int, ...] = ()
    series: Tuple[VarPoint, ...] = ()
    compared: int = 0
    identical_by_digest: int = 0
    distribution: Dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One check over one device (naive, shake) or one device pair (cross), or a whole campaign (thresholds)."""

    kind: str
    devices: Tuple[str, ...]
    runs: Tuple[str, ...]
    tolerance: float
    status: str
    differing: Tuple[int, ...] = ()
    first: Optional[int] = None
    roots: Tuple[Root, ...] = ()
    threshold: Optional[float] = None
    comparisons: Tuple[Comparison, ...] = ()
    note: str = ""
    details: Dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def differs(self) -> bool:
        return self.status == DIFFERS

    @property
    def first_point(self) -> Optional[VarPoint]:
        """The first differing var with its opr, from the comparison that found it (None if unknown)."""
        return next(
            (c.first_var for c in self.comparisons if c.first_var is not None and c.first_var.id == self.first), None
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
