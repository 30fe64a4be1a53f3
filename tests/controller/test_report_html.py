"""report.html rendered in headless Chromium: what the page shows after its script has drawn."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from controller import plan
from controller.checks.cross import cross_check
from controller.checks.naive import naive_check
from controller.checks.result import CampaignReport, DeviceSummary
from controller.report.html import render_html, write_report_html
from controller.store import Store
from tests.controller.storeruns import stored_run
from tests.support import browser

#: report.json's device facts (campaign_run._small_facts) for an agent serving a phone and for a board.
PHONE_FACTS = {
    "hostname": "labpc",
    "arch": "arm64-v8a",
    "os": "Android",
    "cpu_model": "SM8450",
    "cpu_cores": 0,
    "agent_version": "0.1.0",
    "phone": {
        "serial": "R58M123ABC",
        "model": "Galaxy S22",
        "abi": "arm64-v8a",
        "android_version": "14",
        "sdk": "34",
        "soc": "SM8450",
        "platform": "taro",
        "workdir_free_bytes": 1 << 30,
    },
}
BOARD_FACTS = {"hostname": "rk3588", "arch": "aarch64", "os": "Linux", "cpu_model": "Cortex-A76", "cpu_cores": 8}


@pytest.fixture
def report(tmp_path: Path, megengine_fixtures: Path) -> CampaignReport:
    runs = megengine_fixtures / "runs" / "tiny_cnn"
    store = Store(tmp_path / "out", "tiny")
    a = {
        plan.DEFAULT: stored_run(store, runs / "default", "phone-a", plan.DEFAULT),
        plan.NAIVE: stored_run(store, runs / "naive", "phone-a", plan.NAIVE),
    }
    b_default = stored_run(store, runs / "fastrun", "board-b", plan.DEFAULT)
    checks = (
        naive_check("phone-a", a, store, 1e-7),
        cross_check("phone-a", a[plan.DEFAULT], "board-b", b_default, store, 1e-7),
    )
    devices = (
        DeviceSummary("phone-a", "local", "lite", {"soc": "x"}, True, facts=PHONE_FACTS),
        DeviceSummary("board-b", "10.1.2.3:50051", "load_and_run", {}, True, facts=BOARD_FACTS),
        DeviceSummary("gone-c", "10.9.9.9:50051", "lite", {}, False, "agent at 10.9.9.9:50051 is unreachable"),
    )
    return CampaignReport("tiny", "tiny_cnn.mge", 1e-7, ("naive", "cross"), devices, checks, str(store.root), 0.0, 1.0)


def test_page_is_self_contained(report: CampaignReport) -> None:
    page = render_html(report)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<script src" not in page and "<link" not in page


def _open(context, path: Path):
    page = context.new_page()
    errors: list = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-drawn=yes]", timeout=60_000)
    return page, errors


@pytest.mark.browser
def test_chromium_shows_matrix_multiples_and_graphs(tmp_path: Path, report: CampaignReport) -> None:
    browser.require()
    path = write_report_html(report, tmp_path / "report.html")
    naive, cross = (c.comparisons[0].to_json() for c in report.checks)
    with browser.chromium() as context:
        page, errors = _open(context, path)
        # device x check matrix: one row per device, cells per asked check, each linking to its comparison
        rows = page.locator("#matrix tr[data-device]")
        assert rows.evaluate_all("rs => rs.map(r => r.dataset.device)") == ["phone-a", "board-b", "gone-c"]
        naive_cell = page.locator('tr[data-device="phone-a"] td[data-check="naive"]')
        assert naive_cell.get_attribute("class") == "differs"
        assert re.fullmatch(r"differs \(\d+\)", naive_cell.inner_text())
        assert page.locator('tr[data-device="board-b"] td[data-check="naive"]').get_attribute("class") == "none"
        assert "gone-c (unhealthy)" in page.locator('tr[data-device="gone-c"]').inner_text()
        # what each device is: a phone by its own facts, a board by its agent's
        phone_row = page.locator('tr[data-device="phone-a"] td.facts').inner_text()
        assert phone_row == "Galaxy S22 · arm64-v8a · Android 14 · SM8450 · serial R58M123ABC · via labpc"
        board_row = page.locator('tr[data-device="board-b"] td.facts').inner_text()
        assert board_row == "rk3588 · aarch64 · Linux · Cortex-A76 · 8 cores"
        assert "10.9.9.9:50051" in page.content()
        assert page.locator("tr.check-row").evaluate_all("rs => rs.map(r => r.dataset.kind)") == ["naive", "cross"]
        # the viewer opens on the first differing comparison: naive, whose root is the first conv
        viewer = page.locator("#viewer")
        assert viewer.get_attribute("data-cmp") == "cmp-0-0"
        assert naive["roots"] == [9]
        assert viewer.locator('[data-var-id="9"]').get_attribute("data-status") == "over root first"
        # cross: one small multiple per device against the baseline, the same graph coloured by its error
        multiples = page.locator(".multiple")
        assert multiples.count() == 1
        drawn = multiples.first.locator("[data-var-id]").count()
        assert drawn == viewer.locator("[data-var-id]").count() > 5
        assert cross["roots"] == [20]
        assert "root" in multiples.first.locator('[data-var-id="20"]').get_attribute("data-status").split()
        # a matrix cell opens its comparison in the viewer; clicking the root shows analysis's numbers
        page.locator('tr[data-device="board-b"] td[data-check="cross"] a').click()
        page.wait_for_selector('#viewer[data-cmp="cmp-1-0"]')
        page.wait_for_selector("body[data-drawn=yes]")
        root = viewer.locator('[data-var-id="20"]')
        assert "root" in root.get_attribute("data-status").split()
        root.dispatch_event("click")
        v20 = next(v for v in cross["vars"] if v["var_id"] == 20)
        panel = viewer.locator(".lg-panel")
        assert panel.get_attribute("data-panel-var") == "20"
        assert (
            panel.locator('[data-metric="count_over_tol"]').inner_text()
            == f"{v20['count_over_tol']} / {v20['n_elems']}"
        )
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        assert errors == []


@pytest.mark.browser
def test_cross_small_multiples_show_the_odd_device_out(tmp_path: Path, megengine_fixtures: Path) -> None:
    browser.require()
    runs = megengine_fixtures / "runs" / "tiny_cnn"
    store = Store(tmp_path / "out", "tiny")
    base = stored_run(store, runs / "default", "phone-a", plan.DEFAULT)
    others = {
        "board-b": stored_run(store, runs / "fastrun", "board-b", plan.DEFAULT),
        "board-c": stored_run(store, runs / "default_rerun", "board-c", plan.DEFAULT),
        "board-d": stored_run(store, runs / "reproducible", "board-d", plan.DEFAULT),
    }
    checks = tuple(cross_check("phone-a", base, name, run, store, 1e-7) for name, run in others.items())
    devices = tuple(DeviceSummary(n, "local", "lite", {}, True) for n in ["phone-a", *others])
    report = CampaignReport("tiny", "tiny_cnn.mge", 1e-7, ("cross",), devices, checks, str(store.root), 0.0, 1.0)
    path = write_report_html(report, tmp_path / "report.html")
    with browser.chromium() as context:
        page, errors = _open(context, path)
        multiples = page.locator(".multiple")
        assert multiples.count() == 3
        counts = []
        for i, check in enumerate(checks):
            box = multiples.nth(i)
            assert box.locator(".cap").inner_text().startswith(check.comparisons[0].label)
            statuses = box.locator("[data-var-id]").evaluate_all("ns => ns.map(n => n.dataset.status.split(' ')[0])")
            counts.append(len(statuses))
            # each multiple colours the same graph by its own comparison
            assert statuses.count("over") == len(check.comparisons[0].diff.differing())
        assert len(set(counts)) == 1
        # only fastrun's winograd conv makes board-b the odd one out
        assert [c.status for c in checks] == ["differs", "ok", "ok"]
        # a click on a multiple opens that comparison in the viewer
        multiples.nth(1).click()
        page.wait_for_selector('#viewer[data-cmp="cmp-1-0"]')
        assert "board-c" in page.locator("#viewer-title").inner_text()
        page.screenshot(path=str(tmp_path / "cross.png"), full_page=True)
        assert errors == []


@pytest.mark.browser
def test_hundreds_of_roots_are_named_a_few_and_counted(tmp_path: Path) -> None:
    """A device whose every input differs has a root per block: captions and lists stay one short line."""
    from tests.support import graph_net

    browser.require()
    base, _ = graph_net.write_runs(tmp_path / "x" / "bin", tmp_path / "x2" / "bin", n_vars=200, seed=0)
    other, _ = graph_net.write_runs(tmp_path / "y" / "bin", tmp_path / "y2" / "bin", n_vars=200, seed=1)
    store = Store(tmp_path / "out", "many")
    a = stored_run(store, base.parent, "phone-a", plan.DEFAULT)
    b = stored_run(store, other.parent, "board-b", plan.DEFAULT)
    check = cross_check("phone-a", a, "board-b", b, store, graph_net.TOLERANCE)
    roots = check.comparisons[0].to_json()["roots"]
    assert len(roots) > 20
    devices = tuple(DeviceSummary(n, "local", "lite", {}, True) for n in ("phone-a", "board-b"))
    report = CampaignReport("many", "net.mge", 1e-4, ("cross",), devices, (check,), str(store.root), 0.0, 1.0)
    path = write_report_html(report, tmp_path / "report.html")
    with browser.chromium() as context:
        page, errors = _open(context, path)
        few = ", ".join(f"var {r}" for r in roots[:5]) + f" and {len(roots) - 5} more"
        assert page.locator(".multiple .cap").inner_text().endswith("roots " + few)
        assert page.locator("#comparisons li").inner_text().endswith("roots: " + few)
        row = page.locator("tr.check-row td").nth(5).inner_text()
        assert row.count("var") == 5 and row.endswith(f" and {len(check.roots) - 5} more")
        assert errors == []


@pytest.mark.browser
def test_roots_err_amplification_and_threshold_read_as_in_the_terminal(tmp_path: Path, report: CampaignReport) -> None:
    """The summary's roots and threshold, and the graph's amplification labels, worded as the terminal words them."""
    from rich.console import Console

    from analysis.render import fmt_amp, fmt_err
    from controller.report import terminal

    browser.require()
    console = Console(record=True, width=400)
    terminal.render(report, console)
    shown = console.export_text()
    naive = report.checks[0]
    root = naive.roots[0]
    words = (
        f"var{root.var_id} {root.opr_type} err={fmt_err(root.max_err)} amp={fmt_amp(naive.amplification[root.var_id])}"
    )
    assert words in shown and words == "var9 ConvolutionForward err=6.56e-07 amp=new"
    amps = naive.comparisons[0].diff.amplification
    with browser.chromium() as context:
        page, errors = _open(context, write_report_html(report, tmp_path / "report.html"))
        cells = page.locator('tr.check-row[data-kind="naive"] td')
        assert cells.nth(5).inner_text() == words
        assert cells.nth(6).inner_text() == fmt_err(naive.threshold)
        # every amplification label of the viewer's graph, as the text report prints it
        labels = page.locator("#viewer [data-var-id]").evaluate_all(
            "ns => ns.map(n => [Number(n.dataset.varId), (n.querySelector('.lg-amp') || {}).textContent || ''])"
        )
        finite = [(vid, text) for vid, text in labels if text and text != "new"]
        assert finite, labels
        for vid, text in finite:
            assert text == fmt_amp(amps[vid]), vid
        formatted = page.evaluate(
            "vs => vs.map(v => LarGraph.fmt(v))", [6.556510925292969e-07, 0.7272, 999.7, 12345, 0.0001234, 1e-5]
        )
        assert formatted == [fmt_err(x) for x in (6.556510925292969e-07, 0.7272, 999.7, 12345, 0.0001234, 1e-5)]
        assert errors == []
