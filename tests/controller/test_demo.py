"""`make demo` (python -m controller.demo): two local lar-lite agents, the bundled example, exit 0."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import browser


@pytest.fixture(scope="module")
def demo(tmp_path_factory, lite_runtime: Path):
    """The demo's stdout and campaign folder (run once for this module)."""
    tmp = tmp_path_factory.mktemp("demo")
    out = tmp / "demo-out"
    proc = subprocess.run(
        [sys.executable, "-m", "controller.demo", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, out / "tiny-cnn-demo"


def test_demo_runs_the_example_campaign(demo) -> None:
    stdout, root = demo
    html = root / "report.html"
    assert f"report.html: {html}" in stdout
    assert "differences found" in stdout
    data = json.loads((root / "report.json").read_text())
    kinds = sorted({c["kind"] for c in data["checks"]})
    assert kinds == ["cross", "naive", "options", "shake", "thresholds"]
    assert [d["name"] for d in data["devices"]] == ["host-a", "host-b"]
    assert all(d["healthy"] for d in data["devices"])
    # host-b is deployed with enable_nchw44: cross pairs the two graphs' vars by graph
    assert [d["options"] for d in data["devices"]] == [{}, {"enable_nchw44": True}]
    (cross,) = [c for c in data["checks"] if c["kind"] == "cross"]
    assert cross["comparisons"][0]["analysis"]["matching"] == "graph"
    assert "cross host-a.default vs host-b.default: graphs differ (options), vars paired by graph" in stdout
    assert "options host-b.plain vs host-b.default: graphs differ (options)" in stdout


@pytest.mark.browser
def test_demo_report_graph_shows_the_first_conv_as_naive_root(demo, tmp_path: Path) -> None:
    browser.require()
    _, root = demo
    with browser.chromium() as context:
        page = context.new_page()
        page.goto((root / "report.html").resolve().as_uri())
        page.wait_for_selector("body[data-drawn=yes]", timeout=60_000)
        assert page.locator("#viewer-title").inner_text().startswith("naive:")
        roots = page.locator('#viewer [data-status~="root"]')
        assert roots.count() == 1
        assert roots.get_attribute("data-var-id") == "9"
        assert "ConvolutionForward" in roots.locator(".lg-t1").text_content()
        # the error spreads down the network: every var after the root is over tolerance or below it, none exact
        after = page.locator("#viewer [data-var-id]").evaluate_all(
            "ns => ns.filter(n => Number(n.dataset.varId) > 9).map(n => n.dataset.status.split(' ')[0])"
        )
        assert after and "exact" not in after and after.count("over") >= 5
        page.screenshot(path=str(tmp_path / "demo-report.png"), full_page=True)
