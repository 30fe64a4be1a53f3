"""Run a campaign over a farm: schedule every device, then make the checks and the report."""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from pathlib import Path
from typing import Dict, List, Mapping, Optional, cast

from analysis.errors import AnalysisError
from controller import events as ev
from controller import plan
from controller.agent_client import Facts
from controller.campaign import Campaign, materialize_inputs
from controller.checks.cross import cross_check
from controller.checks.graphs import RunGraphs
from controller.checks.naive import naive_check
from controller.checks.options_check import options_check
from controller.checks.result import CampaignReport, CheckResult, DeviceSummary
from controller.checks.shake import shake_check
from controller.checks.thresholds_check import thresholds_checks
from controller.endpoint import open_endpoint
from controller.errors import CampaignFailed, ConfigError, StoreError
from controller.events import Listener, maybe
from controller.farm import Farm
from controller.local_agent import LocalAgents
from controller.scheduler import PerDeviceQueueScheduler, Scheduler
from controller.store import Store
from controller.worker import DeviceOutcome, DeviceWorker

log = logging.getLogger(__name__)


def check_baseline(farm: Farm, campaign: Campaign) -> str:
    """The baseline device of the cross check (the campaign's, else the farm's first)."""
    names = [d.name for d in farm.devices]
    if campaign.baseline is None:
        return names[0]
    if campaign.baseline not in names:
        shown, line, field = campaign._baseline_at or (farm.path or "farm.yaml", None, "campaign.baseline")
        raise ConfigError(
            shown, line, field, f"no device named {campaign.baseline} in the farm (have: {', '.join(names)})"
        )
    return campaign.baseline


def run_campaign(
    farm: Farm,
    campaign: Campaign,
    out: Path,
    resume: bool = False,
    listener: Optional[Listener] = None,
    scheduler: Optional[Scheduler] = None,
) -> CampaignReport:
    """Run `campaign` on every device of `farm`, store the runs under `out`, return the report's data."""
    emit = maybe(listener)
    started = time.time()
    baseline = check_baseline(farm, campaign)
    store = Store(out, campaign.name)
    store.prepare(campaign.options_digest(), resume)
    blobs: Dict[str, Path] = {"model": campaign.model_path()}
    blobs.update(materialize_inputs(campaign, store.root / "inputs"))
    local = LocalAgents(env_allow=campaign.env.keys(), flags_allow=campaign.extra_flags)
    cancel = threading.Event()
    workers: List[DeviceWorker] = []
    for device in farm.devices:
        workers.append(
            DeviceWorker(
                device.name,
                device.runner,
                campaign,
                store,
                open_endpoint=functools.partial(open_endpoint, farm, device, local),
                blobs=blobs,
                listener=emit,
                cancel=cancel,
                where=device.where(),
                options=device.options.over(campaign.options),
            )
        )
    for w in workers:
        emit(ev.DeviceEvent(w.device, ev.QUEUED, w.where))
    try:
        done = (scheduler or PerDeviceQueueScheduler(on_cancel=cancel.set)).run(workers)
        outcomes = cast(List[DeviceOutcome], done)  # a DeviceWorker's job returns its DeviceOutcome
    finally:
        local.stop_all()
    healthy = [o for o in outcomes if o.healthy]
    if not healthy:
        reasons = "; ".join(f"{o.device} ({o.address}): {o.reason}" for o in outcomes)
        raise CampaignFailed(f"no device could run the campaign: {reasons}")
    options_of = {d.name: d.options.over(campaign.options).given() for d in farm.devices}
    checks = make_checks(campaign, store, outcomes, baseline, options_of)
    return CampaignReport(
        campaign=campaign.name,
        model=campaign.model,
        tolerance=campaign.tolerance,
        checks_asked=tuple(campaign.checks),
        devices=tuple(_summary(farm, o, campaign) for o in outcomes),
        checks=tuple(checks),
        store=str(store.root),
        started_at=started,
        finished_at=time.time(),
        bytes_fetched=sum(r.bytes_fetched for o in outcomes for r in o.records.values()),
        # both sums over every file a run wrote, so "fetched X of Y" never reads over 100%
        bytes_dumped=sum(r.bytes_dumped for o in outcomes for r in o.records.values()),
    )


