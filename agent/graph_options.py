"""MegEngine's graph options (layouts, fusion, recording, memory) as one typed record and its flags.

A device's deployed configuration (``enable_nchw44``, ``weight_preprocess``...)
rewrites the graph it runs, so the run spec carries it as typed fields, never
as free strings. The field names are load_and_run's flag names with
underscores; :func:`to_flags` spells them back the way load_and_run (and
lar-lite) parse them. Standard library only, Python 3.8: boards run this.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Union

from agent.errors import RequestError

OptionValue = Union[bool, int, str]

#: The one-at-a-time layout options (load_and_run: "invalid options of layout transform").
LAYOUTS = (
    "enable_nchw4",
    "enable_chwn4",
    "enable_nchw44",
    "enable_nchw44_dot",
    "enable_nchw88",
    "enable_nchw32",
    "enable_nchw64",
    "enable_nhwcd4",
)
#: Targets load_and_run's ``--layout-transform`` takes.
LAYOUT_TRANSFORM_TARGETS = ("cpu", "cuda")
#: Largest workspace limit load_and_run's uint64 flag holds.
MAX_WORKSPACE = (1 << 64) - 1


@dataclass(frozen=True)
class GraphOptions:
    """load_and_run's graph options; defaults are "not given" (load_and_run's own defaults)."""

    enable_nchw4: bool = False
    enable_chwn4: bool = False
    enable_nchw44: bool = False
    enable_nchw44_dot: bool = False
    enable_nchw88: bool = False
    enable_nchw32: bool = False
    enable_nchw64: bool = False
    enable_nhwcd4: bool = False
    enable_fuse_preprocess: bool = False
    weight_preprocess: bool = False
    enable_fuse_conv_bias_nonlinearity: bool = False
    enable_fuse_conv_bias_with_z: bool = False
    const_shape: bool = False
    fake_first: bool = False
    no_sanity_check: bool = False
    record_comp_seq: bool = False
    record_comp_seq2: bool = False
    disable_mem_opt: bool = False
    workspace_limit: int | None = None  # bytes; None: no limit
    layout_transform: str = ""  # "" (off), "cpu" or "cuda": the global layout transform's target
    enable_jit: bool = False

    def given(self) -> dict[str, OptionValue]:
        """The options that are set, by name, in declaration order (what run.json records)."""
        out: dict[str, OptionValue] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if not (value is False or value is None or value == ""):  # 0 is a workspace limit, not "off"
                out[f.name] = value
        return out


#: name -> (kind, help); kinds: "bool", "uint64", "target". The order is GraphOptions'.
OPTIONS: dict[str, tuple[str, str]] = {
    "enable_nchw4": ("bool", "NCHW4 layout (int8 on GPUs; float: conv-bias fusion only)"),
    "enable_chwn4": ("bool", "CHWN4 layout (GPU); load_and_run refuses it for Lite models"),
    "enable_nchw44": ("bool", "NCHW44 layout (ARM fp32): 5-D activations (N, C/4, H, W, 4)"),
    "enable_nchw44_dot": ("bool", "NCHW44 layout with dot-product kernels (ARM int8)"),
    "enable_nchw88": ("bool", "NCHW88 layout (x86 AVX): 5-D activations (N, C/8, H, W, 8)"),
    "enable_nchw32": ("bool", "NCHW32 layout (int8 on GPUs; float: conv-bias fusion only)"),
    "enable_nchw64": ("bool", "NCHW64 layout (int4 on GPUs; float: conv-bias fusion only)"),
    "enable_nhwcd4": ("bool", "NHWCD4 layout (mobile GPUs): channels padded to 4, marked @ I2D in the dumps"),
    "enable_fuse_preprocess": ("bool", "fuse astype / pad_channel / dimshuffle after the input copy"),
    "weight_preprocess": ("bool", "pre-process weights once (winograd, im2col); same graph"),
    "enable_fuse_conv_bias_nonlinearity": ("bool", "fuse conv+bias+nonlinearity; refused for Lite models"),
    "enable_fuse_conv_bias_with_z": ("bool", "fuse conv+bias+z (GPU); refused for Lite models"),
    "const_shape": ("bool", "constant var shapes: same vars, shifted ids"),
    "fake_first": ("bool", "first execution only allocates, computes nothing"),
    "no_sanity_check": ("bool", "no var sanity check on the first execution"),
    "record_comp_seq": ("bool", "record the computing sequence (level 1); text dumps write values lazily"),
    "record_comp_seq2": ("bool", "record level 2 (frees the graph); needs no_sanity_check"),
    "disable_mem_opt": ("bool", "no memory plan optimisation; refused for Lite models"),
    "workspace_limit": ("uint64", "upper bound in bytes of each opr's workspace (changes algorithm choice)"),
    "layout_transform": ("target", "global layout transform for the target (cpu or cuda): layouts chosen by timing"),
    "enable_jit": ("bool", "JIT-compile elemwise chains (needs a JIT build; CPU wheels have none)"),
}

#: What load_and_run itself refuses for a Lite model (``--lite``, and every lar-lite run), with its message.
LITE_REFUSED: dict[str, str] = {
    "enable_chwn4": "lite model unsupport chwn4 layout",
    "enable_fuse_conv_bias_nonlinearity": "fuse conv+bias+nonlinearity not supported in lite model",
    "enable_fuse_conv_bias_with_z": "fuse conv+bias+z optimization not supported in lite model",
    "disable_mem_opt": "lite model don't support disable memory optimization",
}


class OptionError(RequestError):
    """An option value or combination load_and_run would reject; str() names the option.

    A RequestError, so it has its place in the agent's one error tree (lar-lite turns it into its UsageError).
    """


def flag(name: str) -> str:
    """load_and_run's spelling of an option: ``--enable-nchw44``."""
    return "--" + name.replace("_", "-")


def check(opts: GraphOptions) -> None:
    """Raise OptionError for what load_and_run refuses whatever the model: two layouts, bad values."""
    layouts = [name for name in LAYOUTS if getattr(opts, name)]
    if len(layouts) > 1:
        raise OptionError(f"choose one layout option, not {' and '.join(flag(n) for n in layouts)}")
    if opts.record_comp_seq2 and not opts.no_sanity_check:
        raise OptionError("--record-comp-seq2 needs --no-sanity-check (load_and_run asserts it)")
    if opts.record_comp_seq and opts.record_comp_seq2:
        raise OptionError("choose one of --record-comp-seq and --record-comp-seq2")
    if opts.layout_transform and opts.layout_transform not in LAYOUT_TRANSFORM_TARGETS:
        raise OptionError(
            f"--layout-transform: unsupported target {opts.layout_transform!r} "
            f"(one of {', '.join(LAYOUT_TRANSFORM_TARGETS)})"
        )
    limit = opts.workspace_limit
    if limit is not None and (isinstance(limit, bool) or not 0 <= limit <= MAX_WORKSPACE):
        raise OptionError(f"--workspace-limit: must be between 0 and {MAX_WORKSPACE} bytes, got {limit}")


def to_flags(opts: GraphOptions) -> list[str]:
    """load_and_run's command-line flags for the options set, in a fixed order."""
    out: list[str] = []
    for name, value in opts.given().items():
        if value is True:
            out.append(flag(name))
        else:
            out.append(f"{flag(name)}={value}")
    return out
