"""Which runs a campaign makes on each device, their specs, and which files each must fetch.

One default run per device is shared by every check (naive compares against it,
shake counts it as its first repeat, cross compares it across devices).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Set

from controller.agent_client import InputSpec as AgentInput
from controller.agent_client import RunSpec
from controller.campaign import Campaign
from controller.graph_options import GraphOptions
from controller.store import RunRecord

DEFAULT = "default"
NAIVE = "naive"
NAIVE_DBG_LEVEL = 2  # MGB_USE_MEGDNN_DBG=2: MegDNN's naive reference kernels
#: The options check's run: the device with no graph options at all (its deployed run is DEFAULT).
PLAIN = "plain"


@dataclasses.dataclass(frozen=True)
class PlannedRun:
    """One run of the plan: its role names it within the device."""

    role: str
    megdnn_dbg: Optional[int] = None
    reproducible: bool = False
    plain: bool = False  # run without any graph option (the options check's reference)


def run_id(device: str, role: str) -> str:
    """Store id of a run: stable across sessions, which is what makes --resume work."""
    return f"{device}.{role}"


def repeat_role(k: int) -> str:
    return DEFAULT if k == 1 else f"repeat-{k}"


def repro_role(k: int) -> str:
    return f"reproducible-{k}"


def base_runs(campaign: Campaign, options: Optional[GraphOptions] = None) -> List[PlannedRun]:
    """The runs every device makes before any decision: default, naive, repeats, and plain for the options check.

    ``options`` are the device's effective graph options: with some on, the options check
    adds a run of the same device without them.
    """
    runs = [PlannedRun(DEFAULT, reproducible=campaign.reproducible)]
    effective = options if options is not None else campaign.options
    if "options" in campaign.checks and effective.given():
        runs.append(PlannedRun(PLAIN, reproducible=campaign.reproducible, plain=True))
    if "naive" in campaign.checks:
        runs.append(PlannedRun(NAIVE, megdnn_dbg=NAIVE_DBG_LEVEL, reproducible=campaign.reproducible))
    if "shake" in campaign.checks:
        runs += [PlannedRun(repeat_role(k), reproducible=campaign.reproducible) for k in range(2, campaign.repeats + 1)]
    return runs


def repro_runs(campaign: Campaign) -> List[PlannedRun]:
    """The shake step's second half: the same repeats with --reproducible."""
    return [PlannedRun(repro_role(k), reproducible=True) for k in range(1, campaign.repeats + 1)]


def shake_roles(campaign: Campaign) -> List[str]:
    return [repeat_role(k) for k in range(1, campaign.repeats + 1)]


def build_spec(
    campaign: Campaign,
    planned: PlannedRun,
    runner: str,
    model_sha: str,
    inputs: Mapping[str, str],
    device: str,
    options: Optional[GraphOptions] = None,
) -> RunSpec:
    """The agent RunSpec of one planned run: always both dumps (bin for values, text for the graph).

    ``options`` are the device's effective graph options (its own over the campaign's).
    """
    items = tuple(
        AgentInput(name=name, blob_sha256=sha, format=Path(fmt_of(name, campaign)).suffix[1:])
        for name, sha in inputs.items()
    )
    return RunSpec(
        model_sha256=model_sha,
        runner=runner,
        inputs=items,
        bin_io_dump=True,
        io_dump=runner == "lite",  # load_and_run keeps one dump option: graph from bin titles then
        reproducible=planned.reproducible,
        fast_run=campaign.fast_run,
        multithread=campaign.multithread,
        extra_flags=tuple(campaign.extra_flags),
        megdnn_dbg=planned.megdnn_dbg,
        env=dict(campaign.env),
        timeout_s=campaign.timeout_s,
        label=f"{campaign.name}/{run_id(device, planned.role)}",
        options=GraphOptions() if planned.plain else options if options is not None else campaign.options,
    )


def fmt_of(name: str, campaign: Campaign) -> str:
    """The file name whose suffix gives an input's format (seeded inputs are .npy)."""
    spec = campaign.inputs[name]
    return spec.file if spec.file is not None else f"{name}.npy"


def differing(a: RunRecord, b: RunRecord) -> Set[str]:
    """Binary dump files whose digests differ between two runs (or exist in one only)."""
    da, db = a.bin_digests(), b.bin_digests()
    return {n for n in set(da) | set(db) if da.get(n) != db.get(n)}


def needed_files(campaign: Campaign, records: Mapping[str, RunRecord]) -> Dict[str, Set[str]]:
    """role -> the files the checks need from it; identical digests need no bytes.

    The default run is fetched whole when cross is asked for (devices are compared
    pairwise later, when the other agent may be gone) or when `fetch: all`.
    """
    need: Dict[str, Set[str]] = {}
    for role, rec in records.items():
        names = {f.name for f in rec.manifest if not f.name.startswith("bin/")}
        if campaign.fetch == "all":
            names |= set(rec.bin_digests())
        need[role] = names
    default = records.get(DEFAULT)
    if default is not None and ("cross" in campaign.checks or PLAIN in records):
        need[DEFAULT] |= set(default.bin_digests())
    plain = records.get(PLAIN)
    if plain is not None:  # other graphs: matching by graph reads every file of both
        need[PLAIN] |= set(plain.bin_digests())
    for role, rec in records.items():
        ref_role = repro_role(1) if role.startswith("reproducible-") else DEFAULT
        ref = records.get(ref_role)
        if ref is None or role == ref_role:
            continue
        diff = differing(rec, ref)
        need[role] |= diff & set(rec.bin_digests())
        need[ref_role] |= diff & set(ref.bin_digests())
    return need
