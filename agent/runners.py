"""Runners: turn a RunRequest into an argv and environment for a configured program, never a shell string.

The base class validates the request against the runner's allow-lists and stages
blobs into the run folder; each runner only says what differs in its command line.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from agent import graph_options
from agent.blobs import BlobStore
from agent.config import RunnerConfig
from agent.errors import RequestError
from agent.paths import check_sha256
from agent.spec import RunRequest

#: Folder names inside a run folder; argv uses these relative paths (cwd is the run folder).
IN_DIR = "in"
OUT_DIR = "out"
BIN_DUMP = f"{OUT_DIR}/bin/"
TEXT_DUMP = f"{OUT_DIR}/io.txt"
ALGO_POLICY = "algo_policy.cache"
DBG_ENV = "MGB_USE_MEGDNN_DBG"
#: Never handed to a runner: the agent's own secret.
SCRUBBED_ENV = ("LARFARM_TOKEN",)

_INPUT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-/]{0,127}$")
_LITERAL = re.compile(r"^\[[\[\]0-9eE+\-., ]*\]$")
_FORMATS = ("npy", "ppm", "pgm", "json")
MAX_LITERAL = 64 << 10
MAX_ITER = 100_000


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]  # argv[0] is the configured program's absolute path
    env: dict[str, str]  # full environment for the child
    env_set: dict[str, str]  # what the agent set on top of its own environment (reported)


class Runner:
    """Template: validate + stage, then the subclass's argv; one instance per configured runner."""

    #: load_and_run keeps only the last dump option (formats spec §3.2); a runner that can do both says so.
    supports_both_dumps = False

    def __init__(self, cfg: RunnerConfig) -> None:
        self.cfg = cfg

    # --- template

    def prepare(self, req: RunRequest, run_dir: Path, blobs: BlobStore, base_env: dict[str, str]) -> Command:
        """Validate req, stage its blobs under run_dir/in, create the dump folders, build the command."""
        self.validate(req)
        (run_dir / IN_DIR).mkdir(parents=True, exist_ok=True)
        (run_dir / OUT_DIR).mkdir(parents=True, exist_ok=True)
        model = self._stage(blobs, req.model_sha256, run_dir / IN_DIR / "model.mge", "model")
        input_args = []
        for i, item in enumerate(req.inputs):
            if item.blob_sha256 is not None:
                rel = f"{IN_DIR}/input{i}.{item.format}"  # load_and_run picks the parser by suffix
                self._stage(blobs, item.blob_sha256, run_dir / rel, f"input {item.name!r}")
                input_args.append(f"{item.name}:{rel}")
            elif item.literal is not None:
                input_args.append(f"{item.name}:{item.literal}")
            else:
                input_args.append(f"{item.name}:{{{','.join(str(d) for d in item.shape or ())}}}")
        if req.bin_io_dump:
            (run_dir / BIN_DUMP).mkdir(parents=True, exist_ok=True)  # MegEngine needs it to exist
        policy = None
        if req.fast_run_algo_policy_sha256 or req.write_fast_run_algo_policy:
            folder = OUT_DIR if req.write_fast_run_algo_policy else IN_DIR
            policy = f"{folder}/{ALGO_POLICY}"
            if req.fast_run_algo_policy_sha256:
                # Copied, not linked: load_and_run may rewrite the cache, and the blob must not change.
                src = blobs.require(req.fast_run_algo_policy_sha256, "fast_run_algo_policy")
                shutil.copyfile(src, run_dir / policy)
        argv = [str(self.cfg.path), *self.cfg.args, *self.argv(req, model, input_args, policy)]
        env_set = dict(self.cfg.env)
        if req.megdnn_dbg is not None:
            env_set[DBG_ENV] = str(req.megdnn_dbg)
        env_set.update(dict(req.env))
        env = {k: v for k, v in base_env.items() if k not in SCRUBBED_ENV}
        env.update(env_set)
        return Command(tuple(argv), env, env_set)

    def validate(self, req: RunRequest) -> None:
        """Refuse anything the spec or this runner's allow-lists do not permit; one line per problem."""
        check_sha256(req.model_sha256, "model_sha256")
        if req.bin_io_dump and req.io_dump and not self.supports_both_dumps:
            raise RequestError(
                f"runner {self.cfg.name}: load_and_run keeps only the last dump option; "
                "ask for bin_io_dump and io_dump in two runs"
            )
        for item in req.inputs:
            if not _INPUT_NAME.match(item.name):
                raise RequestError(f"input name {item.name[:40]!r}: use letters, digits and _ . - / only")
            given = (item.blob_sha256 is not None) + (item.literal is not None) + (item.shape is not None)
            if given != 1:
                raise RequestError(f"input {item.name!r}: give exactly one of blob, literal, shape")
            if item.blob_sha256 is not None:
                check_sha256(item.blob_sha256, f"input {item.name!r}")
                if item.format not in _FORMATS:
                    raise RequestError(f"input {item.name!r}: format must be one of {', '.join(_FORMATS)}")
            if item.literal is not None:
                if len(item.literal) > MAX_LITERAL or not _LITERAL.match(item.literal):
                    raise RequestError(
                        f"input {item.name!r}: literal must be a nested list of numbers like [[1,2],[3,4]]"
                    )
            if item.shape is not None:
                if not item.shape or len(item.shape) > 7 or any(d <= 0 or d > 1 << 31 for d in item.shape):
                    raise RequestError(f"input {item.name!r}: shape needs 1 to 7 positive dims")
        for name, value in (("iter", req.iter), ("warmup_iter", req.warmup_iter)):
            if value is not None and not 0 <= value <= MAX_ITER:
                raise RequestError(f"{name} must be between 0 and {MAX_ITER}")
        if req.iter == 0:
            raise RequestError("iter must be at least 1")
        devices = [
            n
            for n, on in (
                ("cpu", req.cpu),
                ("cpu_default", req.cpu_default),
                ("multithread", req.multithread is not None),
                ("cuda", req.cuda),
            )
            if on
        ]
        if len(devices) > 1:
            raise RequestError(f"choose one device option, not {' and '.join(devices)}")
        if req.multithread is not None and not 1 <= req.multithread <= 1024:
            raise RequestError("multithread must be between 1 and 1024")
        if req.fast_run_algo_policy_sha256:
            check_sha256(req.fast_run_algo_policy_sha256, "fast_run_algo_policy_sha256")
        if req.write_fast_run_algo_policy and not req.fast_run:
            raise RequestError("write_fast_run_algo_policy needs fast_run (load_and_run writes the cache only then)")
        if req.megdnn_dbg is not None and req.megdnn_dbg not in (0, 1, 2):
            raise RequestError(f"megdnn_dbg must be 0, 1 or 2, not {req.megdnn_dbg}")
        for flag in req.extra_flags:
            if not self.flag_allowed(flag):
                raise RequestError(f"runner {self.cfg.name}: flag {flag[:60]!r} is not in extra_flags_allow")
        for key, env_value in req.env:
            if key != DBG_ENV and key not in self.cfg.env_allow:
                raise RequestError(f"runner {self.cfg.name}: environment variable {key[:60]!r} is not in env_allow")
            if "\x00" in env_value or len(env_value) > 4096:
                raise RequestError(f"environment variable {key}: value has NUL or is longer than 4096")
        if key_dbg := dict(req.env).get(DBG_ENV):
            if key_dbg not in ("0", "1", "2"):
                raise RequestError(f"{DBG_ENV} must be 0, 1 or 2, not {key_dbg[:20]!r}")
        self.check_options(req)

    def check_options(self, req: RunRequest) -> None:
        """Refuse graph options this runner's program does not take, naming the option."""
        try:
            graph_options.check(req.options)
        except graph_options.OptionError as exc:
            raise RequestError(f"runner {self.cfg.name}: {exc}") from None
        if req.lite:  # load_and_run --lite refuses these for a Lite model
            self._refuse_lite_only(req)

    def _refuse_lite_only(self, req: RunRequest) -> None:
        for name, message in graph_options.LITE_REFUSED.items():
            if getattr(req.options, name):
                raise RequestError(f"runner {self.cfg.name}: option {name} is refused for Lite models ({message})")

    def flag_allowed(self, flag: str) -> bool:
        """`--foo` in the allow-list permits `--foo` and `--foo=VALUE`; `--foo=bar` only itself."""
        if "\x00" in flag or "\n" in flag or len(flag) > 4096:
            return False
        for allowed in self.cfg.extra_flags_allow:
            if flag == allowed or ("=" not in allowed and flag.startswith(allowed + "=")):
                return True
        return False

    @staticmethod
    def _stage(blobs: BlobStore, sha: str, dest: Path, what: str) -> str:
        """Hard-link (or copy across file systems) a blob into the run folder; returns its relative name."""
        src = blobs.require(sha, what)
        try:
            os.link(src, dest)
        except OSError:
            shutil.copyfile(src, dest)
        return f"{dest.parent.name}/{dest.name}"

    # --- per runner

    def argv(self, req: RunRequest, model: str, inputs: list[str], policy: str | None) -> list[str]:
        raise NotImplementedError


