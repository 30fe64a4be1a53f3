"""The `adb` runner: load_and_run on an Android phone, driven by agent.adb_run through the adb program.

The template (agent.runners.Runner) validates and stages the request as for any
runner; this runner then hands the phone's argv and environment to agent.adb_run,
which the agent supervises like any program (timeout, cancel, output, dump watch).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import agent
from agent.adb import Phone, PhoneError, PhoneFacts, phone_facts
from agent.blobs import BlobStore
from agent.config import AgentConfig, RunnerConfig
from agent.errors import ConfigError
from agent.runners import SCRUBBED_ENV, Command, LoadAndRunRunner
from agent.spec import RunRequest

#: Facts of a phone are asked for before every run of a campaign; getprop is not free.
FACTS_TTL_S = 10.0
_facts_cache: dict[tuple[str, str], tuple[float, PhoneFacts]] = {}


class AdbRunner(LoadAndRunRunner):
    """A real load_and_run on the phone keeps only its last dump option, as on any board."""

    def __init__(self, cfg: RunnerConfig) -> None:
        if cfg.adb is None:
            raise ConfigError(f"runners.{cfg.name}", "an adb runner needs `adb:` settings")
        super().__init__(cfg)
        self.adb = cfg.adb

    def prepare(self, req: RunRequest, run_dir: Path, blobs: BlobStore, base_env: dict[str, str]) -> Command:
        """Stage locally as any runner, then run agent.adb_run with the phone's argv after `--`."""
        local = super().prepare(req, run_dir, blobs, base_env)
        lar_args = list(local.argv[1 + len(self.cfg.args) :])
        argv = [sys.executable, "-m", "agent.adb_run", "--adb", str(self.cfg.path), "--serial", self.adb.serial]
        argv += ["--workdir", self.adb.workdir, "--program", self.adb.program]
        if self.adb.program_local is not None:
            argv += ["--program-local", str(self.adb.program_local)]
        for key, value in sorted(local.env_set.items()):
            argv += ["--env", f"{key}={value}"]
        argv += ["--", *lar_args]
        env = {k: v for k, v in base_env.items() if k not in SCRUBBED_ENV}
        # the driver is this package run as a program: from a checkout, an install or the zipapp alike
        root = str(Path(agent.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        return Command(tuple(argv), env, dict(local.env_set))


def phone_of(config: AgentConfig) -> RunnerConfig | None:
    """The adb runner of an agent that serves one phone and nothing else (the controller's local agents).

    An agent with several runners (a USB hub of phones, or a phone beside the PC's own runner)
    describes the PC: no one phone speaks for it, and a phone that is locked or unplugged must
    not make GetFacts, and with it every other device of the agent, fail; its runs say so.
    """
    if len(config.runners) == 1 and config.runners[0].type == "adb":
        return config.runners[0]
    return None


def facts_of(runner: RunnerConfig) -> PhoneFacts:
    """The phone's facts (PhoneError naming it when it cannot be reached), cached for a few seconds."""
    settings = runner.adb
    if settings is None:
        raise ConfigError(f"runners.{runner.name}", "an adb runner needs `adb:` settings")
    key = (str(runner.path), settings.serial)
    hit = _facts_cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < FACTS_TTL_S:
        return hit[1]
    phone = Phone(str(runner.path), settings.serial)
    phone.connect()
    facts = phone_facts(phone, settings.workdir)
    _facts_cache[key] = (time.monotonic(), facts)
    return facts


__all__ = ["AdbRunner", "PhoneError", "facts_of", "phone_of"]
