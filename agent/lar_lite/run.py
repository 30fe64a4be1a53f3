"""Run a model the way load_and_run's normal strategy does, on MegEngine Lite.

Load, feed the ``--input`` data, ``--warmup-iter`` untimed executions, then
``--iter`` timed ones, printing load_and_run's lines. The dumps come from
MegEngine's own TextOprIODump/BinaryOprIODump plugins through Lite, so their
names, headers and titles are MegEngine's. A Lite network holds one dump
plugin, so ``--io-dump`` with ``--bin-io-dump`` loads the model into a second
network that runs every execution beside the first (untimed).
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, List, Optional, Sequence, TextIO, Tuple

import numpy as np

from agent.graph_options import to_flags
from agent.lar_lite import exit_guard, report
from agent.lar_lite import inputs as input_forms
from agent.lar_lite import options as graph_options
from agent.lar_lite.engine import without_backtraces
from agent.lar_lite.errors import EngineError, InputSpecError, UsageError
from agent.lar_lite.flags import LarOptions

log = logging.getLogger(__name__)

# LiteAlgoSelectStrategy and LiteLogLevel values (megenginelite.struct).
HEURISTIC, PROFILE, REPRODUCIBLE, OPTIMIZED = 1, 2, 4, 8
LOG_DEBUG, LOG_WARN = 0, 2


def algo_policy(opts: LarOptions) -> int:
    """load_and_run's strategy flags: fast-run is PROFILE|OPTIMIZED, else HEURISTIC.

    ``--reproducible`` adds REPRODUCIBLE. (load_and_run's Lite path drops it
    unless ``--binary-equal-between-batch`` is also given; lar-lite honours it,
    as its MDL path does.)
    """
    policy = PROFILE | OPTIMIZED if opts.fast_run else HEURISTIC
    if opts.reproducible:
        policy |= REPRODUCIBLE
    return policy


def engine_message(exc: BaseException) -> str:
    """First meaningful line of a MegEngine Lite error, without build paths and C++ signatures.

    MegDNN assertions read "assertion `x' failed at /build/path/file.cpp:640:
    <C++ signature>"; the file and line are kept, the rest is noise here.
    """
    for line in str(exc).splitlines():
        line = line.strip()
        if line:
            return re.sub(r"failed at \S*?([^/\s]+:\d+):.*$", r"failed at \1", line)
    return type(exc).__name__


def check_paths(opts: LarOptions) -> None:
    """Refuse, before loading anything, paths that would fail later with a vaguer error."""
    model = Path(opts.model)
    if not model.is_file():
        what = "is a directory" if model.is_dir() else "is not a regular file" if model.exists() else "does not exist"
        raise UsageError(f"model file {opts.model} {what}")
    if opts.bin_io_dump and not Path(opts.bin_io_dump).is_dir():
        raise UsageError(
            f"--bin-io-dump: directory {opts.bin_io_dump} does not exist (create it first, as for load_and_run)"
        )
    if opts.bin_io_dump:
        # MegEngine only finds out in the middle of a forward, with a vague error.
        try:
            fd, probe = tempfile.mkstemp(prefix=".lar-lite-probe-", dir=opts.bin_io_dump)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise UsageError(f"--bin-io-dump: cannot write in {opts.bin_io_dump}: {exc.strerror or exc}") from None
    for flag, value in (("--io-dump", opts.io_dump), ("--output-npz", opts.output_npz)):
        if value:
            parent = Path(value).parent
            if not parent.is_dir():
                raise UsageError(f"{flag}: directory {parent} of {value} does not exist")
            if Path(value).is_dir():
                raise UsageError(f"{flag}: {value} is a directory")
    if opts.io_dump:
        # MegEngine's text dump plugin does not check its fopen: an unwritable
        # file is a segmentation fault in the first forward.
        _check_writable("--io-dump", opts.io_dump)
    if opts.fast_run_algo_policy:
        cache = Path(opts.fast_run_algo_policy)
        if not cache.exists():
            if not opts.fast_run:
                raise UsageError(f"--fast-run-algo-policy: {cache} does not exist; --fast-run is needed to create it")
            if not cache.parent.is_dir():
                raise UsageError(f"--fast-run-algo-policy: directory {cache.parent} does not exist")
        elif not cache.is_file():
            raise UsageError(f"--fast-run-algo-policy: {cache} is not a file")


def _check_writable(flag: str, path: str) -> None:
    """Open ``path`` for appending (nothing in it is lost); remove it again if it was new."""
    existed = os.path.lexists(path)
    try:
        with open(path, "a"):
            pass
    except OSError as exc:
        raise UsageError(f"{flag}: cannot write {path}: {exc.strerror or exc}") from None
    if not existed:
        os.unlink(path)


@dataclass
class RunResult:
    """Outputs of the last execution and the timings load_and_run prints."""

    outputs: List[Tuple[str, np.ndarray]] = field(default_factory=list)
    load_ms: float = 0.0
    iter_ms: List[float] = field(default_factory=list)
    dump_networks_agree: Optional[bool] = None


class LarRun:
    """One lar-lite invocation: networks, inputs, executions, printing."""

    def __init__(self, opts: LarOptions, lite: ModuleType, out: TextIO, err: TextIO) -> None:
        self.opts = opts
        self.lite = lite
        self.out = out
        self.err = err
        self.nets: List[Any] = []  # megenginelite networks (the binding has no types)
        #: "name {shape} dtype" of what the model declares and what was fed,
        #: to explain a forward that fails on a wrong input shape.
        self.declared: List[str] = []
        self.fed: List[str] = []

    def _say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _engine(self, what: str, call: Callable[[], Any], hint: str = "") -> Any:
        try:
            return call()
        except RuntimeError as exc:
            raise EngineError(f"{what}: {engine_message(exc)}{hint}") from None

    def _make_network(self, dump: str) -> Any:
        """A network with lar-lite's options and at most one dump plugin, model loaded."""
        lite, opts = self.lite, self.opts
        config, said = graph_options.lite_config(lite, opts.graph)
        if not self.nets:  # once, as load_and_run logs each option once
            for line in said:
                self._say(line)
        net = self._engine("creating the network", lambda: lite.LiteNetwork(config))
        if opts.cpu_default:
            self._engine("--cpu-default", net.enable_cpu_inplace_mode)
        if opts.multithread > 0:
            self._engine("--multithread", lambda: setattr(net, "threads_number", opts.multithread))
        self._engine("setting the algorithm policy", lambda: net.set_network_algo_policy(algo_policy(opts)))
        if dump == "txt":
            self._engine(f"--io-dump {opts.io_dump}", lambda: net.io_txt_dump(opts.io_dump))
        elif dump == "bin":
            self._engine(f"--bin-io-dump {opts.bin_io_dump}", lambda: net.io_bin_dump(opts.bin_io_dump))
        # An open file object keeps megfile's path handling out of the way.
        try:
            model_file = open(opts.model, "rb")
        except OSError as exc:
            raise UsageError(f"cannot read model file {opts.model}: {exc.strerror or exc}") from None
        self._engine("--layout-transform", lambda: graph_options.before_load(net, opts.graph))
        with model_file, without_backtraces():
            self._engine(f"loading model {opts.model}", lambda: net.load(model_file))
        said = self._engine(
            "--workspace-limit", lambda: graph_options.after_load(net, opts.graph), graph_options.LIMIT_HINT
        )
        if not self.nets:
            for line in said:
                self._say(line)
        self.nets.append(net)
        return net

    def _io(self, net: Any, phase: str) -> List[Tuple[str, Any]]:
        lite = self.lite
        if phase == "input":
            names = self._engine("reading the model's inputs", net.get_all_input_name)
            kind = lite.LiteTensorPhase.LITE_INPUT
        else:
            names = self._engine("reading the model's outputs", net.get_all_output_name)
            kind = lite.LiteTensorPhase.LITE_OUTPUT
        out: List[Tuple[str, Any]] = []
        for n in names:
            out.append((n, self._engine(f"{phase} {n}", functools.partial(net.get_io_tensor, n, kind))))
        return out

    def _feed(self, net: Any, values: Dict[str, input_forms.InputValue]) -> None:
        tensors = dict(self._io(net, "input"))
        if not self.declared:
            self.declared = [_describe(n, t.layout.shapes, t.layout.dtype) for n, t in tensors.items()]
        for name, value in values.items():
            if name not in tensors:
                raise InputSpecError(
                    f"--input: the model has no input named '{name}' (its inputs: {', '.join(tensors)})"
                )
            tensor = tensors[name]
            dtype = np.dtype(tensor.layout.dtype)
            arr = input_forms.fit_to_model(name, value, dtype)
            self._engine(f"setting input {name}", functools.partial(tensor.set_data_by_copy, arr))
            if len(self.fed) < len(values):
                self.fed.append(_describe(name, arr.shape, arr.dtype))

    def _model_info(self, net: Any) -> None:
        def rows(phase: str) -> List[Tuple[str, Sequence[int], str]]:
            result: List[Tuple[str, Sequence[int], str]] = []
            for name, tensor in self._io(net, phase):
                layout = tensor.layout
                result.append((name, list(layout.shapes), np.dtype(layout.dtype).name))
            return result

        self._say(report.model_info(rows("input"), rows("output")) + "\n")

    def _execute(self, net: Any) -> Tuple[float, float]:
        """One forward + wait; returns (host ms, end-to-end ms)."""
        # Armed only now: MegEngine registers its comp node's exit handler while loading, and ours must
        # come after it to run first. (So an exit() in the global layout transform's profiling, which
        # runs during the load, still hangs: there is no point between the two to register at.)
        flags = to_flags(self.opts.graph)
        exit_guard.arm(f" with {' '.join(flags)}" if flags else "")
        try:
            start = time.perf_counter()
            self._engine("forward", net.forward)
            host = (time.perf_counter() - start) * 1e3
            self._engine("forward", net.wait)
            return host, (time.perf_counter() - start) * 1e3
        except EngineError as exc:
            if not self.fed:
                raise
            raise EngineError(
                f"{exc} (inputs given: {', '.join(self.fed)}; the model declares: {', '.join(self.declared)})"
            ) from None

    def run(self) -> RunResult:
        """Do the whole invocation; raise a LarLiteError subclass on any failure."""
        opts, lite = self.opts, self.lite
        result = RunResult()
        check_paths(opts)
        values = input_forms.parse_inputs(opts.input) if opts.input else {}
        self._engine("setting the log level", lambda: lite.set_log_level(LOG_DEBUG if opts.verbose else LOG_WARN))
        cache_path = opts.fast_run_algo_policy
        if cache_path:
            # load_and_run: load the cache when the file exists, else start an
            # empty one that is synced to the file.
            exists = Path(cache_path).exists()
            self._engine(
                f"--fast-run-algo-policy {cache_path}: cannot load the algorithm cache",
                lambda: lite.LiteGlobal.set_persistent_cache(cache_path, not exists),
            )

        self._say("lar-lite (load_and_run on MegEngine Lite):")
        self._say(f"using MegEngine Lite {lite.__version__}")
        start = time.perf_counter()
        main = self._make_network("bin" if opts.bin_io_dump else ("txt" if opts.io_dump else ""))
        result.load_ms = (time.perf_counter() - start) * 1e3
        self._say(f"load model: {result.load_ms:.3f}ms")
        side = self._make_network("txt") if opts.bin_io_dump and opts.io_dump else None
        for net in self.nets:
            self._feed(net, values)
        if opts.model_info:
            self._model_info(main)

        if opts.graph.fake_first and opts.iter + opts.warmup_iter == 1:
            # MegEngine's fake first execution only allocates: no dump, garbage outputs.
            self.err.write(
                "lar-lite: warning: --fake-first: the only execution is the fake one (it computes and dumps "
                "nothing); add --warmup-iter 1\n"
            )
        prepare = time.perf_counter()
        for i in range(opts.warmup_iter):
            self._say(f"=== prepare: {(time.perf_counter() - prepare) * 1e3:.3f}ms; going to warmup\n")
            _, e2e = self._execute(main)
            if side is not None:
                self._execute(side)
            self._say(f"warm up {i}  {e2e:.3f}ms")
            prepare = time.perf_counter()
        for i in range(opts.iter):
            host, e2e = self._execute(main)
            if side is not None:
                self._execute(side)
            result.iter_ms.append(e2e)
            self._say(f"iter {i}/{opts.iter}: e2e={e2e:.3f} ms (host={host:.3f} ms)")
        self._say(_finished_line(result.iter_ms))
        self._say(f"=== total time: {sum(result.iter_ms):.3f}ms")

        if opts.iter + opts.warmup_iter > 0:
            result.outputs = [(n, self._engine(f"reading output {n}", t.to_numpy)) for n, t in self._io(main, "output")]
            for line in report.output_lines(result.outputs):
                self._say(line)
            if side is not None:
                side_out = [self._engine(f"reading output {n}", t.to_numpy) for n, t in self._io(side, "output")]
                result.dump_networks_agree = all(
                    a.tobytes() == b.tobytes() for (_, a), b in zip(result.outputs, side_out)
                )
                if not result.dump_networks_agree and not opts.graph.fake_first:
                    self.err.write(
                        "lar-lite: warning: the --io-dump network's outputs differ bitwise "
                        "from the --bin-io-dump network's (non-deterministic algorithms?)\n"
                    )
            if opts.output_npz:
                _save_npz(opts.output_npz, result.outputs)
        if opts.model_info:
            self._model_info(main)
        if cache_path and opts.fast_run:
            self._engine(
                f"writing --fast-run-algo-policy {cache_path}",
                lambda: lite.LiteGlobal.dump_persistent_cache(cache_path),
            )
        return result

    def close(self) -> None:
        """Destroy the networks: MegEngine closes the dump files only then."""
        both = len(self.nets) == 2
        while self.nets:
            self.nets.pop()
        if both and self.opts.graph.layout_transform:
            why = two_graphs(self.opts.io_dump, self.opts.bin_io_dump)
            if why:
                self.err.write(f"lar-lite: warning: --layout-transform: {why}\n")


