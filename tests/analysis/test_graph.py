"""The var graph from binary titles and from text dumps, on every fixture run."""

from pathlib import Path

import pytest

from analysis.dump_bin import encode_dump
from analysis.dump_text import parse_text_dump, parse_text_dump_lines
from analysis.errors import DumpFormatError, GraphError, TitleError
from analysis.graph import GraphDiff, VarGraph, VarNode, agree, ids_in_order, inputs_agree, merge

CN = 'CompNode("cpu0:0" from "cpu0:0")'


def item(var_id, name=None):
    name = name or f"v{var_id}"
    return (
        f"{{id:{var_id}, layout:{{2(1) Float32}}, Float32, owner:{name}{{Elemwise}}, name:{name}, slot:0, "
        f"{CN}, s, 4, 8}}"
    )


def title(var_id, *inputs):
    ins = [item(i) for i in inputs]
    listed = " ".join(f"{k}={x}" for k, x in enumerate(ins)) if len(ins) > 1 else "".join(ins)
    return f"var={item(var_id)} owner_opr_inputs={listed}"


def make_bin(folder: Path, graph: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for var_id, inputs in graph.items():
        (folder / f"{var_id:06x}").write_bytes(encode_dump(title(var_id, *inputs), 0, (2,), b"\0" * 8))
    return folder


def bin_runs(root: Path):
    found = sorted(p.parent for p in root.glob("runs/*/*/bin"))
    assert len(found) == 14  # 6 tiny_cnn + 6 mlp + big_conv default and naive
    return found


def test_text_and_binary_graphs_agree_on_every_fixture_run(megengine_fixtures):
    for run in bin_runs(megengine_fixtures):
        from_bin = VarGraph.from_dump_folder(run / "bin", strict=True)
        from_text = VarGraph.from_text_dump(run / "io_dump.txt")
        diff = agree(from_bin, from_text)
        assert diff.agree, (run, diff.describe())
        assert from_bin.agrees_with(from_text)
        for var_id, node in from_bin.nodes.items():
            other = from_text.nodes[var_id]
            assert (node.name, node.opr, node.opr_type, node.shape, node.dtype) == (
                other.name,
                other.opr,
                other.opr_type,
                other.shape,
                other.dtype,
            ), (run, var_id)
            assert node.inputs == other.inputs
        assert from_bin.problems == []


def test_tiny_cnn_edges(megengine_fixtures):
    graph = VarGraph.from_dump_folder(megengine_fixtures / "runs/tiny_cnn/default/bin")
    assert len(graph) == 17 and 9 in graph and 39 not in graph
    assert graph.inputs_of(9) == (5, 7)
    assert graph.inputs_of(41) == (28, 39)  # the host-value shape input stays an edge
    assert graph.consumers_of(9) == (16,)
    assert graph.consumers_of(39) == (41,)
    assert graph.consumers_of(50) == () and graph.inputs_of(12345) == ()
    assert graph.undumped_inputs() == {39}
    assert not graph.is_dumped(39) and graph.node(39).opr_type == "Concat" and graph.node(39).shape == (2,)
    assert graph.dependencies(16) == {5, 7, 9, 14}
    assert graph.dependents(9) == {16, 20, 23, 25, 28, 41, 45, 48, 50}
    assert graph.dependents(50) == frozenset()
    with pytest.raises(KeyError):
        graph.node(12345)


def test_execution_order_is_ascending_ids_on_real_graphs(megengine_fixtures):
    for run in bin_runs(megengine_fixtures):
        graph = VarGraph.from_dump_folder(run / "bin")
        order = graph.execution_order()
        assert order == sorted(graph.nodes)
        position = {v: i for i, v in enumerate(order)}
        for v in order:
            for i in graph.inputs_of(v):
                assert i not in position or position[i] < position[v]


def test_text_dump_records_are_not_in_id_order_but_the_graph_is(megengine_fixtures):
    dump = parse_text_dump(megengine_fixtures / "runs/mlp/default/io_dump.txt")
    recorded = [v.id for v in dump.last]
    assert recorded != sorted(recorded)  # constants appear when first used
    graph = VarGraph.from_text_dump(dump)
    assert graph.execution_order() == sorted(recorded)
    assert graph.recorded_order == tuple(recorded)
    from_bin = VarGraph.from_dump_folder(megengine_fixtures / "runs/mlp/default/bin")
    assert from_bin.recorded_order is None
    assert from_bin.merge(graph).recorded_order == tuple(recorded)


def test_execution_order_follows_edges_when_ids_do_not(tmp_path):
    graph = VarGraph.from_dump_folder(make_bin(tmp_path / "bin", {1: (), 2: (9,), 9: (1,), 4: (2, 1)}))
    assert graph.execution_order() == [1, 9, 2, 4]


def test_a_cycle_is_reported(tmp_path):
    graph = VarGraph.from_dump_folder(make_bin(tmp_path / "bin", {1: (2,), 2: (1,), 3: ()}))
    with pytest.raises(GraphError, match=r"cycle through vars \[1, 2\]"):
        graph.execution_order()


def test_an_opr_taking_one_var_twice(tmp_path):
    graph = VarGraph.from_dump_folder(make_bin(tmp_path / "bin", {1: (), 2: (1, 1)}))
    assert graph.inputs_of(2) == (1, 1)
    assert graph.consumers_of(1) == (2,)
    assert graph.execution_order() == [1, 2]


def test_bad_files_are_skipped_and_reported(tmp_path):
    folder = make_bin(tmp_path / "bin", {1: (), 2: (1,), 3: (2,), 4: (3,)})
    (folder / "000002").write_bytes(b"\0" * 7)
    (folder / "000003").write_bytes(encode_dump("var={id:3, bogus", 0, (2,), b"\0" * 8))
    (folder / "000004").write_bytes(encode_dump(title(5, 3), 0, (2,), b"\0" * 8))
    (folder / "000001-inp0").write_bytes(b"not even a header")  # input dumps are not graph nodes
    (folder / "README").write_text("stray")
    graph = VarGraph.from_dump_folder(folder)
    assert sorted(graph.nodes) == [1]
    reasons = [str(p) for p in graph.problems]
    assert reasons[0].startswith(f"{folder / '000002'}: offset 7: truncated header")
    assert reasons[1].startswith(f"{folder / '000003'}: title character ")
    assert reasons[2] == f"{folder / '000004'}: file name says var 4 but the title says var 5"
    with pytest.raises(DumpFormatError):
        VarGraph.from_dump_folder(folder, strict=True)
    (folder / "000002").unlink()
    with pytest.raises(TitleError, match="000003: title character"):
        VarGraph.from_dump_folder(folder, strict=True)


def test_text_graph_of_a_chosen_iteration():
    lines = [
        "var1 produced: name=a layout={2(1) Float32} owner_opr=a{Host2DeviceCopy} opr0",
        " deps:",
        " val: [1, 2]min=1 max=2 mean=1.5 l2=1.58 sd=0.707 s",
        "var3 produced: name=b layout={2(1) Float32} owner_opr=b{Elemwise} opr2",
        " deps:",
        "  var8:  <dev comp order> s",
        "  [i0]var1: [1, 2] s",
        " val: [1, 2]min=1 max=2 mean=1.5 l2=1.58 sd=0.707 s",
    ]
    dump = parse_text_dump_lines(lines + lines[:3])
    last = VarGraph.from_text_dump(dump)
    first = VarGraph.from_text_dump(dump, iteration=0)
    assert sorted(last.nodes) == [1] and sorted(first.nodes) == [1, 3]
    assert first.inputs_of(3) == (1,)  # the comp-order dep is not a data input
    assert first.nodes[3].opr_id == 2
    assert VarGraph.from_text_dump(parse_text_dump_lines([])).nodes == {}


def test_diff_describes_disagreements():
    a = VarGraph({1: VarNode(1, "a", "a", "T", (), (2,), "Float32"), 2: VarNode(2, "b", "b", "T", (1,), None, None)})
    b = VarGraph(
        {2: VarNode(2, "b", "b", "T", (1, 1), None, None, opr_id=7), 3: VarNode(3, "c", "c", "T", (), None, None)}
    )
    diff = a.diff(b)
    assert isinstance(diff, GraphDiff) and not diff.agree
    assert diff.describe() == [
        "vars only in the first graph: [1]",
        "vars only in the second graph: [3]",
        "var 2: inputs [1] vs [1, 1]",
    ]
    assert not a.agrees_with(b)


def test_merge_keeps_primary_and_fills_gaps(megengine_fixtures):
    run = megengine_fixtures / "runs/tiny_cnn/default"
    from_bin = VarGraph.from_dump_folder(run / "bin")
    from_text = VarGraph.from_text_dump(run / "io_dump.txt")
    merged = merge(from_bin, from_text)
    assert merged.nodes[16].opr_id == 15 and merged.nodes[16].shape == (1, 8, 32, 32)
    assert merged.external[39].opr_type == "Concat"
    assert merged.agrees_with(from_bin)


def test_ids_in_order():
    a = VarGraph({5: VarNode(5, "a", "a", "T", (), None, None), 2: VarNode(2, "b", "b", "T", (5,), None, None)})
    assert ids_in_order({2, 5, 9}, a) == [5, 2, 9]
    assert ids_in_order({2, 5, 9}) == [2, 5, 9]


def text_record(var_id, deps):
    lines = [
        f"var{var_id} produced: name=v{var_id} layout={{2(1) Float32}} owner_opr=v{var_id}{{Elemwise}} opr{var_id}",
        " deps:",
    ]
    lines += [f"  [i{k}]var{d}: [0, 0] s" for d, k in deps]
    return lines + [" val: [0, 0]min=0 max=0 mean=0 l2=0 sd=0 s"]


def test_a_var_taken_twice_is_printed_once_in_text_yet_both_sources_agree(tmp_path):
    # MegEngine's text dump keeps one dep line per var, at the var's last input index.
    from_bin = VarGraph.from_dump_folder(make_bin(tmp_path / "bin", {1: (), 3: (), 5: (1, 1), 7: (1, 3, 1)}))
    lines = text_record(1, []) + text_record(3, []) + text_record(5, [(1, 1)]) + text_record(7, [(3, 1), (1, 2)])
    from_text = VarGraph.from_text_dump(parse_text_dump_lines(lines))
    assert from_text.inputs_of(5) == (1,) and from_text.nodes[5].input_slots == (1,)
    assert not from_text.nodes[7].inputs_complete and from_bin.nodes[7].inputs_complete
    assert from_bin.agrees_with(from_text) and from_text.agrees_with(from_bin)
    merged = merge(from_text, from_bin)  # the complete list wins even from the secondary graph
    assert merged.inputs_of(5) == (1, 1) and merged.inputs_of(7) == (1, 3, 1)
    assert merged.nodes[7].opr_id == 7 and merged.nodes[7].inputs_complete


@pytest.mark.parametrize(
    "full,part,slots,expected",
    [
        ((1, 1), (1,), (1,), True),
        ((1, 3, 1), (3, 1), (1, 2), True),
        ((1, 3, 1), (1, 3), (0, 1), False),  # no gap: plain lists that differ
        ((3, 1, 1), (3, 1), (0, 2), True),
        ((1, 3, 1), (3, 1), (1, 3), False),  # index past the end
        ((2, 3, 1), (3, 1), (1, 2), False),  # var 2 never printed
        ((1, 3), (3, 1), (0, 2), False),
        ((3, 1, 3), (1, 3), (1, 2), True),
        ((1, 3, 3), (1, 3), (0, 2), True),
        ((3, 1, 3), (3, 1), (0, 1), False),
        ((1, 3, 1), (3, 1), (0, 2), False),  # the text puts 3 at index 0, the full list has 1 there
    ],
)
def test_inputs_agree(full, part, slots, expected):
    complete = VarNode(9, "v", "v", "T", full, None, None)
    partial = VarNode(
        9, "v", "v", "T", part, None, None, input_slots=None if slots == tuple(range(len(part))) else slots
    )
    assert inputs_agree(complete, partial) == expected
    assert inputs_agree(partial, complete) == expected
