"""report.html rendered in headless Chromium: what the page shows after its script has drawn."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from controller import plan
from controller.checks.cross import cross_check
from controller.checks.naive import naive_check
from controller.checks.result import CampaignReport, DeviceSummary
from controller.report.html import render_html, write_report_html
from controller.store import Store
from tests.controller.storeruns import stored_run


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        exe = shutil.which(name)
        if exe:
            return exe
    if os.environ.get("CI"):
        pytest.fail("chromium is required in CI (Debian package chromium)")
    pytest.skip("chromium not installed (apt-get install chromium)")


def dump_dom(page: Path, tmp: Path) -> str:
    """The DOM after the page's JavaScript ran (no network: the page must be self-contained)."""
    exe = _chromium()
    proc = subprocess.run(
        [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp / 'chrome'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


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
        DeviceSummary("phone-a", "local", "lite", {"soc": "x"}, True),
        DeviceSummary("board-b", "10.1.2.3:50051", "load_and_run", {}, True),
        DeviceSummary("gone-c", "10.9.9.9:50051", "lite", {}, False, "agent at 10.9.9.9:50051 is unreachable"),
    )
    return CampaignReport("tiny", "tiny_cnn.mge", 1e-7, ("naive", "cross"), devices, checks, str(store.root), 0.0, 1.0)


def test_page_is_self_contained(report: CampaignReport) -> None:
    page = render_html(report)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<script src" not in page and "<link" not in page


def test_chromium_shows_roots_devices_and_matrix(tmp_path: Path, report: CampaignReport) -> None:
    page = write_report_html(report, tmp_path / "report.html")
    dom = dump_dom(page, tmp_path)
    assert 'data-drawn="yes"' in dom
    # device x check matrix: one row per device, cells per asked check
    rows = dict(re.findall(r'<tr data-device="([^"]+)">(.*?)</tr>', dom))
    assert set(rows) == {"phone-a", "board-b", "gone-c"}
    assert re.search(r'data-check="naive" class="differs">differs \(\d+\)', rows["phone-a"])
    assert 'data-check="cross" class="differs"' in rows["board-b"]
    assert 'data-check="naive" class="none"' in rows["board-b"]
    assert "gone-c (unhealthy)" in rows["gone-c"]
    assert "10.9.9.9:50051" in dom
    # the per-check summary table, one row per check
    assert re.findall(r'<tr data-kind="(\w+)" class="check-row">', dom) == ["naive", "cross"]
    assert "var9 ConvolutionForward" in dom
    # roots marked on the charts and listed: naive -> var 9 (conv1), fastrun cross -> var 20 (winograd conv)
    assert re.findall(r'<tr data-root="(\d+)">', dom) == ["9", "20"]
    labels = re.findall(r'class="root-label"[^>]*>var(\d+)<', dom)
    assert labels == ["9", "20"]
    # one chart per comparison, each with its tolerance line and one point per compared var
    assert dom.count('class="tolerance"') == 2
    assert dom.count('class="root"') == 2
    n_vars = len(report.checks[0].comparisons[0].diff.outputs())
    assert dom.count('class="var"') + dom.count('class="root"') == 2 * n_vars
