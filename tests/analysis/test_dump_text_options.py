"""Text dumps under graph options, on real MegEngine 1.13 files written by lar-lite.

NHWCD4 layouts (``@ I2D{..}``), the lazy form of ``--record-comp-seq``,
load-time records ahead of the forwards, and the two networks of one lar-lite
process describing different graphs under the global layout transform.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.dump_text import other_graph, parse_text_dump
from analysis.graph import VarGraph
from controller.checks.graphs import read_run_graph

OPTIONS = Path(__file__).resolve().parents[1] / "fixtures" / "megengine" / "options"
RUNS, TEXT = OPTIONS / "runs", OPTIONS / "text"
TWO_NETWORKS = TEXT / "big_conv__layout_transform__two_networks"


def bin_titles(folder: Path) -> dict:
    graph = VarGraph.from_dump_folder(folder)
    return {v: (n.name, n.shape) for v, n in graph.nodes.items()}


def test_nhwcd4_layouts_parse_with_their_format():
    dump = parse_text_dump(RUNS / "tiny_cnn" / "nhwcd4" / "io.txt")
    formats = {r.layout_format for r in dump.dumped()}
    assert {"I2D{2,1}", "I2D{3,1}"} <= formats
    padded = [r for r in dump.last if r.layout_format == "I2D{2,1}" and r.name == "data"]
    for rec in dump.dumped():
        if rec.layout_format:
            assert rec.shape is not None and len(rec.shape) == 5 and rec.shape[-1] == 4, rec.layout
    assert not padded  # the input stays NCHW; its relayout carries the format
    # every binary dump file of the same run is a record of this text dump, same name and shape
    assert other_graph(dump, bin_titles(RUNS / "tiny_cnn" / "nhwcd4" / "bin")) is None


def test_lazy_values_of_record_comp_seq_are_filled_from_the_recorded_values():
    dump = parse_text_dump(TEXT / "tiny_cnn__record__iter2" / "io.txt")
    assert dump.lazy and len(dump.iterations) == 1 and not dump.load_time
    recs = dump.last
    assert len(recs) == 17
    assert all(r.stats is not None and r.storage == "s" for r in recs)
    # the same model, input and kernels without recording: the same statistics
    plain = parse_text_dump(RUNS / "tiny_cnn" / "default" / "io.txt").by_id()
    for rec in recs:
        assert rec.name == plain[rec.id].name
        assert rec.stats == pytest.approx(plain[rec.id].stats, rel=1e-3, abs=1e-6), rec.name


@pytest.mark.parametrize(
    "name,load,forward",
    [("tiny_cnn__nchw88__iter2", 5, 17), ("tiny_cnn__nhwcd4__iter2", 8, 17), ("big_conv__default__iter2", 0, 9)],
)
def test_load_time_records_come_first_and_forwards_split_right(name, load, forward):
    dump = parse_text_dump(TEXT / name / "io.txt")
    assert len(dump.load_time) == load
    assert [len(it) for it in dump.iterations] == [forward, forward]
    assert [r.id for r in dump.iterations[0]] == [r.id for r in dump.iterations[1]]
    assert not {r.id for r in dump.load_time} & {r.id for r in dump.last}


@pytest.mark.parametrize("config,load", [("nchw44", 5), ("nchw88", 5), ("nhwcd4", 8), ("default", 0)])
def test_one_forward_keeps_the_load_time_records_apart_too(config, load):
    dump = parse_text_dump(RUNS / "tiny_cnn" / config / "io.txt")
    assert len(dump.load_time) == load and len(dump.iterations) == 1
    bin_ids = {int(p.name, 16) for p in (RUNS / "tiny_cnn" / config / "bin").iterdir()}
    assert {r.id for r in dump.dumped()} == bin_ids
    if load:  # the two-forward file of the same options agrees on what was load time
        two = parse_text_dump(TEXT / f"tiny_cnn__{config}__iter2" / "io.txt") if config != "nchw44" else None
        if two is not None:
            assert [r.name for r in two.load_time] == [r.name for r in dump.load_time]


def test_two_networks_that_chose_different_layouts_are_detected_not_merged():
    dump = parse_text_dump(TWO_NETWORKS / "io.txt")
    why = other_graph(dump, bin_titles(TWO_NETWORKS / "bin"))
    assert why is not None and "describes another graph than the binary dump" in why
    assert "global layout transform" in why
    # a campaign's graph of that run: the binary titles alone, saying why
    run = read_run_graph(TWO_NETWORKS)
    assert run.source.startswith("titles (") and "another graph" in run.source
    assert run.graph is not None and set(run.graph.nodes) == set(bin_titles(TWO_NETWORKS / "bin"))


@pytest.mark.parametrize("model", ["tiny_cnn", "mlp"])
def test_same_network_text_and_binary_dumps_agree_under_every_configuration(model):
    for config in sorted(p.name for p in (RUNS / model).iterdir()):
        folder = RUNS / model / config
        dump = parse_text_dump(folder / "io.txt")
        assert other_graph(dump, bin_titles(folder / "bin")) is None, config
        assert read_run_graph(folder).source.startswith("text dump"), config
