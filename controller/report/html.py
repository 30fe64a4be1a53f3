"""report.html: one self-contained page (inline CSS and JS; nothing from the network).

The page embeds report.json's data. A device x check matrix links every cell
to its comparison; the cross checks show the same graph once per device
against the baseline (small multiples, so the odd device out shows at a
glance); the viewer draws one comparison's var graph at a time with
analysis's graph view (analysis.html), the same one ``python -m analysis A B
--html`` writes.
"""

from __future__ import annotations

import html
from pathlib import Path

from analysis.html import head_assets, script_json
from controller.checks.result import CampaignReport
from controller.report.json import report_json
from controller.store import write_atomic

_CSS = """
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em} h2{font-size:1.15em;margin-top:1.4em}
table.grid{border-collapse:collapse;margin:.5em 0}
.grid td,.grid th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
td.ok{background:#dfd} td.differs{background:#fdd} td.skipped{background:#ffd} td.none{color:#999}
td a{color:inherit} td.facts{color:#555;font-size:12px}
.note{color:#555} .unhealthy{color:#b00}
.multiples{display:flex;flex-wrap:wrap;gap:.8em}
.multiple{width:240px;cursor:pointer} .multiple .lg-root{width:240px;height:300px}
.multiple .cap{font-size:12px;margin:.2em 0}
.multiple.current .lg-root{outline:3px solid #1565c0}
.cmps{list-style:none;padding:0} .cmps li{margin:.15em 0} .cmps li.current{font-weight:700}
#viewer-title{margin-bottom:.2em}
"""

# The campaign page: matrix, summary, small multiples, comparison list, viewer.
_JS = Path(__file__).with_name("campaign.js")


def render_html(report: CampaignReport) -> str:
    """The report page as one string."""
    unhealthy = "".join(
        f"<li class='unhealthy'>{html.escape(d.name)} ({html.escape(d.address)}): {html.escape(d.reason)}</li>"
        for d in report.unhealthy
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>larfarm report: {html.escape(report.campaign)}</title>
<style>{_CSS}</style>
{head_assets()}</head>
<body>
<h1>larfarm campaign {html.escape(report.campaign)}</h1>
<p>model {html.escape(report.model)}, tolerance {report.tolerance:g}, {len(report.devices)} devices,
result: <b id="verdict">{"differences found" if report.differs else "within tolerance"}</b></p>
{"<h2>Unhealthy devices</h2><ul>" + unhealthy + "</ul>" if unhealthy else ""}
<h2>Device x check</h2>
<table id="matrix" class="grid"></table>
<section id="cross-section" hidden><h2>Cross: each device against the baseline</h2>
<p class="note">The same graph once per device, coloured by its error against the baseline; click one to open it.</p>
<div id="cross-multiples" class="multiples"></div></section>
<section id="viewer-section"><h2 id="viewer-title"></h2><div id="viewer"></div></section>
<h2>Checks</h2>
<table id="summary" class="grid"></table>
<h2>Comparisons</h2>
<ul id="comparisons" class="cmps"></ul>
<script type="application/json" id="report-data">{script_json(report_json(report))}</script>
<script>{_JS.read_text(encoding="utf-8")}</script>
</body></html>
"""


def write_report_html(report: CampaignReport, path: Path) -> Path:
    """Write report.html atomically."""
    write_atomic(path, render_html(report).encode("utf-8"))
    return path
