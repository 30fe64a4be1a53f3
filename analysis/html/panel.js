/* larfarm graph view, part 4 of 4: the var panel (every metric, inputs, histogram) and the page around a view. */
(function (LG) {
  'use strict';
  const { num, fmt, fmtAmp, clip, el, h, colour } = LG;

  /* The var panel: every metric analysis computed, inputs, consumers, histogram. */
  function renderPanel(panel, view, id) {
    const m = view.m, n = m.info.get(id), v = n.v;
    panel.textContent = '';
    panel.dataset.panelVar = String(id);
    h('h3', {}, panel, `var ${id} \u00b7 ${v.opr_type || '?'}`);
    h('div', { class: 'lg-names' }, panel, `opr ${v.opr_name || '-'}; var ${v.var_name || '-'}`);
    // names on side B, when the graphs were matched (analysis's var_id_b/opr_name_b/var_name_b)
    const other = v.match || (v.var_id_b !== undefined && v.var_id_b !== null && (v.var_id_b !== v.var_id || v.var_name_b !== v.var_name)
      ? { var_id: v.var_id_b, opr_name: v.opr_name_b, var_name: v.var_name_b } : null);
    if (other) h('div', { class: 'lg-names', 'data-field': 'names-b' }, panel,
      `in B: var ${other.var_id !== undefined ? other.var_id : '?'} opr ${other.opr_name || '-'}; var ${other.var_name || '-'}`);
    const tags = [n.kind === 'over' ? 'over tolerance' : n.kind === 'below' ? 'below tolerance' : n.kind === 'exact' ? 'exact' : v.status];
    if (n.root) tags.push('root');
    if (n.first) tags.push('first differing var');
    const a = num(n.amp);
    if (a !== null && a !== undefined && !Number.isNaN(a) && n.kind !== 'exact') {
      tags.push(!Number.isFinite(a) ? 'new error (exact inputs)' : (a > 1 ? 'amplified ' : a < 1 ? 'damped ' : 'passed on ') + fmtAmp(a));
    }
    h('div', { class: 'lg-tags' }, panel, tags.join(' \u00b7 '));
    if (v.error) h('div', { class: 'lg-error' }, panel, v.error);
    const t = h('table', { class: 'lg-metrics' }, panel);
    const row = (label, key, value) => {
      const r = t.insertRow();
      r.insertCell().textContent = label;
      const c = r.insertCell(); c.textContent = value; c.dataset.metric = key;
    };
    row('max err (MegEngine)', 'max_err', fmt(v.max_err));
    row('tolerance', 'tolerance', fmt(v.tolerance));
    row('max abs', 'max_abs', fmt(v.max_abs));
    row('max rel', 'max_rel', fmt(v.max_rel));
    row('mean abs', 'mean_abs', fmt(v.mean_abs));
    row('cosine', 'cosine', v.cosine === undefined ? '-' : String(num(v.cosine)));
    row('SQNR dB', 'sqnr_db', fmt(v.sqnr_db));
    const pair = (x, y) => (x === undefined || x === null ? '-' : `${x} / ${y === null ? '?' : y}`);
    if (v.status === 'identical_by_digest') h('div', { class: 'lg-note' }, panel, 'same sha256 on both sides: equal bytes, files not read');
    row('over tolerance', 'count_over_tol', pair(v.count_over_tol, v.n_elems));
    row('NaN A / B', 'nan', pair(v.nan_a, v.nan_b));
    row('Inf A / B', 'inf', pair(v.inf_a, v.inf_b));
    row('shape A / B', 'shape', `${JSON.stringify(v.shape_a)} / ${JSON.stringify(v.shape_b)}`);
    row('dtype A / B', 'dtype', `${v.dtype_a} / ${v.dtype_b}`);
    if (v.first_index !== null && v.first_index !== undefined) {
      const fv = v.first_values || [];
      row('first over tol: index', 'first_index', String(v.first_index) + ndIndex(v.first_index, v.shape_a));
      row('first over tol: A', 'first_a', fmtFull(fv[0]));
      row('first over tol: B', 'first_b', fmtFull(fv[1]));
      row('first over tol: err', 'first_err', fmt(fv[2]));
    }
    if (v.err_hist) histogram(panel, v.err_hist, m.tol);
    const list = (title, ids, field) => {
      h('h4', {}, panel, `${title} (${ids.length})`);
      const tb = h('table', { class: 'lg-list', 'data-field': field }, panel);
      for (const i of ids) {
        const o = m.info.get(i), r = tb.insertRow();
        r.dataset.ref = String(i);
        const c0 = r.insertCell(), link = h('a', { href: '#' }, c0, 'var ' + i);
        link.addEventListener('click', (ev) => { ev.preventDefault(); view.centre(i); view.select(i); });
        r.insertCell().textContent = o.v.opr_type;
        r.insertCell().textContent = clip(o.v.var_name || o.v.opr_name || '', 28);
        const ce = r.insertCell(); ce.textContent = fmt(o.err); ce.className = 'lg-k-' + o.kind; ce.dataset.metric = 'max_err';
      }
    };
    list('inputs', n.inputs, 'inputs');
    const missing = (v.inputs || []).filter((i) => !m.info.has(i));
    if (missing.length) h('div', { class: 'lg-note' }, panel, 'not dumped: ' + missing.map((i) => 'var ' + i).join(', '));
    list('consumers', n.consumers, 'consumers');
  }
  function fmtFull(x) { x = num(x); return x === null || x === undefined ? '-' : String(x); }
  function ndIndex(flat, shape) {
    if (!shape || shape.length < 2) return '';
    const idx = [];
    for (let i = shape.length - 1; i >= 0; i--) { idx.unshift(flat % shape[i]); flat = Math.floor(flat / shape[i]); }
    return ' (' + idx.join(', ') + ')';
  }
  /* Bars per power of two of the per-element error (analysis.metrics error_histogram). */
  function histogram(panel, bins, tol) {
    h('h4', {}, panel, 'per-element error');
    const W = 300, H = 110, B = 18;
    const svg = el('svg', { width: W, height: H, class: 'lg-hist' }, panel);
    const zero = bins.filter((b) => b[0] === -127).reduce((s, b) => s + b[1], 0);
    const inf = bins.filter((b) => b[0] === 128).reduce((s, b) => s + b[1], 0);
    const body = bins.filter((b) => b[0] > -127 && b[0] < 128);
    const lo = Math.min(Math.floor(Math.log2(tol)) - 12, ...body.map((b) => b[0]));
    const hi = Math.max(1, ...body.map((b) => b[0]));
    const cols = [['0', zero, 'exact']].concat(
      Array.from({ length: hi - lo + 1 }, (_, i) => [lo + i, (body.find((b) => b[0] === lo + i) || [0, 0])[1], '']),
      [['inf', inf, 'nonfinite']]);
    const max = Math.max(1, ...cols.map((c) => c[1])), bw = (W - 4) / cols.length;
    cols.forEach((c, i) => {
      if (!c[1]) return;
      const hh = Math.max(1, (H - B - 4) * Math.log1p(c[1]) / Math.log1p(max));
      const e = typeof c[0] === 'number' ? Math.pow(2, c[0]) : null;
      const kind = c[2] || (e > tol ? 'over' : 'below');
      const r = el('rect', { x: 2 + i * bw, y: H - B - hh, width: Math.max(1, bw - 1), height: hh, class: 'lg-bar lg-k-' + kind,
        'data-bin': String(c[0]), 'data-count': String(c[1]) }, svg);
      el('title', {}, r, `${c[1]} elements ${e === null ? c[0] : 'in [' + fmt(e) + ', ' + fmt(2 * e) + ')'}`);
    });
    const xt = (e) => 2 + (1 + (e - lo)) * bw;
    el('line', { x1: xt(Math.log2(tol)), x2: xt(Math.log2(tol)), y1: 2, y2: H - B, class: 'lg-tol' }, svg);
    el('text', { x: 2, y: H - 4, class: 'lg-axis' }, svg, '0');
    for (let d = Math.ceil(lo / 3.3219); d <= Math.floor(hi / 3.3219); d += 3) {
      el('text', { x: xt(d * 3.3219), y: H - 4, class: 'lg-axis' }, svg, '1e' + d);
    }
  }

  /* A complete single-comparison page: toolbar, legend, graph, panel. */
  function mountPage(root, cmp, opts) {
    opts = opts || {};
    root.textContent = '';
    const bar = h('div', { class: 'lg-toolbar' }, root);
    const input = h('input', { type: 'search', placeholder: 'find var id, var name or opr name', class: 'lg-search' }, bar);
    const found = h('span', { class: 'lg-found' }, bar);
    const btn = (label, fn) => { const b = h('button', { type: 'button' }, bar, label); b.addEventListener('click', fn); return b; };
    legend(bar, num(cmp.tolerance));
    matching(bar, cmp);
    const body = h('div', { class: 'lg-body' }, root);
    const area = h('div', { class: 'lg-area' }, body);
    const panel = h('div', { class: 'lg-panel' }, body);
    h('p', { class: 'lg-note' }, panel, 'Click a var to see its metrics. Drag to pan, wheel to zoom. ' +
      'Constants and relayout chains are folded: click "+N const" or a chain to expand.');
    const view = new LG.GraphView(area, cmp, { panel, onDone: opts.onDone });
    let hits = [], at = 0;
    input.addEventListener('keydown', (ev) => {
      if (ev.key !== 'Enter') return;
      const fresh = view.search(input.value);
      if (fresh.join() !== hits.join()) { hits = fresh; at = 0; } else at = (at + 1) % Math.max(1, hits.length);
      found.textContent = hits.length ? `${at + 1} of ${hits.length}` : 'no match';
      if (hits.length) { view.centre(hits[at]); view.select(hits[at]); }
    });
    btn('fit', () => view.fit());
    btn('+', () => { const s = view.size(); view.zoomAt(1.4, s.w / 2, s.h / 2); });
    btn('\u2212', () => { const s = view.size(); view.zoomAt(1 / 1.4, s.w / 2, s.h / 2); });
    const all = btn('expand all', () => {
      const on = !view.state.allChains;
      view.state.allChains = on; view.state.allConsts = on;
      all.textContent = on ? 'fold' : 'expand all';
      view.draw();
    });
    root.lgView = view;
    return view;
  }
  /* How the two runs' vars were paired; by graph: the vars left without a counterpart, and why. */
  function matching(parent, cmp) {
    if (!cmp.matching) return;
    const ua = cmp.unmatched_a || [], ub = cmp.unmatched_b || [];
    const d = h('details', { class: 'lg-matching', 'data-field': 'matching', 'data-matching': cmp.matching }, parent);
    h('summary', {}, d, cmp.matching === 'graph'
      ? `matched by graph: ${(cmp.pairs || []).length} pairs; ${ua.length} vars of A and ${ub.length} of B without a counterpart`
      : `matched by var id`);
    const list = h('ul', {}, d);
    for (const [side, items] of [['A', ua], ['B', ub]]) {
      for (const u of items) h('li', { 'data-unmatched': `${side}${u.var_id}` }, list, `${side} var ${u.var_id}: ${u.reason}`);
    }
  }
  function legend(parent, tol) {
    const lg = h('span', { class: 'lg-legend' }, parent);
    const sw = (label, fill) => { const s = h('span', { class: 'lg-sw' }, lg); s.style.background = fill; h('span', {}, lg, label); };
    sw('exact', colour('exact', 0, tol));
    sw('below tol', colour('below', tol / 100, tol));
    sw('over', colour('over', tol * 10, tol));
    sw('\u226510\u2074\u00d7 tol', colour('over', tol * 1e4, tol));
    sw('NaN/Inf', colour('over', Infinity, tol));
  }

  Object.assign(LG, { renderPanel, mountPage });
})(window.LarGraph = window.LarGraph || {});
