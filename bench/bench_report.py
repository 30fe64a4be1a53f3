"""Time to open the graph report of a 2,000-var comparison in headless Chromium.

The comparison is real: a synthetic 2,000-var network (tests/support/graph_net)
is dumped twice into a temporary folder and compared by analysis; its page
(``analysis --html``) is opened in Debian's /usr/bin/chromium through
playwright, a fresh page per repeat. Two figures, both read from the page's
own clock (performance.now(), zero at navigation start):

- ready: navigation start until the first frame is painted with the graph
  drawn around the root, centred and clickable (the first bands of the
  layout; the rest still coming);
- full: until every band is laid out and drawn.

The machine's load average is printed beside them: on a shared 2-core box the
figures scale with it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.support is not installed

REPEATS = int(os.environ.get("BENCH_REPORT_REPEATS", "3"))


def main() -> int:
    from analysis.html import comparison_page
    from tests.support import browser, graph_net

    why = browser.missing()
    if why:
        print(f"bench_report: skipped: {why}", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        t = Path(tmp)
        a, b = graph_net.write_runs(t / "a", t / "b", n_vars=2000)
        data = graph_net.comparison(a, b)
        page_path = t / "report.html"
        page_path.write_text(comparison_page(data), encoding="utf-8")
        size_mb = page_path.stat().st_size / 1e6
        ready, full, nodes = [], [], 0
        with browser.chromium() as context:
            for _ in range(REPEATS):
                page = context.new_page()
                page.goto(page_path.as_uri())
                page.wait_for_selector("body[data-drawn=yes]", timeout=120_000)
                page.wait_for_function("document.querySelector('.lg-area').dataset.readyMs")
                d = page.evaluate("({...document.querySelector('.lg-area').dataset})")
                ready.append(int(d["readyMs"]) / 1000)
                full.append(int(d["doneMs"]) / 1000)
                nodes = int(d["nodes"])
                page.close()
    load = os.getloadavg()[0]
    print(
        f"bench_report: {len(data['vars'])} vars, {nodes} nodes drawn, page {size_mb:.1f} MB, "
        f"best of {REPEATS}, load average {load:.1f} on {os.cpu_count()} CPUs",
        flush=True,
    )
    print(f"BENCH report_open_2000_vars_ready {min(ready):.2f} s target < 2", flush=True)
    print(f"BENCH report_open_2000_vars_full_layout {min(full):.2f} s target >= 0", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
