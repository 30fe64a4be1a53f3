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
table.grid{border-collapse:collapse;margin:.5em 0} .grid td,.grid th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
td.ok{background:#dfd} td.differs{background:#fdd} td.skipped{background:#ffd} td.none{color:#999}
td a{color:inherit}
.note{color:#555} .unhealthy{color:#b00}
.multiples{display:flex;flex-wrap:wrap;gap:.8em}
.multiple{width:240px;cursor:pointer} .multiple .lg-root{width:240px;height:300px}
.multiple .cap{font-size:12px;margin:.2em 0} .multiple.current .lg-root{outline:3px solid #1565c0}
.cmps{list-style:none;padding:0} .cmps li{margin:.15em 0} .cmps li.current{font-weight:700}
#viewer-title{margin-bottom:.2em}
"""

# The campaign page: matrix, summary, small multiples, comparison list, viewer.
_JS = r"""
(function(){
'use strict';
const R = JSON.parse(document.getElementById('report-data').textContent);
const cmps = [];
R.checks.forEach((c, ci) => c.comparisons.forEach((cmp, k) => cmps.push({id: 'cmp-' + ci + '-' + k, check: c, cmp})));
const byId = new Map(cmps.map((x) => [x.id, x]));
function link(parent, id, text){ const a = document.createElement('a'); a.href = '#' + id; a.textContent = text;
  a.dataset.cmp = id; parent.appendChild(a); return a; }
// device x check matrix: each cell links to the comparison that judged it
const m = document.getElementById('matrix');
const head = m.insertRow(); head.insertCell().outerHTML = '<th>device</th>';
R.checks_asked.forEach((k) => { const th = document.createElement('th'); th.textContent = k; head.appendChild(th); });
R.devices.forEach((d) => { const row = m.insertRow(); row.dataset.device = d.name;
  row.insertCell().textContent = d.name + (d.healthy ? '' : ' (unhealthy)');
  R.checks_asked.forEach((k) => { const cell = row.insertCell(); cell.dataset.check = k;
    const mine = R.checks.filter((c) => c.kind === k && c.devices.indexOf(d.name) >= 0);
    let st = 'none';
    if (mine.length) st = mine.some((c) => c.status === 'differs') ? 'differs' : (mine.every((c) => c.status === 'skipped') ? 'skipped' : 'ok');
    cell.className = st;
    const text = st === 'none' ? '-' : st + (st === 'differs' ? ' (' + Math.max.apply(null, mine.map((c) => c.differing.length)) + ')' : '');
    // the device's own comparison: for cross, the one where it is not the baseline
    const own = cmps.filter((x) => x.check.kind === k && x.cmp.devices.indexOf(d.name) >= 0);
    const pick = own.find((x) => x.cmp.devices[x.cmp.devices.length - 1] === d.name) || own[0];
    if (pick) link(cell, pick.id, text); else cell.textContent = text; }); });
// one row per check: what the terminal summary shows
const st = document.getElementById('summary');
st.innerHTML = '<tr><th>check</th><th>devices</th><th>status</th><th>differing</th><th>first var</th><th>roots</th><th>threshold</th><th>note</th></tr>';
R.checks.forEach((c) => { const row = st.insertRow(); row.dataset.kind = c.kind; row.className = 'check-row';
  const first = c.first === null ? '-' : 'var' + c.first + (c.first_opr ? ' ' + c.first_opr.type : '');
  const roots = c.roots.map((r) => 'var' + r.id + ' ' + r.type).join(', ') || '-';
  [c.kind, c.devices.join(' vs '), c.status, c.differing.length, first, roots,
   c.threshold === null ? '-' : Number(c.threshold).toPrecision(3), c.note]
    .forEach((v, i) => { const cell = row.insertCell(); cell.textContent = String(v); if (i === 2) cell.className = c.status; }); });
// every comparison, listed with its roots
const list = document.getElementById('comparisons');
cmps.forEach((x) => { const A = x.cmp.analysis, li = document.createElement('li'); li.dataset.cmp = x.id;
  link(li, x.id, x.check.kind + ': ' + x.cmp.label);
  li.appendChild(document.createTextNode(' \u2014 ' + A.differing.length + ' of ' + A.stats.compared +
    ' vars over tolerance; roots: ' + (A.roots.map((r) => 'var ' + r).join(', ') || 'none')));
  list.appendChild(li); });
// cross: the same graph per device against the baseline
const crosses = cmps.filter((x) => x.check.kind === 'cross');
const grid = document.getElementById('cross-multiples');
const multiples = [];
if (crosses.length) {
  document.getElementById('cross-section').hidden = false;
  crosses.forEach((x) => { const A = x.cmp.analysis, box = document.createElement('div');
    box.className = 'multiple'; box.dataset.cmp = x.id;
    const cap = document.createElement('div'); cap.className = 'cap';
    cap.textContent = x.cmp.label + ': ' + A.differing.length + ' over, roots ' + (A.roots.map((r) => 'var ' + r).join(', ') || 'none');
    box.appendChild(cap);
    const area = document.createElement('div'); box.appendChild(area); grid.appendChild(box);
    box.addEventListener('click', () => { location.hash = x.id; });
    multiples.push(new LarGraph.GraphView(area, A, {compact: true})); });
}
// the viewer: one comparison's full graph view at a time
const viewer = document.getElementById('viewer');
let current = null;
function show(id){
  const x = byId.get(id); if (!x || current === id) return;
  current = id;
  document.getElementById('viewer-title').textContent = x.check.kind + ': ' + x.cmp.label + ' \u2014 ' + x.check.status;
  viewer.dataset.cmp = id;
  document.body.dataset.drawn = 'no';
  LarGraph.mountPage(viewer, x.cmp.analysis, {onDone: () => { document.body.dataset.drawn = 'yes'; }});
  for (const e of document.querySelectorAll('.current')) e.classList.remove('current');
  for (const e of document.querySelectorAll('[data-cmp="' + id + '"]')) if (e.tagName !== 'A') e.classList.add('current');
}
window.addEventListener('hashchange', () => { show(location.hash.slice(1)); document.getElementById('viewer-section').scrollIntoView(); });
const wanted = location.hash.slice(1);
const start = byId.has(wanted) ? wanted : ((cmps.find((x) => x.check.status === 'differs') || cmps[0] || {}).id);
if (start) show(start); else { document.getElementById('viewer-section').hidden = true; document.body.dataset.drawn = 'yes'; }
})();
"""


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
<script>{_JS}</script>
</body></html>
"""


def write_report_html(report: CampaignReport, path: Path) -> Path:
    """Write report.html atomically."""
    write_atomic(path, render_html(report).encode("utf-8"))
    return path
