"""load_and_run's command line, parsed the way gflags does it (no numpy, no MegEngine).

Forms accepted, as in load_and_run: ``--flag=value``, ``--flag value`` (non-bool
flags), ``-flag`` for ``--flag``, dashes or underscores in names, bool flags as
``--flag``, ``--noflag`` or ``--flag=true|false``; flags may come before or
after the model path; ``--`` ends the flags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from agent.graph_options import LITE_REFUSED, OPTIONS, GraphOptions, OptionError, check, flag
from agent.lar_lite.errors import UsageError

#: name -> (kind, default, help). Kinds: "str", "int", "bool".
FLAGS: Dict[str, Tuple[str, object, str]] = {
    "input": (
        "str",
        "",
        "model inputs: name:file.npy|.ppm|.pgm, file.json, name:[[1,2]], name:{1,3,224,224}; several joined by ';'",
    ),
    "io_dump": ("str", "", "text io dump of every opr's output to FILE"),
    "bin_io_dump": ("str", "", "binary io dump, one file per var, into DIR (must exist)"),
    "iter": ("int", 10, "measured iterations"),
    "warmup_iter": ("int", 1, "warm-up iterations before the measured ones"),
    "reproducible": ("bool", False, "only choose REPRODUCIBLE algorithms"),
    "fast_run": ("bool", False, "choose algorithms by profiling (PROFILE|OPTIMIZED)"),
    "fast_run_algo_policy": (
        "str",
        "",
        "persistent algorithm cache FILE (read if it exists; written at exit with --fast-run)",
    ),
    "multithread": ("int", -1, "run on N CPU threads"),
    "cpu": ("bool", False, "run on the CPU (the only device here)"),
    "cpu_default": ("bool", False, "run on the CPU in inplace (caller-thread) mode"),
    "cuda": ("bool", False, "refused: lar-lite runs on the CPU only"),
    "verbose": ("bool", False, "log level DEBUG (shows the algorithm chosen for each opr)"),
    "model_info": ("bool", False, "print the model's input/output table before and after running"),
    "lite": ("bool", False, "use the Lite interface (always the case in lar-lite)"),
    "copy_to_host": ("bool", False, "accepted for compatibility; Lite always copies outputs"),
    "output_npz": ("str", "", "lar-lite extension: save the outputs of the last run to FILE (.npz)"),
    "help": ("bool", False, "show this help"),
}
#: load_and_run's graph options, typed as in the run spec (agent.graph_options).
_GRAPH_KINDS = {"bool": ("bool", False), "uint64": ("int", -1), "target": ("str", "")}
FLAGS.update({name: (*_GRAPH_KINDS[kind], text) for name, (kind, text) in OPTIONS.items()})

_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")


@dataclass
class LarOptions:
    """A parsed lar-lite command line."""

    model: str = ""
    input: str = ""
    io_dump: str = ""
    bin_io_dump: str = ""
    iter: int = 10
    warmup_iter: int = 1
    reproducible: bool = False
    fast_run: bool = False
    fast_run_algo_policy: str = ""
    multithread: int = -1
    cpu: bool = False
    cpu_default: bool = False
    cuda: bool = False
    verbose: bool = False
    model_info: bool = False
    lite: bool = False
    copy_to_host: bool = False
    output_npz: str = ""
    help: bool = False
    graph: GraphOptions = field(default_factory=GraphOptions)
    given: List[str] = field(default_factory=list)


def usage() -> str:
    """The help text: one line per flag, in load_and_run's dash spelling."""
    lines = ["usage: lar-lite <model_path> [flags...]", "", "flags:"]
    for name, (kind, default, text) in FLAGS.items():
        spell = "--" + name.replace("_", "-")
        arg = "" if kind == "bool" else (" N" if kind == "int" else " VALUE")
        dflt = f" (default {default})" if isinstance(default, int) and kind == "int" and default >= 0 else ""
        lines.append(f"  {spell + arg:<30} {text}{dflt}")
    lines.append("")
    lines.append("MGB_USE_MEGDNN_DBG=0|1|2 in the environment picks optimised, fallback or naive kernels.")
    return "\n".join(lines)


def _lookup(raw: str) -> Tuple[str, Optional[bool]]:
    """Map a spelled flag name to (canonical name, forced bool value for --noX)."""
    name = raw.replace("-", "_")
    if name in FLAGS:
        return name, None
    if name.startswith("no") and FLAGS.get(name[2:], ("",))[0] == "bool":
        return name[2:], False
    raise UsageError(f"unknown command line flag '{raw}' (see lar-lite --help)")


