/* report.html: matrix, summary, cross small multiples, comparison list, viewer (graph view of analysis/html). */
(function(){
'use strict';
const R = JSON.parse(document.getElementById('report-data').textContent);
const cmps = [];
R.checks.forEach((c, ci) => c.comparisons.forEach((cmp, k) => cmps.push({id: 'cmp-' + ci + '-' + k, check: c, cmp})));
const byId = new Map(cmps.map((x) => [x.id, x]));
function link(parent, id, text){ const a = document.createElement('a'); a.href = '#' + id; a.textContent = text;
  a.dataset.cmp = id; parent.appendChild(a); return a; }
// what a device is, from its agent's facts: a phone's own (model, ABI, Android, SoC, serial), else the board's
function describe(f){
  const p = f.phone;
  if (p) return [p.model, p.abi, 'Android ' + p.android_version, p.soc || p.platform, 'serial ' + p.serial,
    'via ' + f.hostname].filter((x) => x).join(' \u00b7 ');
  return [f.hostname, f.arch, f.os, f.cpu_model, f.cpu_cores ? f.cpu_cores + ' cores' : ''].filter((x) => x).join(' \u00b7 ');
}
// roots can run to hundreds (a device whose every kernel differs): name a few, count the rest
function few(items, text, none){
  const n = 5;
  if (!items.length) return none;
  const shown = items.slice(0, n).map(text).join(', ');
  return items.length > n ? shown + ' and ' + (items.length - n) + ' more' : shown;
}
// device x check matrix: each cell links to the comparison that judged it
const m = document.getElementById('matrix');
const head = m.insertRow(); head.insertCell().outerHTML = '<th>device</th><th>what it is</th>';
R.checks_asked.forEach((k) => { const th = document.createElement('th'); th.textContent = k; head.appendChild(th); });
R.devices.forEach((d) => { const row = m.insertRow(); row.dataset.device = d.name;
  row.insertCell().textContent = d.name + (d.healthy ? '' : ' (unhealthy)');
  const facts = row.insertCell(); facts.className = 'facts'; facts.textContent = describe(d.facts || {});
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
  // err, amplification and threshold worded by the graph view's formatters: as the terminal summary words them
  const roots = few(c.roots, (r) => 'var' + r.id + ' ' + r.type + ' err=' + LarGraph.fmt(r.err) + ' amp=' +
    (LarGraph.fmtAmp(r.amplification) || '-'), '-');
  [c.kind, c.devices.join(' vs '), c.status, c.differing.length, first, roots, LarGraph.fmt(c.threshold), c.note]
    .forEach((v, i) => { const cell = row.insertCell(); cell.textContent = String(v); if (i === 2) cell.className = c.status; }); });
// every comparison, listed with its roots
const list = document.getElementById('comparisons');
cmps.forEach((x) => { const A = x.cmp.analysis, li = document.createElement('li'); li.dataset.cmp = x.id;
  link(li, x.id, x.check.kind + ': ' + x.cmp.label);
  li.appendChild(document.createTextNode(' \u2014 ' + A.differing.length + ' of ' + A.stats.compared +
    ' vars over tolerance; roots: ' + few(A.roots, (r) => 'var ' + r, 'none')));
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
    cap.textContent = x.cmp.label + ': ' + A.differing.length + ' over, roots ' + few(A.roots, (r) => 'var ' + r, 'none');
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
