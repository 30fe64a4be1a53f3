"""Apply load_and_run's graph options to a MegEngine Lite network, printing load_and_run's lines.

load_and_run (lite/load_and_run/src/options) maps each flag onto a
``LiteConfig.options`` field before the model is loaded, or onto a network
call (workspace limit, global layout transform), and logs one line per option;
lar-lite does the same, with the same words, so a log says what was on.
"""

from __future__ import annotations

from types import ModuleType

from agent.graph_options import GraphOptions

#: Layout option -> LiteOptions field (same names; chwn4 has none: refused before this).
#: Said after the engine's refusal: Lite sets the limit after loading, too late for these options.
LIMIT_HINT = (
    " (this option combination compiled the graph at load: a layout option or record level 2;"
    " MegEngine Lite sets the workspace limit only after loading)"
)
_LAYOUT_FIELDS = ("nchw4", "nchw44", "nchw44_dot", "nchw88", "nchw32", "nchw64", "nhwcd4")
#: Graph option -> (Lite option attribute, value to set, the line load_and_run logs for it).
_SWITCHES = (
    ("enable_fuse_preprocess", "fuse_preprocess", True, "enable fuse-preprocess optimization"),
    ("weight_preprocess", "weight_preprocess", True, "enable weight-preprocess optimization"),
    ("const_shape", "const_shape", True, "enable const var shape"),
    ("fake_first", "fake_next_exec", True, "enable fake-first optimization"),
    ("no_sanity_check", "var_sanity_check_first_run", False, "disable var sanity check optimization"),
)


def lite_config(lite: ModuleType, graph: GraphOptions) -> tuple[object, list[str]]:
    """A ``LiteConfig`` carrying the options, and load_and_run's log lines for them."""
    config = lite.LiteConfig()
    o = config.options
    said: list[str] = []
    for layout in _LAYOUT_FIELDS:
        if getattr(graph, f"enable_{layout}"):
            setattr(o, f"enable_{layout}", True)
            said.append(f"enable {layout} optimization")
    for field, lite_attr, value, line in _SWITCHES:
        if getattr(graph, field):
            setattr(o, lite_attr, value)
            said.append(line)
    level = 2 if graph.record_comp_seq2 else (1 if graph.record_comp_seq else 0)
    if level:
        o.comp_node_seq_record_level = level
        said.append(f"set record_comp_seq_level to {level}")
    if graph.enable_jit:
        o.jit_level = 1
        said.append("enable JIT (level 1)")
    if graph.layout_transform:
        said.append("using global layout transform optimization")
    return config, said


def before_load(net: object, graph: GraphOptions) -> None:
    """Network calls that must precede ``load``: the global layout transform."""
    if graph.layout_transform:
        net.enable_global_layout_transform()  # type: ignore[attr-defined]


def after_load(net: object, graph: GraphOptions) -> list[str]:
    """Network calls load_and_run makes once the model is loaded; returns their log lines."""
    if graph.workspace_limit is None:
        return []
    net.set_network_algo_workspace_limit(graph.workspace_limit)  # type: ignore[attr-defined]
    return [f"set workspace limit to {graph.workspace_limit}"]