def _convert(name: str, kind: str, value: str) -> object:
    spell = "--" + name.replace("_", "-")
    if kind == "str":
        return value
    if kind == "int":
        try:
            return int(value.strip(), 10)
        except ValueError:
            raise UsageError(f"{spell}: invalid value '{value}' (expected an integer)") from None
    low = value.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise UsageError(f"{spell}: invalid value '{value}' (expected true or false)")


def parse_args(argv: Sequence[str]) -> LarOptions:
    """Parse load_and_run-style arguments into LarOptions; raise UsageError on any mistake."""
    opts = LarOptions()
    positional: List[str] = []
    graph: Dict[str, object] = {}
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            positional.extend(args[i:])
            break
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            continue
        body = arg[2:] if arg.startswith("--") else arg[1:]
        raw, eq, value = body.partition("=")
        name, forced = _lookup(raw)
        kind = FLAGS[name][0]
        if forced is not None:
            if eq:
                raise UsageError(f"--{raw}: takes no value")
            result: object = False
        elif eq:
            result = _convert(name, kind, value)
        elif kind == "bool":
            result = True
        else:
            if i >= len(args):
                raise UsageError(f"--{raw}: missing value")
            result = _convert(name, kind, args[i])
            i += 1
        if name in OPTIONS:
            graph[name] = result
        else:
            setattr(opts, name, result)
        opts.given.append(name)
    if opts.help:
        return opts
    if not positional:
        raise UsageError("no model given (usage: lar-lite <model_path> [flags...])")
    if len(positional) > 1:
        raise UsageError(f"more than one model given: {' '.join(positional)}")
    opts.model = positional[0]
    opts.graph = _graph_options(graph)
    _validate(opts)
    return opts


def _graph_options(values: Dict[str, object]) -> GraphOptions:
    """The graph options given; what load_and_run refuses for a Lite model is refused the same way."""
    limit = values.get("workspace_limit")
    if isinstance(limit, int) and limit < 0:
        raise UsageError(f"--workspace-limit: must be >= 0, got {limit}")
    opts = GraphOptions(**values)  # type: ignore[arg-type]
    for name, message in LITE_REFUSED.items():
        if getattr(opts, name):
            raise UsageError(f"{flag(name)}: {message} (load_and_run refuses it for Lite models too)")
    if opts.layout_transform == "cuda":
        raise UsageError("--layout-transform=cuda: lar-lite runs MegEngine Lite on the CPU only; use cpu")
    try:
        check(opts)
    except OptionError as exc:
        raise UsageError(str(exc)) from None
    return opts


#: load_and_run's --iter, --warmup-iter and --multithread are gflags int32: a larger value is refused there.
INT32_MAX = (1 << 31) - 1


def _validate(opts: LarOptions) -> None:
    for name in ("iter", "warmup_iter", "multithread"):
        value = getattr(opts, name)
        if value > INT32_MAX:  # 1e20 iterations would run for ever instead of failing as load_and_run does
            raise UsageError(f"--{name.replace('_', '-')}: must be at most {INT32_MAX}, got {value}")
    if opts.iter < 0:
        raise UsageError(f"--iter: must be >= 0, got {opts.iter}")
    if opts.warmup_iter < 0:
        raise UsageError(f"--warmup-iter: must be >= 0, got {opts.warmup_iter}")
    if "multithread" in opts.given and opts.multithread < 1:
        raise UsageError(f"--multithread: must be >= 1, got {opts.multithread}")
    if opts.cuda:
        raise UsageError("--cuda: lar-lite runs MegEngine Lite on the CPU only; use load_and_run for CUDA")
    if opts.cpu_default and opts.multithread > 0:
        raise UsageError("--cpu-default and --multithread exclude each other")
    if opts.output_npz and opts.iter + opts.warmup_iter == 0:
        # Nothing runs, so nothing would be saved: say so rather than exit 0 without the file.
        raise UsageError("--output-npz: --iter and --warmup-iter are both 0, no execution to save")
    for name in ("input", "io_dump", "bin_io_dump", "fast_run_algo_policy", "output_npz"):
        if name in opts.given and getattr(opts, name) == "":
            raise UsageError(f"--{name.replace('_', '-')}: empty value")
