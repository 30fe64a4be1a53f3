/* larfarm graph view: the var graph of one comparison, coloured by error.
 *
 * Input: the comparison object of `python -m analysis A B --json` (vars with
 * var_id, opr_type, opr_name, var_name, inputs, metrics, status; first, roots,
 * amplification, tolerance). Layout: dagre (vendored), one band of execution
 * order at a time (see layoutBands). No network, no other library.
 */
(function (global) {
  'use strict';
  const NS = 'http://www.w3.org/2000/svg';
  // Oprs with no inputs that only hold parameters: hidden behind their consumer.
  const CONST_TYPES = new Set(['ImmutableTensor', 'SharedDeviceTensor', 'SharedDeviceTensorWithFormat',
    'VolatileSharedDeviceTensor', 'MultipleDeviceTensorHolder', 'MultipleDeviceTensorWithFormatHolder']);
  // Oprs that move or reshape elements without arithmetic: chains of them fold into one node.
  const RELAYOUT_TYPES = new Set(['Reshape', 'Dimshuffle', 'RelayoutFormat', 'AxisAddRemove', 'Broadcast',
    'Identity', 'Copy', 'Subtensor', 'GetVarShape', 'MarkNoBroadcastElemwise', 'TypeCvt']);
  const NODE_W = 184, NODE_H = 44, BAND = 80;
  const LAYOUTS = new Map();  // band signature -> laid out dagre graph

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
    const a = Math.abs(x);
    return (a >= 1e-3 && a < 1e5) ? String(Number(x.toPrecision(3))) : x.toExponential(2);
  }
  function fmtAmp(a) {
    a = num(a);
    if (a === null || Number.isNaN(a)) return '';
    if (!Number.isFinite(a)) return 'new';
    return '\u00d7' + Number(a.toPrecision(2));
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

  /* dagre on the whole graph is superlinear and recurses once per rank (a
   * 2,000-var chain overflows Chromium's stack), so the nodes are cut into
   * bands of about BAND in execution order, each laid out on its own and
   * stacked; a band starts where the fewest edges cross. Bands are laid out
   * one after the other, so the first ones are drawn while later ones wait. */
  function bandCuts(g) {
    const N = g.nodes.length;
    g.index = new Map(g.nodes.map((n, i) => [n.key, i]));
    const open = new Array(N + 2).fill(0);  // edges crossing the cut before node i
    for (const e of g.edges) {
      const a = g.index.get(e.from), b = g.index.get(e.to);
      open[Math.min(a, b) + 1]++; open[Math.max(a, b) + 1]--;
    }
    for (let i = 1; i <= N; i++) open[i] += open[i - 1];
    const cuts = [0];
    let start = 0;
    while (N - start > BAND * 1.5) {
      let best = start + BAND, bestOpen = Infinity;
      for (let i = start + Math.floor(BAND * 0.7); i <= start + BAND * 1.3 && i < N; i++) {
        if (open[i] < bestOpen) { bestOpen = open[i]; best = i; }
      }
      cuts.push(best); start = best;
    }
    cuts.push(N);
    return cuts;
  }
  /* Lay out band b (nodes cuts[b]..cuts[b+1]) below y; returns the y under it. */
  function layoutBand(g, cuts, b, y) {
    const lo = cuts[b], hi = cuts[b + 1], inBand = (k) => { const i = g.index.get(k); return i >= lo && i < hi; };
    const inner = g.edges.filter((e) => inBand(e.from) && inBand(e.to));
    // The same band in another comparison of the same model (small multiples) reuses its layout.
    const sig = g.nodes.slice(lo, hi).map((n) => n.key).join(',') + '|' + inner.map((e) => e.from + '>' + e.to).join(',');
    let dg = LAYOUTS.get(sig);
    if (!dg) {
      dg = new dagre.graphlib.Graph();
      dg.setGraph({ rankdir: 'TB', nodesep: 24, ranksep: 34, marginx: 0, marginy: 0 });
      dg.setDefaultEdgeLabel(() => ({}));
      for (let i = lo; i < hi; i++) dg.setNode(g.nodes[i].key, { width: NODE_W, height: NODE_H });
      for (const e of inner) dg.setEdge(e.from, e.to);
      dagre.layout(dg);
      if (LAYOUTS.size > 4000) LAYOUTS.clear();
      LAYOUTS.set(sig, dg);
    }
    // Line the band up under the node that feeds it from the band above.
    let dx = -dg.graph().width / 2;
    for (const e of g.edges) {
      if (g.index.get(e.from) < lo && inBand(e.to)) { dx = g.byKey.get(e.from).x - dg.node(e.to).x; break; }
    }
    for (let i = lo; i < hi; i++) {
      const n = g.nodes[i], p = dg.node(n.key);
      n.x = p.x + dx; n.y = p.y + y;
    }
    for (const e of inner) {
      const pe = dg.edge(e.from, e.to);
      if (pe && pe.points) e.points = pe.points.map((p) => ({ x: p.x + dx, y: p.y + y }));
    }
    return y + dg.graph().height + 60;
  }

  function edgePath(e, g) {
    if (e.points) return 'M' + e.points.map((p) => p.x.toFixed(1) + ' ' + p.y.toFixed(1)).join('L');
    const a = g.byKey.get(e.from), b = g.byKey.get(e.to);  // across bands: a curve
    const y1 = a.y + NODE_H / 2, y2 = b.y - NODE_H / 2, my = (y1 + y2) / 2;
    return `M${a.x} ${y1}C${a.x} ${my} ${b.x} ${my} ${b.x} ${y2}`;
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

  /* One graph view mounted in `root`. opts.compact: a small multiple (no labels, no panel). */
  function GraphView(root, cmp, opts) {
    opts = opts || {};
    this.root = root; this.opts = opts;
    this.m = buildModel(cmp);
    this.state = { allConsts: false, allChains: false, consts: new Set(), chains: new Set() };
    // Roots and the first var are always drawn as themselves, never folded away.
    for (const id of (cmp.roots || []).concat(cmp.first === null || cmp.first === undefined ? [] : [cmp.first])) {
      const n = this.m.info.get(id);
      if (!n) continue;
      if (n.chain !== null) this.state.chains.add(n.chain);
      if (n.isConst) for (const c of n.consumers) this.state.consts.add(c);
    }
    this.k = 1; this.tx = 0; this.ty = 0; this.selected = null; this.gen = 0; this.pending = null; this.placed = 0;
    root.classList.add('lg-root');
    if (opts.compact) root.classList.add('lg-compact');
    this.svg = el('svg', { class: 'lg-svg' }, root);
    if (!opts.compact) this.mini = new Minimap(this);
    this.vp = el('g', { class: 'lg-viewport' }, this.svg);
    this.panel = opts.panel || null;
    this.bindPanZoom();
    this.onFirst = () => { if (opts.compact) this.fit(); else this.home(); };
    this.onDone = () => { if (opts.compact) this.fit(); if (opts.onDone) opts.onDone(this); };
    this.draw();
  }
  /* (Re)draw the visible graph, band by band: each step lays out and draws
   * bands for up to ~40 ms, then yields so the page stays responsive. */
  GraphView.prototype.draw = function () {
    const t0 = performance.now(), gen = ++this.gen;
    const g = visibleGraph(this.m, this.state), cuts = bandCuts(g);
    this.g = g;
    this.vp.textContent = '';
    const ge = el('g', { class: 'lg-edges' }, this.vp), gn = el('g', { class: 'lg-nodes' }, this.vp);
    this.edgeEls = [];
    this.nodeEls = new Map();
    this.root.dataset.nodes = String(g.nodes.length);
    this.root.dataset.bands = String(cuts.length - 1);
    this.root.dataset.drawn = 'no';
    let b = 0, y = 0;
    const step = () => {
      if (gen !== this.gen) return;  // a newer draw() took over
      const t = performance.now();
      do {
        y = layoutBand(g, cuts, b, y);
        for (let i = cuts[b]; i < cuts[b + 1]; i++) this.nodeEls.set(g.nodes[i].key, this.drawNode(gn, g.nodes[i]));
        for (const e of g.edges) {
          const i = g.index.get(e.to);
          if (i < cuts[b] || i >= cuts[b + 1]) continue;
          const src = g.byKey.get(e.from), s = src.n || worst(src.members);
          this.edgeEls.push(el('path', { d: edgePath(e, g), class: 'lg-edge lg-' + s.kind, 'data-from': e.from, 'data-to': e.to }, ge));
        }
        b++;
      } while (b + 1 < cuts.length && performance.now() - t < 40);
      this.placed = cuts[b];
      if (this.onFirst) {  // the first draw: set the initial view as soon as something is drawn
        this.root.dataset.firstMs = String(Math.round(performance.now() - t0));
        this.root.dataset.readyMs = String(Math.round(performance.now()));  // since navigation start
        const f = this.onFirst; this.onFirst = null; f();
      }
      if (this.pending !== null && this.isPlaced(this.pending.id)) {
        const p = this.pending; this.pending = null; this.centre(p.id, p.k);
      }
      if (this.selected !== null) this.markHood(this.selected);
      if (this.mini) this.mini.paint();
      if (b + 1 < cuts.length) { setTimeout(step, 0); return; }
      this.root.dataset.layoutMs = String(Math.round(performance.now() - t0));
      this.root.dataset.drawn = 'yes';
      if (this.onDone) this.onDone();
    };
    step();
  };
  GraphView.prototype.isPlaced = function (id) {
    const key = this.g.rep.get(id);
    return key !== undefined && this.g.index.get(key) < this.placed;
  };
  GraphView.prototype.drawNode = function (parent, node) {
    const tol = this.m.tol, x = node.x - NODE_W / 2, y = node.y - NODE_H / 2;
    const g = el('g', { class: 'lg-node', transform: `translate(${x.toFixed(1)},${y.toFixed(1)})` }, parent);
    if (node.chain) {
      const w = worst(node.members);
      const types = [];
      for (const mem of node.members) if (types[types.length - 1] !== mem.v.opr_type) types.push(mem.v.opr_type);
      g.setAttribute('class', 'lg-node lg-chain');
      g.dataset.chain = node.members.map((mm) => mm.id).join(' ');
      g.dataset.status = w.kind;
      el('rect', { width: NODE_W, height: NODE_H, rx: 10, fill: colour(w.kind, w.err, tol) }, g);
      el('text', { x: 8, y: 17, class: 'lg-t1' }, g, clip(types.join(' \u2192 '), 27));
      el('text', { x: 8, y: 34, class: 'lg-t2' }, g,
        `${node.members.length} relayout vars ${node.members[0].id}\u2013${node.members[node.members.length - 1].id} (+)`);
      el('title', {}, g, 'folded relayout chain: click to expand');
      g.addEventListener('click', (ev) => { ev.stopPropagation(); this.state.chains.add(node.chain[0]); this.draw(); });
      return g;
    }
    const n = node.n, v = n.v;
    g.dataset.varId = String(n.id);
    g.dataset.status = statusOf(n);
    el('rect', { width: NODE_W, height: NODE_H, rx: 4, fill: colour(n.kind, n.err, tol), class: 'lg-box' }, g);
    el('text', { x: 8, y: 17, class: 'lg-t1' }, g, clip(v.opr_type || '?', 22));
    el('text', { x: NODE_W - 6, y: 17, class: 'lg-id' }, g, 'var ' + n.id);
    el('text', { x: 8, y: 34, class: 'lg-t2' }, g, clip(v.var_name || v.opr_name || v.name || '', 21));
    if (n.kind === 'over' || n.kind === 'below') {
      const a = num(n.amp), label = fmtAmp(n.amp);
      if (label) {
        const cls = !Number.isFinite(a) ? 'new' : (a > 1 ? 'up' : (a < 1 ? 'down' : 'same'));
        el('text', { x: NODE_W - 6, y: 34, class: 'lg-amp lg-amp-' + cls }, g, label);
      }
    }
    if (n.root) el('text', { x: -4, y: -4, class: 'lg-tag lg-tag-root' }, g, 'ROOT');
    if (n.first) el('text', { x: n.root ? 36 : -4, y: -4, class: 'lg-tag lg-tag-first' }, g, 'FIRST');
    if (node.hidden) {
      const b = el('text', { x: NODE_W / 2, y: NODE_H + 11, class: 'lg-more' }, g, `+${node.hidden} const`);
      b.addEventListener('click', (ev) => { ev.stopPropagation(); this.state.consts.add(n.id); this.draw(); });
    }
    el('title', {}, g, `var ${n.id} ${v.opr_type} ${v.opr_name}: max err ${fmt(n.err)}`);
    g.addEventListener('click', (ev) => { ev.stopPropagation(); this.select(n.id); });
    return g;
  };
  GraphView.prototype.bindPanZoom = function () {
    const svg = this.svg;
    let drag = null;
    svg.addEventListener('pointerdown', (ev) => { drag = { x: ev.clientX, y: ev.clientY, tx: this.tx, ty: this.ty }; });
    svg.addEventListener('pointermove', (ev) => {
      if (!drag || !(ev.buttons & 1)) return;
      this.tx = drag.tx + ev.clientX - drag.x; this.ty = drag.ty + ev.clientY - drag.y; this.apply();
    });
    svg.addEventListener('pointerup', () => { drag = null; });
    svg.addEventListener('wheel', (ev) => {
      ev.preventDefault();
      const r = svg.getBoundingClientRect();
      this.zoomAt(Math.exp(-ev.deltaY * 0.0015), ev.clientX - r.left, ev.clientY - r.top);
    }, { passive: false });
  };
  GraphView.prototype.zoomAt = function (f, cx, cy) {
    const k = Math.min(3, Math.max(0.02, this.k * f));
    this.tx = cx - (cx - this.tx) * (k / this.k); this.ty = cy - (cy - this.ty) * (k / this.k); this.k = k;
    this.apply();
  };
  /* The whole graph as a strip of coloured ticks beside the view, with the
   * viewport's box: where the error is in a deep network, at any zoom.
   * Click or drag on it to move there. */
  function Minimap(view) {
    this.view = view;
    this.box = h('div', { class: 'lg-mini', title: 'overview: click to move there' }, view.root);
    this.canvas = h('canvas', {}, this.box);
    let down = false;
    const go = (ev) => {
      const r = this.canvas.getBoundingClientRect(), t = this.t;
      if (!t) return;
      const gx = (ev.clientX - r.left - t.ox) / t.s, gy = (ev.clientY - r.top - t.oy) / t.s, sz = view.size();
      view.tx = sz.w / 2 - view.k * gx; view.ty = sz.h / 2 - view.k * gy; view.apply();
    };
    this.canvas.addEventListener('pointerdown', (ev) => { down = true; go(ev); ev.stopPropagation(); });
    this.canvas.addEventListener('pointermove', (ev) => { if (down && (ev.buttons & 1)) go(ev); });
    this.canvas.addEventListener('pointerup', () => { down = false; });
  }
  Minimap.prototype.paint = function () {
    const view = this.view, c = this.canvas, W = this.box.clientWidth || 60, H = this.box.clientHeight || 400;
    if (c.width !== W) c.width = W;
    if (c.height !== H) c.height = H;
    const b = view.bounds();
    if (!Number.isFinite(b.x0)) return;
    const s = Math.min((W - 6) / (b.x1 - b.x0), (H - 6) / (b.y1 - b.y0));
    this.t = { s, ox: (W - s * (b.x0 + b.x1)) / 2, oy: 3 - s * b.y0 };
    const ctx = c.getContext('2d'), t = this.t, tol = view.m.tol;
    ctx.clearRect(0, 0, W, H);
    for (const node of view.g.nodes.slice(0, view.placed)) {
      const n = node.n || worst(node.members);
      ctx.fillStyle = colour(n.kind, n.err, tol);
      const x = t.ox + s * (node.x - NODE_W / 2), y = t.oy + s * (node.y - NODE_H / 2);
      ctx.fillRect(x, y, Math.max(2, s * NODE_W), Math.max(1.5, s * NODE_H));
      if (n.root && !node.chain) { ctx.fillStyle = '#b00'; ctx.fillRect(0, y - 1, W, 2.5); }
    }
    this.frame();
  };
  Minimap.prototype.frame = function () {
    const t = this.t, view = this.view;
    if (!t) return;
    if (!this.vbox) this.vbox = h('div', { class: 'lg-mini-view' }, this.box);
    const sz = view.size();
    const x0 = -view.tx / view.k, y0 = -view.ty / view.k;
    const st = this.vbox.style;
    st.left = (t.ox + t.s * x0) + 'px'; st.top = (t.oy + t.s * y0) + 'px';
    st.width = Math.max(4, t.s * sz.w / view.k) + 'px'; st.height = Math.max(4, t.s * sz.h / view.k) + 'px';
  };
  GraphView.prototype.apply = function () {
    if (this.mini) this.mini.frame();
    this.vp.setAttribute('transform', `translate(${this.tx.toFixed(1)},${this.ty.toFixed(1)}) scale(${this.k.toFixed(4)})`);
    this.svg.classList.toggle('lg-far', this.k < 0.55 || !!this.opts.compact);
  };
  GraphView.prototype.size = function () {
    const r = this.svg.getBoundingClientRect();
    return { w: r.width || 800, h: r.height || 600 };
  };
  GraphView.prototype.bounds = function () {
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const n of this.g.nodes.slice(0, this.placed)) {
      x0 = Math.min(x0, n.x - NODE_W / 2); x1 = Math.max(x1, n.x + NODE_W / 2);
      y0 = Math.min(y0, n.y - NODE_H / 2); y1 = Math.max(y1, n.y + NODE_H / 2);
    }
    return { x0, x1, y0, y1 };
  };
  /* The whole graph in view; a deep one would shrink to a line, so the zoom
   * stops at 0.12 (nodes still coloured boxes) and the minimap shows the rest. */
  GraphView.prototype.fit = function () {
    const b = this.bounds(), s = this.size();
    if (!Number.isFinite(b.x0)) return;
    const k = Math.min(1, (s.w - 20) / (b.x1 - b.x0 + 40), (s.h - 20) / (b.y1 - b.y0 + 40));
    this.k = this.opts.compact ? k : Math.max(k, 0.12);
    this.tx = s.w / 2 - this.k * (b.x0 + b.x1) / 2; this.ty = 10 - this.k * (b.y0 - 20);
    this.apply();
  };
  /* Small graphs fit the view; large ones open on the first root, labelled. */
  GraphView.prototype.home = function () {
    const b = this.bounds(), s = this.size();
    const fitK = Math.min((s.w - 20) / (b.x1 - b.x0 + 40), (s.h - 20) / (b.y1 - b.y0 + 40));
    const start = (this.m.cmp.roots || [])[0];
    const whole = this.placed === this.g.nodes.length;
    if (whole && (fitK >= 0.55 || start === undefined)) this.fit();
    else if (start !== undefined) this.centre(start, 1);
    else { this.k = 1; this.tx = s.w / 2; this.ty = 20 - b.y0; this.apply(); }
  };
  GraphView.prototype.centre = function (id, k) {
    this.reveal(id);
    const node = this.g.byKey.get('v' + id);
    if (!node) return false;
    if (!this.isPlaced(id)) { this.pending = { id, k }; return true; }  // its band is not laid out yet
    const s = this.size();
    if (k) this.k = k;
    else this.k = Math.max(this.k, 0.8);
    this.tx = s.w / 2 - this.k * node.x; this.ty = s.h / 2 - this.k * node.y;
    this.apply();
    return true;
  };
  /* Expand whatever hides var `id` (a folded chain, or a constant behind its consumer). */
  GraphView.prototype.reveal = function (id) {
    const n = this.m.info.get(id);
    if (!n || this.g.byKey.has('v' + id)) return;
    if (n.chain !== null) this.state.chains.add(n.chain);
    if (n.isConst) for (const c of n.consumers) this.state.consts.add(c);
    this.draw();
  };
  GraphView.prototype.search = function (text) {
    text = String(text).trim().toLowerCase();
    if (!text) return [];
    const m = /^(?:var\s*)?(\d+)$/.exec(text);
    if (m && this.m.info.has(Number(m[1]))) return [Number(m[1])];
    const hits = [];
    for (const id of this.m.ids) {
      const v = this.m.info.get(id).v;
      if ((v.var_name || '').toLowerCase().includes(text) || (v.opr_name || '').toLowerCase().includes(text)) hits.push(id);
    }
    return hits;
  };
  GraphView.prototype.markHood = function (id) {
    for (const e of this.vp.querySelectorAll('.lg-hood, .lg-selected')) e.classList.remove('lg-hood', 'lg-selected');
    const n = this.m.info.get(id);
    if (!n) return;
    const keys = new Set([this.g.rep.get(id)]);
    for (const i of n.inputs) keys.add(this.g.rep.get(i));
    for (const c of n.consumers) keys.add(this.g.rep.get(c));
    for (const k of keys) { const e = this.nodeEls.get(k); if (e) e.classList.add('lg-hood'); }
    const me = this.nodeEls.get('v' + id);
    if (me) me.classList.add('lg-selected');
    const mine = 'v' + id;
    for (const p of this.edgeEls) if (p.dataset.from === mine || p.dataset.to === mine) p.classList.add('lg-hood');
  };
  GraphView.prototype.select = function (id) {
    this.reveal(id);
    this.selected = id;
    this.markHood(id);
    if (this.opts.onSelect) this.opts.onSelect(id);
    if (this.panel) renderPanel(this.panel, this, id);
  };

  /* The var panel: every metric analysis computed, inputs, consumers, histogram. */
  function renderPanel(panel, view, id) {
    const m = view.m, n = m.info.get(id), v = n.v;
    panel.textContent = '';
    panel.dataset.panelVar = String(id);
    h('h3', {}, panel, `var ${id} \u00b7 ${v.opr_type || '?'}`);
    h('div', { class: 'lg-names' }, panel, `opr ${v.opr_name || '-'}; var ${v.var_name || '-'}`);
    const other = v.match || null;  // names on side B, when the graphs were matched
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
    const body = h('div', { class: 'lg-body' }, root);
    const area = h('div', { class: 'lg-area' }, body);
    const panel = h('div', { class: 'lg-panel' }, body);
    h('p', { class: 'lg-note' }, panel, 'Click a var to see its metrics. Drag to pan, wheel to zoom. ' +
      'Constants and relayout chains are folded: click "+N const" or a chain to expand.');
    const view = new GraphView(area, cmp, { panel, onDone: opts.onDone });
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
  function legend(parent, tol) {
    const lg = h('span', { class: 'lg-legend' }, parent);
    const sw = (label, fill) => { const s = h('span', { class: 'lg-sw' }, lg); s.style.background = fill; h('span', {}, lg, label); };
    sw('exact', colour('exact', 0, tol));
    sw('below tol', colour('below', tol / 100, tol));
    sw('over', colour('over', tol * 10, tol));
    sw('\u226510\u2074\u00d7 tol', colour('over', tol * 1e4, tol));
    sw('NaN/Inf', colour('over', Infinity, tol));
  }

  global.LarGraph = { GraphView, mountPage, colour, buildModel, visibleGraph, fmt };
})(window);
