/* larfarm graph view, part 3 of 4: the SVG view (progressive draw, pan, zoom, search, minimap). */
(function (LG) {
  'use strict';
  const { NODE_W, NODE_H, num, fmt, fmtAmp, clip, el, h, colour, buildModel, visibleGraph, statusOf, worst } = LG;
  const { bandCuts, layoutBand, edgePath } = LG;

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
        // since navigation start, once the first frame with the graph is painted
        requestAnimationFrame(() => { this.root.dataset.readyMs = String(Math.round(performance.now())); });
        const f = this.onFirst; this.onFirst = null; f();
      }
      if (this.pending !== null && this.isPlaced(this.pending.id)) {
        const p = this.pending; this.pending = null; this.centre(p.id, p.k);
      }
      if (this.selected !== null) this.markHood(this.selected);
      if (this.mini) this.mini.paint();
      if (b + 1 < cuts.length) { setTimeout(step, 0); return; }
      this.root.dataset.layoutMs = String(Math.round(performance.now() - t0));
      this.root.dataset.doneMs = String(Math.round(performance.now()));  // since navigation start
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
      if (this.opts.compact) return g;
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
    if (this.opts.compact) return g;  // a small multiple: coloured boxes only, no labels to hide
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
    const b = view.bounds(), sz = view.size();
    if (!Number.isFinite(b.x0)) return;
    // A graph readable when fitted to the view needs no overview.
    const small = view.placed === view.g.nodes.length &&
      Math.min(sz.w / (b.x1 - b.x0 + 40), sz.h / (b.y1 - b.y0 + 40)) >= 0.55;
    this.box.style.display = small ? 'none' : '';
    view.root.classList.toggle('lg-has-mini', !small);  // the view gives the strip its width
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
    if (this.panel) LG.renderPanel(this.panel, this, id);  // panel.js
  };

  Object.assign(LG, { GraphView });
})(window.LarGraph = window.LarGraph || {});
