/* larfarm graph view, part 1 of 4: the comparison as a graph model (what to draw, which colour).
 *
 * Input: the comparison object of `python -m analysis A B --json` (vars with
 * var_id, opr_type, opr_name, var_name, inputs, metrics, status; first, roots,
 * amplification, tolerance). Parts: model.js, layout.js (dagre, vendored),
 * view.js (SVG, pan/zoom, minimap), panel.js (var panel, page). No network.
 */
(function (LG) {
  'use strict';
  const NS = 'http://www.w3.org/2000/svg';
  // Oprs with no inputs that only hold parameters: hidden behind their consumer.
  const CONST_TYPES = new Set(['ImmutableTensor', 'SharedDeviceTensor', 'SharedDeviceTensorWithFormat',
    'VolatileSharedDeviceTensor', 'MultipleDeviceTensorHolder', 'MultipleDeviceTensorWithFormatHolder']);
  // Oprs that move or reshape elements without arithmetic: chains of them fold into one node.
  const RELAYOUT_TYPES = new Set(['Reshape', 'Dimshuffle', 'RelayoutFormat', 'AxisAddRemove', 'Broadcast',
    'Identity', 'Copy', 'Subtensor', 'GetVarShape', 'MarkNoBroadcastElemwise']);
  const NODE_W = 184, NODE_H = 44;

  function num(x) {
    if (x === null || x === undefined) return null;
    if (x === 'inf') return Infinity;
    if (x === '-inf') return -Infinity;
    if (x === 'nan') return NaN;
    return x;
  }
  function fmt(x) {
    x = num(x);
    if (x === null) return '-';
    if (x === 0) return '0';
    if (Number.isNaN(x)) return 'nan';
    if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
    return g3(x);
  }
  // Python's '%.3g' (analysis.render), so the page reads as the text and terminal reports do.
  function g3(x) {
    const s = x.toExponential(2); // rounded first: 999.7 -> "1.00e+3"
    const exp = Number(s.slice(s.indexOf('e') + 1));
    if (exp < -4 || exp >= 3) {
      const mant = s.slice(0, s.indexOf('e')).replace(/\.?0+$/, '');
      return mant + 'e' + (exp < 0 ? '-' : '+') + String(Math.abs(exp)).padStart(2, '0');
    }
    return String(Number(x.toFixed(Math.max(0, 2 - exp))));
  }
  function fmtAmp(a) {
    a = num(a);
    if (a === null || Number.isNaN(a)) return '';
    if (!Number.isFinite(a)) return 'new';
    return 'x' + g3(a);
  }
  function clip(s, n) { return s.length <= n ? s : s.slice(0, n - 1) + '\u2026'; }
  function el(tag, attrs, parent, text) {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function h(tag, attrs, parent, text) {
    const e = document.createElement(tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }

  /* Error colour on a log scale against the tolerance: grey exact, blues below
   * (lighter the smaller, six decades), yellow to dark red over (four decades),
   * purple for NaN/Inf. Returned as rgb() so tests can recompute it. */
  function colour(kind, err, tol) {
    if (kind === 'missing') return 'rgb(255,255,255)';
    if (kind === 'exact' || err === 0) return 'rgb(233,236,239)';
    if (!Number.isFinite(err)) return 'rgb(123,31,162)';
    const r = Math.log10(err / Math.max(tol, 1e-30));
    if (kind === 'below') {
      const t = Math.min(1, Math.max(0, (r + 6) / 6));
      return mix([222, 235, 247], [66, 146, 198], t);
    }
    const t = Math.min(1, Math.max(0, r / 4));
    return t < 0.5 ? mix([254, 217, 118], [240, 59, 32], t * 2) : mix([240, 59, 32], [128, 0, 38], t * 2 - 1);
  }
  function mix(a, b, t) {
    return 'rgb(' + a.map((x, i) => Math.round(x + (b[i] - x) * t)).join(',') + ')';
  }

  /* Everything the view needs from one comparison, computed once. */
  function buildModel(cmp) {
    const tol = num(cmp.tolerance);
    const vars = new Map();
    for (const v of cmp.vars || []) {
      if (v.input_index !== null && v.input_index !== undefined) continue;  // -inpK files repeat another var
      if (v.secondary) continue;  // graph matching: another B var (a relayout copy) of an A var already drawn
      vars.set(v.var_id, v);
    }
    const ids = Array.from(vars.keys()).sort((a, b) => a - b);
    const roots = new Set(cmp.roots || []);
    const amp = cmp.amplification || {};
    const info = new Map();
    for (const id of ids) {
      const v = vars.get(id);
      const err = num(v.max_err);
      let kind;
      if ((v.status !== 'compared' && v.status !== 'identical_by_digest') || err === null) kind = 'missing';
      else if (v.bitwise_equal || err === 0) kind = 'exact';
      else kind = v.differs ? 'over' : 'below';
      const inputs = (v.inputs || []).filter((i) => vars.has(i));
      const isConst = CONST_TYPES.has(v.opr_type);
      info.set(id, {
        id, v, err, kind, inputs, consumers: [], isConst,
        relayout: RELAYOUT_TYPES.has(v.opr_type), amp: amp[String(id)],
        root: roots.has(id), first: cmp.first === id, chain: null,
      });
    }
    for (const id of ids) for (const i of info.get(id).inputs) info.get(i).consumers.push(id);
    // Relayout chains: a relayout var whose one data input is a relayout var consumed only by it.
    const chains = new Map();
    for (const id of ids) {
      const n = info.get(id);
      if (!n.relayout || n.isConst) continue;
      const data = n.inputs.filter((i) => !info.get(i).isConst);
      const p = data.length === 1 ? info.get(data[0]) : null;
      const pCons = p ? p.consumers.filter((c) => !info.get(c).isConst) : [];
      if (p && p.relayout && !p.isConst && pCons.length === 1) {
        const head = p.chain === null ? p.id : p.chain;
        p.chain = head; n.chain = head;
        if (!chains.has(head)) chains.set(head, [p.id]);
        chains.get(head).push(id);
      }
    }
    return { cmp, tol, ids, info, chains };
  }

  /* The drawn graph for the current expansion state: nodes (vars or folded chains) and edges. */
  function visibleGraph(m, state) {
    const nodes = [], byKey = new Map(), rep = new Map();
    const constShown = (n) => state.allConsts || n.consumers.some((c) => state.consts.has(c));
    for (const id of m.ids) {
      const n = m.info.get(id);
      if (n.isConst && n.consumers.length && !constShown(n)) continue;
      if (n.chain !== null && !state.allChains && !state.chains.has(n.chain)) {
        const key = 'c' + n.chain;
        if (!byKey.has(key)) {
          const node = { key, chain: m.chains.get(n.chain), members: [] };
          byKey.set(key, node); nodes.push(node);
        }
        byKey.get(key).members.push(n);
        rep.set(id, key);
        continue;
      }
      const node = { key: 'v' + id, n, members: [n] };
      byKey.set(node.key, node); nodes.push(node); rep.set(id, node.key);
    }
    const edges = [], seen = new Set();
    for (const node of nodes) {
      node.hidden = 0;
      for (const mem of node.members) {
        for (const i of mem.inputs) {
          const from = rep.get(i);
          if (from === undefined) { node.hidden++; continue; }
          if (from === node.key) continue;
          const k = from + '>' + node.key;
          if (!seen.has(k)) { seen.add(k); edges.push({ from, to: node.key }); }
        }
      }
    }
    return { nodes, edges, byKey, rep };
  }
  function statusOf(n) {
    const s = [n.kind];
    if (n.root) s.push('root');
    if (n.first) s.push('first');
    return s.join(' ');
  }
  const RANK = { missing: 0, exact: 1, below: 2, over: 3 };
  function worst(members) {
    return members.reduce((w, n) => (RANK[n.kind] > RANK[w.kind] || (n.kind === w.kind && (n.err || 0) > (w.err || 0)) ? n : w));
  }

  Object.assign(LG, { NS, NODE_W, NODE_H, num, fmt, fmtAmp, clip, el, h, colour, buildModel, visibleGraph, statusOf, worst });
})(window.LarGraph = window.LarGraph || {});