def two_graphs(text_dump: str, bin_dir: str) -> str:
    """Why the two networks' dumps describe different graphs ("" when they do not).

    The global layout transform picks layouts by timing, separately in each
    network, so --io-dump and --bin-io-dump may come from two different graphs.
    """
    try:
        with open(text_dump, encoding="utf-8", errors="replace") as f:
            text_ids = {int(m.group(1)) for m in _TEXT_VAR.finditer(f.read())}
        bin_ids = {int(m.group(1), 16) for m in map(_BIN_NAME.fullmatch, os.listdir(bin_dir)) if m}
    except OSError:
        return ""
    if text_ids == bin_ids:
        return ""
    return (
        f"the two networks chose different layouts: {text_dump} describes {len(text_ids)} vars, "
        f"{bin_dir} holds {len(bin_ids)} ({len(bin_ids - text_ids)} not in the text dump); "
        "compare the binary dump's titles, not the text dump's graph"
    )


_TEXT_VAR = re.compile(r"^var(\d{1,20}) produced: ", re.MULTILINE)
_BIN_NAME = re.compile(r"([0-9a-f]{6,16})(?:-inp\d+)?")


def _describe(name: str, shape, dtype) -> str:
    return f"{name} {report.shape_str(shape)} {np.dtype(dtype).name}"


def _finished_line(times: List[float]) -> str:
    """load_and_run's summary; its 0/0 (one iteration) prints as glibc does on x86: ``-nan``."""
    n = len(times)
    total = sum(times)

    def ms(value: Optional[float]) -> str:
        return "-nan" if value is None else f"{value:.3f}"

    avg = total / n if n else None
    sd = math.sqrt(max((sum(t * t for t in times) * n - total * total) / (n * (n - 1)), 0.0)) if n > 1 else None
    lo = min(times) if times else None
    hi = max(times) if times else None
    return (
        f"\n=== finished test #0: time={total:.3f} ms avg_time={ms(avg)} ms "
        f"standard_deviation={ms(sd)} ms min={ms(lo)} ms max={ms(hi)} ms\n"
    )


def _save_npz(path: str, outputs: List[Tuple[str, np.ndarray]]) -> None:
    """Write the outputs atomically (temp file + rename), names as keys."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **dict(outputs))  # type: ignore[arg-type]  # numpy's stub reads a name as allow_pickle
        os.replace(tmp, path)
    except OSError as exc:
        raise UsageError(f"--output-npz: cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
