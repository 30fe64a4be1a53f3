"""Roots, first var, amplification and transitive dependencies, independent of order."""

from __future__ import annotations

import math
import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import roots
from analysis.compare import compare_folders
from analysis.graph import VarGraph
from tests.analysis.synthetic import run_network

RUNS = Path(__file__).resolve().parents[1] / "fixtures/megengine/runs"


def test_roots_basic() -> None:
    inputs = {3: (1, 2), 4: (3,), 5: (4, 2), 6: (5, 99)}
    assert roots.find_roots({3, 4, 5}, inputs) == [3]
    assert roots.find_roots({4, 6}, inputs) == [4, 6]  # 6's differing path goes through undumped/equal 5
    assert roots.find_roots({1, 3}, inputs) == [1]  # an input-less var that differs is the root
    assert roots.find_roots({6}, {6: (99,)}) == [6]  # inputs never dumped
    assert roots.find_roots(set(), inputs) == []
    assert roots.first_var({9, 4, 7}) == 4 and roots.first_var([]) is None


@settings(max_examples=80, deadline=None)
@given(st.integers(2, 40), st.integers(0, 10**6), st.floats(0.05, 0.9))
def test_roots_are_order_independent_and_minimal(n: int, seed: int, p: float) -> None:
    rnd = random.Random(seed)
    inputs = {v: tuple(rnd.sample(range(v), rnd.randint(0, min(v, 3)))) for v in range(n)}
    bad = [v for v in range(n) if rnd.random() < p]
    expected = roots.find_roots(bad, inputs)
    shuffled_inputs = dict(rnd.sample(list(inputs.items()), len(inputs)))
    shuffled_bad = rnd.sample(bad, len(bad))
    assert roots.find_roots(shuffled_bad, shuffled_inputs) == expected
    for v in bad:
        has_bad_input = any(i in bad for i in inputs[v])
        assert (v in expected) == (not has_bad_input)
    # every differing var is reached from some root (or is one)
    for v in bad:
        assert v in expected or any(r in roots.dependencies(v, inputs) for r in expected)


def test_amplification() -> None:
    inputs = {3: (1, 2), 4: (3,), 5: (4,), 6: (1,), 7: (42,), 8: (5,)}
    errors = {1: 0.0, 2: 0.0, 3: 1e-6, 4: 4e-6, 5: 1e-6, 6: 0.0, 7: 1e-3, 8: math.inf}
    amp = roots.amplification(errors, inputs)
    assert amp[3] == math.inf  # created from exact inputs
    assert amp[4] == 4.0 and amp[5] == 0.25
    assert amp[6] is None  # exact from exact: nothing to amplify
    assert amp[7] is None and amp[1] is None  # no input with a known error
    assert amp[8] == math.inf


def test_dependencies_match_the_var_graph(megengine_fixtures: Path) -> None:
    graph = VarGraph.from_text_dump(megengine_fixtures / "runs/mlp/default/io_dump.txt")
    inputs = {v: n.inputs for v, n in graph.nodes.items()}
    for v in list(graph.nodes)[::5]:
        assert roots.dependencies(v, inputs) == set(graph.dependencies(v))
        assert roots.dependents(v, inputs) == set(graph.dependents(v))


def test_run_roots_find_the_injected_opr(tmp_path: Path) -> None:
    run_network(tmp_path / "A")
    run_network(tmp_path / "B", inject={16: 1e-3})
    run = compare_folders(tmp_path / "A", tmp_path / "B", 1e-7)
    assert run.first().var_id == 16 and run.first().var_name == "fc2"
    assert [v.var_id for v in run.roots()] == [16]
    assert run.amplification[16] == math.inf
    assert {v.var_id for v in run.differing()} <= {16} | set(run.dependents(16))


def test_fixture_roots_with_text_dump_graph_equal_title_graph(megengine_fixtures: Path) -> None:
    base = megengine_fixtures / "runs/tiny_cnn"
    graph = VarGraph.from_text_dump(base / "default/io_dump.txt")
    with_text = compare_folders(
        base / "default/bin",
        base / "fastrun/bin",
        1e-7,
        inputs_of={v: n.inputs for v, n in graph.nodes.items()},
        order=graph.execution_order(),
    )
    with_titles = compare_folders(base / "default/bin", base / "fastrun/bin", 1e-7)
    assert [v.var_id for v in with_text.roots()] == [v.var_id for v in with_titles.roots()] == [20]
    assert with_text.graph_source == "text dump"