def make_checks(
    campaign: Campaign,
    store: Store,
    outcomes: List[DeviceOutcome],
    baseline: str,
    options_of: Optional[Mapping[str, Mapping[str, object]]] = None,
) -> List[CheckResult]:
    """Every asked check over the healthy devices; unhealthy ones appear as skipped.

    ``options_of`` gives each device's effective graph options that are on (for the options check).

    One graph cache for the whole campaign: each run's text dump and titles are
    parsed once, though the default run takes part in naive, cross and every shake repeat.
    """
    by_name = {o.device: o for o in outcomes}
    graphs = RunGraphs()
    made: List[CheckResult] = []
    for o in outcomes:
        if not o.healthy:
            for kind in ("naive", "shake"):
                if kind in campaign.checks:
                    made.append(
                        CheckResult(
                            kind, (o.device,), (), campaign.tolerance, "skipped", note=f"device unhealthy: {o.reason}"
                        )
                    )
            continue
        if "naive" in campaign.checks:
            made.append(
                _guard(
                    "naive",
                    (o.device,),
                    campaign,
                    lambda o=o: naive_check(o.device, o.records, store, campaign.tolerance, graphs),
                )
            )
        if "shake" in campaign.checks:
            made.append(
                _guard(
                    "shake",
                    (o.device,),
                    campaign,
                    lambda o=o: shake_check(o.device, o.records, store, campaign, graphs),
                )
            )
    if "cross" in campaign.checks:
        base = by_name.get(baseline)
        for o in outcomes:
            if o.device == baseline:
                continue
            if base is None or not base.healthy or not o.healthy:
                down = base if base is None or not base.healthy else o
                # the reason too: the device's own checks may not be in the report to say it (--checks cross)
                why = (
                    f"device unhealthy: {down.device}: {down.reason}"
                    if down is not None
                    else f"device unhealthy: {baseline}"
                )
                made.append(CheckResult("cross", (baseline, o.device), (), campaign.tolerance, "skipped", note=why))
                continue
            made.append(
                _guard(
                    "cross",
                    (baseline, o.device),
                    campaign,
                    lambda o=o: cross_check(
                        baseline,
                        base.records.get(plan.DEFAULT),
                        o.device,
                        o.records.get(plan.DEFAULT),
                        store,
                        campaign.tolerance,
                        graphs,
                    ),
                )
            )
    if "options" in campaign.checks:
        made += _options_checks(campaign, store, outcomes, graphs, options_of or {})
    made = [_say_failed_runs(c, by_name) for c in made]
    if "thresholds" in campaign.checks:
        made += thresholds_checks(made, campaign.tolerance)
    return made


def _say_failed_runs(check: CheckResult, by_name: Mapping[str, DeviceOutcome]) -> CheckResult:
    """A check skipped for missing runs says which run its device's graph options made fail, and MegEngine's line."""
    if check.status != "skipped" or check.note != "runs missing":
        return check
    failed = [
        f"{d}.{role} failed: {why}" for d in check.devices if d in by_name for role, why in by_name[d].failed.items()
    ]
    return dataclasses.replace(check, note="; ".join(failed)) if failed else check


def _options_checks(
    campaign: Campaign,
    store: Store,
    outcomes: List[DeviceOutcome],
    graphs: RunGraphs,
    options_of: Mapping[str, Mapping[str, object]],
) -> List[CheckResult]:
    """One options check per device that ran a plain run beside its deployed one (devices with graph options)."""
    made: List[CheckResult] = []
    for o in outcomes:
        plain = o.records.get(plan.PLAIN)
        if not o.healthy and options_of.get(o.device):
            note = f"device unhealthy: {o.reason}"
            made.append(CheckResult("options", (o.device,), (), campaign.tolerance, "skipped", note=note))
            continue
        if not o.healthy or plain is None:
            continue
        given = options_of.get(o.device, {})
        made.append(
            _guard(
                "options",
                (o.device,),
                campaign,
                lambda o=o, given=given: options_check(o.device, given, o.records, store, campaign.tolerance, graphs),
            )
        )
    return made


def _guard(kind: str, devices: tuple, campaign: Campaign, make) -> CheckResult:
    """Make one check; a dump that cannot be read skips that check (named), not the campaign."""
    try:
        return make()
    except (AnalysisError, StoreError) as exc:
        log.warning("%s %s: %s", kind, " vs ".join(devices), exc)
        return CheckResult(kind, devices, (), campaign.tolerance, "skipped", note=f"could not compare: {exc}")


def _summary(farm: Farm, o: DeviceOutcome, campaign: Campaign) -> DeviceSummary:
    dev = farm.device(o.device)
    return DeviceSummary(
        name=o.device,
        address=o.address,
        runner=dev.runner,
        labels=dict(dev.labels),
        healthy=o.healthy,
        reason=o.reason,
        runs=tuple(r.run_id for r in o.records.values()),
        facts=_small_facts(o.facts),
        attempts=o.attempts,
        options=dev.options.over(campaign.options).given(),
    )


def _small_facts(facts: Optional[Facts]) -> Dict[str, object]:
    """What the report shows of a device, from the facts its agent gave (none if it never answered)."""
    if facts is None:
        return {}
    return {
        "hostname": facts.hostname,
        "arch": facts.arch,
        "os": facts.os,
        "cpu_model": facts.cpu_model,
        "cpu_cores": facts.cpu_cores,
        "agent_version": facts.agent_version,
        **({"phone": dataclasses.asdict(facts.phone)} if facts.phone is not None else {}),
    }
