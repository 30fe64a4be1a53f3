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


def lite_config(lite: ModuleType, graph: GraphOptions) -> tuple[object, list[str]]:
    """A ``LiteConfig`` carrying the options, and load_and_run's log lines for them."""
    config = lite.LiteConfig()
    o = config.options
    said: list[str] = []
    for layout in _LAYOUT_FIELDS:
        if getattr(graph, f"enable_{layout}"):
            setattr(o, f"enable_{layout}", True)
            said.append(f"enable {layout} optimization")
    if graph.enable_fuse_preprocess:
        o.fuse_preprocess = True
        said.append("enable fuse-preprocess optimization")
    if graph.weight_preprocess:
        o.weight_preprocess = True
        said.append("enable weight-preprocess optimization")
    if graph.const_shape:
        o.const_shape = True
        said.append("enable const var shape")
    if graph.fake_first:
        o.fake_next_exec = True
        said.append("enable fake-first optimization")
    if graph.no_sanity_check:
        o.var_sanity_check_first_run = False
        said.append("disable var sanity check optimization")
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
