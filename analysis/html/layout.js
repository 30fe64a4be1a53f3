/* larfarm graph view, part 2 of 4: positions from dagre, one band of execution order at a time. */
(function (LG) {
  'use strict';
  const { NODE_W, NODE_H } = LG;
  const BAND = 80;
  const LAYOUTS = new Map();  // band signature -> laid out dagre graph

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

  Object.assign(LG, { bandCuts, layoutBand, edgePath });
})(window.LarGraph = window.LarGraph || {});
