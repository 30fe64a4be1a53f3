"""Graph matching on real MegEngine 1.13 dumps under seven graph configurations.

The fixtures (tests/fixtures/megengine/options/runs, made by lar-lite with the
real engine; see generate.py there) are judged by values only
(tests/analysis/match_quality.py): every proposed pair must hold the same
tensor, and at least 98% of B's vars that have a counterpart must be paired.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis import cli
from analysis.compare_matched import choose_matching, compare_graph_matched
from analysis.match import RunVars, folder_loader, pair_runs
from tests.analysis.match_quality import all_pairs

RUNS = Path(__file__).resolve().parents[1] / "fixtures" / "megengine" / "options" / "runs"
TINY = RUNS / "tiny_cnn"
# Models of this matching work (residual + depthwise; activations and branches): ../fixtures/megengine/match
MORE = Path(__file__).resolve().parents[1] / "fixtures" / "megengine" / "match" / "runs"


@pytest.mark.parametrize("model", ["tiny_cnn", "mlp"])
def test_precision_and_recall_for_every_pair_of_configurations(model):
    results = all_pairs(RUNS, model)
    assert len(results) == 42  # 7 configurations, both directions
    for (x, y), q in results.items():
        assert not q.wrong, f"{model} {x} vs {y}: pairs holding different tensors {q.wrong}"
        assert q.recall >= 0.98, f"{model} {x} vs {y}: recall {q.recall:.3f}, missed B vars {q.missed}"
    # The layout configurations really change the graph (otherwise this test proves little).
    if model == "tiny_cnn":
        assert len(RunVars.from_dump_folder(TINY / "nchw88" / "bin").vars) == 22


@pytest.mark.parametrize(("model", "runs"), [("res_dw", 30), ("conv_act", 12), ("mobile_stack", 42)])
def test_precision_and_recall_on_residual_depthwise_and_activation_models(model, runs):
    results = all_pairs(MORE, model)
    assert len(results) == runs  # the configurations the engine could run (see index.json there)
    for (x, y), q in results.items():
        assert not q.wrong, f"{model} {x} vs {y}: pairs holding different tensors {q.wrong}"
        assert q.recall >= 0.98, f"{model} {x} vs {y}: recall {q.recall:.3f}, missed B vars {q.missed}"


def test_matched_compare_finds_where_nhwcd4_goes_wrong_on_the_residual_net(capsys):
    """MegEngine 1.13's NHWCD4 pass changes res_dw's logits; the matched compare names the first bad opr."""
    res = MORE / "res_dw"
    code = cli.main([str(res / "default" / "bin"), str(res / "nhwcd4" / "bin"), "-e", "1e-4", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and data["matching"] == "graph"
    ra = RunVars.from_dump_folder(res / "default" / "bin")
    (root,) = data["roots"]
    assert ra.vars[root].name == "RELU[2]"  # relu(residual add + bias), right after the residual ConvBias
    by_id = {v["var_id"]: v for v in data["vars"] if not v.get("secondary")}
    before = [v for v in by_id.values() if v["var_id"] < root and v["max_err"] is not None]
    assert before and all(v["max_err"] <= 1e-4 for v in before)  # everything before it agrees after the undo


def test_conv_fused_into_conv_bias_is_unmatched_with_reason_and_the_chain_end_pairs():
    a, b = TINY / "default" / "bin", TINY / "nchw88" / "bin"
    m = pair_runs(RunVars.from_dump_folder(a), RunVars.from_dump_folder(b), folder_loader(a, b))
    partner = m.partner_of_b()
    rb = RunVars.from_dump_folder(b)
    conv_bias = [v.id for v in rb.vars.values() if v.type == "ConvBiasForward"]
    assert len(conv_bias) == 2
    ra = RunVars.from_dump_folder(a)
    for cb in conv_bias:
        assert ra.vars[partner[cb]].type == "Elemwise"  # conv + bias + relu: the relu var
        assert ra.vars[partner[cb]].name == rb.vars[cb].name
    reasons = dict(m.unmatched_a)
    convs = [v.id for v in ra.vars.values() if v.type == "ConvolutionForward"]
    assert sorted(reasons) == sorted(convs)
    assert all("fused into ConvBias" in reasons[c] for c in convs)
    assert not m.unmatched_b
    # A's execution order.
    order = [ra.order.index(x) for x, _ in m.pairs]
    assert order == sorted(order)


def test_identical_graphs_pair_by_id_and_const_shape_by_graph():
    assert choose_matching(TINY / "default" / "bin", TINY / "naive" / "bin", "auto") == "id"
    assert choose_matching(TINY / "default" / "bin", TINY / "const_shape" / "bin", "auto") == "graph"
    assert choose_matching(TINY / "default" / "bin", TINY / "naive" / "bin", "graph") == "graph"


def test_graph_compare_is_in_a_terms_and_has_no_relayout_root(capsys):
    a, b = TINY / "naive" / "bin", TINY / "nchw44" / "bin"
    code = cli.main([str(a), str(b), "-e", "1e-7", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    assert data["matching"] == "graph"
    ra = RunVars.from_dump_folder(a)
    assert all(x in ra.vars for x, _ in data["pairs"])
    assert {u["var_id"] for u in data["unmatched_a"]} == {9, 20}
    assert all(u["reason"] for u in data["unmatched_a"])
    assert data["unmatched_b"] == []
    assert data["roots"] == [16], "the first conv (fused with bias and relu in B) differs first"
    for root in data["roots"]:
        assert ra.vars[root].type not in ("Reshape", "Dimshuffle", "RelayoutFormat")
    by_id = {v["var_id"]: v for v in data["vars"] if not v.get("secondary")}
    relu1 = by_id[16]
    assert relu1["opr_type_b"] == "ConvBiasForward" and relu1["var_id_b"] != 16
    assert relu1["shape_a"] == relu1["shape_b"] == [1, 8, 32, 32]  # errors on the undone layout
    assert relu1["layout"]


def test_text_report_says_how_vars_were_matched(capsys):
    cli.main([str(TINY / "default" / "bin"), str(TINY / "nhwcd4" / "bin")])
    out = capsys.readouterr().out
    assert "matching: by graph (" in out
    assert "unmatched in A: var 9: fused into ConvBias" in out
    cli.main([str(TINY / "default" / "bin"), str(TINY / "naive" / "bin"), "--match", "auto"])
    assert "matching: by var id" in capsys.readouterr().out


def test_forced_id_matching_on_different_graphs_keeps_the_old_one_sided_report(capsys):
    code = cli.main([str(TINY / "default" / "bin"), str(TINY / "nchw88" / "bin"), "--match", "id", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and data["matching"] == "id"
    assert {u["reason"] for u in data["unmatched_b"]} == {"only in run B"}


def test_nhwcd4_pairs_crop_padded_channels():
    run = compare_graph_matched(TINY / "default" / "bin", TINY / "nhwcd4" / "bin", 1e-5)
    data = run.to_dict()
    first_conv = next(v for v in data["vars"] if v.get("var_id_b") is not None and v["opr_type_b"] == "ConvBiasForward")
    assert first_conv["max_err"] <= 1e-5
    data_var = [v for v in data["vars"] if v["var_id"] == 5]
    assert any("nhwcd4" in v["layout"] for v in data_var)  # the input (3 channels) against its 4-channel relayout


@pytest.mark.browser
def test_graph_view_shows_b_names_beside_a_names(tmp_path, capsys):
    from tests.analysis.test_graph_html import _open
    from tests.support import browser

    browser.require()
    out = tmp_path / "matched.html"
    cli.main([str(TINY / "naive" / "bin"), str(TINY / "nchw44" / "bin"), "-e", "1e-7", "--json", "--html", str(out)])
    data = json.loads(capsys.readouterr().out)
    relu1 = next(v for v in data["vars"] if v["var_id"] == 16 and not v["secondary"])
    with browser.chromium() as context:
        page, errors = _open(context, out)
        drawn = page.eval_on_selector_all("[data-var-id]", "els => els.map(e => Number(e.dataset.varId))")
        assert 16 in drawn and 9 not in drawn  # the conv fused away in B is not drawn; relu1 is, once
        assert len(drawn) == len(set(drawn))
        page.locator('[data-var-id="16"]').click()
        names_b = page.locator('.lg-panel [data-field="names-b"]').inner_text()
        assert f"in B: var {relu1['var_id_b']}" in names_b and "relu1.RELU" in names_b
        assert errors == []


@pytest.mark.browser
def test_graph_view_says_how_vars_were_matched(tmp_path, capsys):
    from tests.analysis.test_graph_html import _open
    from tests.support import browser

    browser.require()
    out = tmp_path / "matched.html"
    cli.main([str(TINY / "default" / "bin"), str(TINY / "nhwcd4" / "bin"), "--html", str(out)])
    capsys.readouterr()
    with browser.chromium() as context:
        page, errors = _open(context, out)
        box = page.locator('[data-field="matching"]')
        assert box.get_attribute("data-matching") == "graph"
        assert "matched by graph" in box.locator("summary").inner_text()
        box.locator("summary").click()
        assert "fused into ConvBias" in page.locator('[data-unmatched="A9"]').inner_text()
        assert errors == []


def test_unrelated_graphs_are_not_clean(capsys):
    code = cli.main([str(TINY / "default" / "bin"), str(RUNS / "mlp" / "default" / "bin"), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and data["matching"] == "graph" and not data["pairs"]
    assert 0 < data["stats"]["no_counterpart"] <= len(data["unmatched_a"]) + len(data["unmatched_b"])


def test_layout_transform_padding_is_explained_and_the_comparison_clean(capsys):
    res = MORE / "res_dw"
    code = cli.main([str(res / "default" / "bin"), str(res / "layout_transform" / "bin"), "-e", "1e-3", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0, data["stats"]
    reasons = {u["var_id"]: u["reason"] for u in data["unmatched_b"]}
    assert sum("channel padding" in r for r in reasons.values()) == 2  # the zero constant and its broadcast
    assert data["stats"]["no_counterpart"] == 0


def test_text_dumps_of_differently_optimised_graphs_are_not_read_and_the_note_says_why(capsys):
    """Two text dumps of different graphs always "disagree": under graph matching that warning was noise."""
    a, b = TINY / "default", TINY / "nchw44"
    code = cli.main([str(a / "bin"), str(b / "bin"), "--txt-a", str(a / "io.txt"), "--txt-b", str(b / "io.txt")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert err.splitlines() == [
        "analysis: note: --txt-a/--txt-b not used: the graphs differ, so vars are paired and ordered from the "
        "binary titles, which carry the same var names, oprs and inputs"
    ]


def test_text_report_pair_count_agrees_with_the_vars_compared(capsys):
    """nchw88 keeps relayout copies of A's vars: 33 pairs but 22 vars compared read as a contradiction."""
    res = RUNS.parents[1] / "match" / "runs" / "res_dw"
    cli.main([str(res / "default" / "bin"), str(res / "nchw88" / "bin")])
    out = capsys.readouterr().out
    assert "22 vars compared" in out
    assert "matching: by graph (33 pairs: 22 compared + 11 more copies in B (relayouts) of those A vars; " in out