class LoadAndRunRunner(Runner):
    """MegEngine's `load_and_run` binary (lite/load_and_run, MegEngine >= 1.7)."""

    def argv(self, req: RunRequest, model: str, inputs: list[str], policy: str | None) -> list[str]:
        out = [model]
        if inputs:
            out += ["--input", ";".join(inputs)]
        if req.bin_io_dump:
            out += ["--bin-io-dump", BIN_DUMP]
        if req.io_dump:
            out += ["--io-dump", TEXT_DUMP]
        dumping = req.bin_io_dump or req.io_dump
        # One forward per dump: every execution overwrites the bin files and appends to the text one.
        iters = req.iter if req.iter is not None else (1 if dumping else None)
        # With fake_first the first execution computes nothing (and dumps nothing): let it be the warm-up.
        fake = 1 if req.options.fake_first else 0
        warmup = req.warmup_iter if req.warmup_iter is not None else (fake if dumping else None)
        if iters is not None:
            out += ["--iter", str(iters)]
        if warmup is not None:
            out += ["--warmup-iter", str(warmup)]
        for on, flag in ((req.reproducible, "--reproducible"), (req.fast_run, "--fast-run")):
            if on:
                out.append(flag)
        if policy:
            out += ["--fast-run-algo-policy", policy]
        for on, flag in ((req.cpu, "--cpu"), (req.cpu_default, "--cpu-default"), (req.cuda, "--cuda")):
            if on:
                out.append(flag)
        if req.multithread is not None:
            out += ["--multithread", str(req.multithread)]
        for on, flag in ((req.lite, "--lite"), (req.verbose, "--verbose"), (req.model_info, "--model-info")):
            if on:
                out.append(flag)
        out += graph_options.to_flags(req.options)
        out += list(req.extra_flags)
        return out


class LiteRunner(LoadAndRunRunner):
    """`lar-lite`, the MegEngine Lite host program: load_and_run's command line, both dumps in one run."""

    supports_both_dumps = True

    def check_options(self, req: RunRequest) -> None:
        """lar-lite runs a Lite model on the CPU: load_and_run's Lite refusals, no CUDA target."""
        super().check_options(req)
        self._refuse_lite_only(req)
        if req.options.layout_transform == "cuda":
            raise RequestError(f"runner {self.cfg.name}: option layout_transform=cuda: lar-lite runs on the CPU only")


RUNNER_CLASSES = {"load_and_run": LoadAndRunRunner, "lite": LiteRunner}


def make_runner(cfg: RunnerConfig) -> Runner:
    if cfg.type == "adb":
        from agent.adb_runner import AdbRunner  # builds on this module's template

        return AdbRunner(cfg)
    return RUNNER_CLASSES[cfg.type](cfg)
