// The call graph view: the server lays the graph out in columns; this draws it as SVG with
// pan, zoom, selection and highlighting. Labels are SVG text nodes, never markup.
import { el, svg, rate, pct, clock, morph } from "/js/dom.js";

const KINDS = {
  internet: { glyph: "⊕", name: "Internet" },
  client: { glyph: "C", name: "Client" },
  service: { glyph: "S", name: "Service" },
  "internal-unknown": { glyph: "?", name: "Unknown internal" },
  external: { glyph: "E", name: "External" },
};
const RECENT_SECS = 600;
const FRESH_START_SECS = 60;
/** The smallest zoom the initial view uses: below it, 12 px labels are no longer legible. */
const MIN_FIT_SCALE = 0.72;
const TOOLBAR_PX = 60;

/** The graph view, drawing into `svgEl`; `onSelect(kind, item)` opens details. */
export class GraphView {
  constructor(svgEl, onSelect) {
    this.svg = svgEl;
    this.onSelect = onSelect;
    this.view = null;
    this.touched = false;
    this.selected = null;
    this.data = null;
    /** The node and the edge that hold the graph's two tab stops (roving tabindex). */
    this.focusNode = null;
    this.focusEdge = null;
    this.installPanZoom();
    this.installKeyboard();
  }

  /** Draws `graph` (from /api/graph), keeping the current pan and zoom. */
  render(graph) {
    this.data = graph;
    const L = graph.layout || { width: 0, height: 0, node_width: 180, node_height: 40 };
    const nodes = graph.nodes || [];
    const edges = graph.edges || [];
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const now = graph.now || Date.now() / 1000;
    // "New" means first seen lately, after watching had begun: on a fresh start nothing is.
    const since = Math.min(...nodes.map((n) => n.first_seen || now), now);
    const recent = (t) => t && now - t < RECENT_SECS && t - since > FRESH_START_SECS;
    const inbound = new Map();
    const outbound = new Map();
    for (const e of edges) {
      const t = e.total || {};
      const agg = inbound.get(e.to) || { rate: 0, errors: 0, count: 0, blocked: 0 };
      // Refused calls never reached the node: they count as blocked, not as traffic in.
      const let_through = (t.count || 0) - (t.blocked || 0);
      agg.rate += (t.rate || 0) * (t.count ? let_through / t.count : 1);
      agg.count += let_through;
      agg.blocked += t.blocked || 0;
      agg.errors += (t.ratio_5xx || 0) * let_through;
      inbound.set(e.to, agg);
      outbound.set(e.from, (outbound.get(e.from) || 0) + (t.rate || 0));
    }

    // Node names are cut at the box's edge by a clip, not shortened: the whole name stays in
    // the text (for screen readers and search), and in the tooltip and the panel.
    const defs = svg("defs", {},
      svg("clipPath", { id: "node-text-clip" }, svg("rect", { x: 0, y: 0, width: L.node_width - 8, height: L.node_height })),
      marker("arrow", "edge-arrow"),
      marker("arrow-blocked", "edge-arrow blocked"),
      marker("arrow-reported", "edge-arrow reported"),
      marker("arrow-err", "edge-arrow err"));
    const columns = svg("g", { class: "columns" }, ...this.columnBands(nodes, L));
    const edgeLayer = svg("g", { class: "edges" });
    const labelLayer = svg("g", { class: "edge-labels" });
    const nodeLayer = svg("g", { class: "nodes" });

    for (const e of edges) {
      if (!e.points || e.points.length < 2) continue;
      const t = e.total || {};
      const classes = ["edge"];
      let arrow = "arrow";
      if (t.blocked > 0) { classes.push("blocked"); arrow = "arrow-blocked"; }
      else if (t.reported > 0) { classes.push("reported"); arrow = "arrow-reported"; }
      else if ((t.ratio_5xx || 0) >= 0.2) { classes.push("err-high"); arrow = "arrow-err"; }
      else if ((t.ratio_5xx || 0) >= 0.02) { classes.push("err"); arrow = "arrow-err"; }
      if (recent(e.first_seen)) classes.push("new");
      if (e.backwards) classes.push("backwards");
      const d = curve(e.points);
      const width = 1.2 + Math.min(4, Math.log10(1 + (t.rate || 0) * 10) * 1.6);
      const key = e.from + "\u0000" + e.to;
      const g = svg("g", { class: classes.join(" "), dataset: { from: e.from, to: e.to, key }, tabindex: -1, role: "button",
        "aria-label": edgeTitle(e, byId).replaceAll("\n", ", ") },
        svg("path", { d, class: "edge-hit" }),
        svg("path", { d, class: "edge-line", "stroke-width": width.toFixed(2), "marker-end": `url(#${arrow})` }),
        svg("title", {}, edgeTitle(e, byId)));
      g.addEventListener("click", (ev) => { ev.stopPropagation(); this.select("edge", key); });
      edgeLayer.append(g);
      const mid = pointAt(e.points, 0.5);
      const label = t.blocked > 0
        ? `blocked ${t.blocked}`
        : `${rate(t.rate)}${t.ratio_5xx ? " · " + pct(t.ratio_5xx) + " err" : ""}`;
      // Centred on its own edge's curve; `placeLabels` moves it along the curve, away from
      // other labels and the nodes.
      const text = svg("text", { x: mid[0], y: mid[1], dataset: { key }, class: "edge-label " + classes.slice(1).join(" ") }, label);
      labelLayer.append(text);
    }

    for (const n of nodes) {
      const kind = KINDS[n.kind] ? n.kind : "service";
      const classes = ["node", "kind-" + kind];
      if (recent(n.first_seen)) classes.push("new");
      const agg = inbound.get(n.id);
      const sub = agg && agg.count === 0 && agg.blocked > 0
        ? `${agg.blocked} blocked`
        : agg
        ? `${rate(agg.rate)} in${agg.errors ? " · " + pct(agg.errors / Math.max(1, agg.count)) + " err" : ""}${agg.blocked ? ` · ${agg.blocked} blocked` : ""}`
        : outbound.has(n.id) ? `${rate(outbound.get(n.id))} out` : KINDS[kind].name.toLowerCase();
      const label = n.label || n.id;
      const w = L.node_width, h = L.node_height;
      const g = svg("g", { class: classes.join(" "), transform: `translate(${n.x},${n.y})`, dataset: { id: n.id, layer: n.layer, x: n.x, y: n.y },
        tabindex: -1, role: "button" },
        // The tooltip and the accessible name: the full name, its kind and its traffic.
        svg("title", {}, `${KINDS[kind].name}: ${label}, ${sub}${classes.includes("new") ? ", new" : ""}`),
        svg("rect", { class: "node-box", width: w, height: h, rx: kind === "internet" ? h / 2 : 6 }),
        svg("rect", { class: "node-stripe", width: 4, height: h - 12, x: 0, y: 6, rx: 2 }),
        svg("circle", { class: "node-icon", cx: 22, cy: h / 2, r: 11 }),
        svg("text", { class: "node-glyph", x: 22, y: h / 2 + 4, "aria-hidden": "true" }, KINDS[kind].glyph),
        svg("text", { class: "node-label", x: 40, y: 17, "clip-path": "url(#node-text-clip)" }, label),
        svg("text", { class: "node-sub", x: 40, y: 31, "clip-path": "url(#node-text-clip)" }, sub));
      if (classes.includes("new")) {
        g.append(svg("rect", { class: "node-new-pill", x: w - 34, y: -7, width: 30, height: 13, rx: 6.5 }),
          svg("text", { class: "node-new", x: w - 19, y: 3 }, "NEW"));
      }
      g.addEventListener("click", (ev) => { ev.stopPropagation(); this.select("node", n.id); });
      nodeLayer.append(g);
    }

    // An update, not a rebuild: elements that are still there stay (with their focus, hover and
    // tooltip); only what changed is written.
    const active = this.svg.contains(document.activeElement) ? itemKey(document.activeElement) : null;
    morph(this.svg, [defs, columns, edgeLayer, labelLayer, nodeLayer]);
    this.drawn = { edges, nodes, L };
    this.roving();
    this.applyFilter();
    if (active && !this.svg.contains(document.activeElement)) {
      const again = this.find(active);
      if (again) again.focus({ preventScroll: true });
    }
    this.svg.classList.toggle("dense", edges.length > 60);
    this.size = { w: Math.max(L.width, 200), h: Math.max(L.height, 120) };
    if (!this.view || !this.touched) this.fit();
    else this.apply();
    this.highlight();
    const pointed = this.svg.querySelector(".edge:hover") || (this.svg.contains(document.activeElement) && document.activeElement.closest(".edge"));
    if (pointed) this.showLabel(pointed);
  }

  /** Places each edge label on its own edge's curve where it overlaps no other label and no
   * node: the middle of the curve if free, else the nearest free spot along it. A label that
   * finds no free spot is hidden ("crowded") and shown, on its curve, while its edge is
   * hovered or focused. The selection's edges place first, then blocked edges, then by errors
   * and rate. */
  placeLabels() {
    if (!this.drawn) return;
    const { edges, nodes, L } = this.drawn;
    const sel = this.selected;
    const chosen = (e) => !!sel && (sel.kind === "edge" ? e.from + "\u0000" + e.to === sel.key : e.from === sel.key || e.to === sel.key);
    const texts = new Map([...this.svg.querySelectorAll(".edge-label")].map((t) => [t.dataset.key, t]));
    const pad = 2;
    const taken = nodes.map((n) => ({ x0: n.x - pad, y0: n.y - pad, x1: n.x + L.node_width + pad, y1: n.y + L.node_height + pad }));
    const weight = (e) => {
      const t = e.total || {};
      return (chosen(e) ? 1e12 : 0) + (t.blocked > 0 ? 1e9 : 0) + (t.ratio_5xx || 0) * 1e6 + (t.rate || 0);
    };
    const order = edges.filter((e) => e.points && e.points.length >= 2).sort((a, b) => weight(b) - weight(a));
    const overlaps = (b) => taken.some((o) => b.x0 < o.x1 && b.x1 > o.x0 && b.y0 < o.y1 && b.y1 > o.y0);
    for (const e of order) {
      const text = texts.get(e.from + "\u0000" + e.to);
      if (!text) continue;
      let width = 0;
      try { width = text.getComputedTextLength(); } catch (_) { /* not laid out */ }
      if (!width) width = text.textContent.length * 6.2;
      const h = 13;
      let placed = null;
      for (const f of LABEL_SPOTS) {
        const [x, y] = pointAt(e.points, f);
        const box = { x0: x - width / 2 - pad, y0: y - h / 2 - pad, x1: x + width / 2 + pad, y1: y + h / 2 + pad };
        if (!overlaps(box)) { placed = { x, y, box }; break; }
      }
      const [x, y] = placed ? [placed.x, placed.y] : pointAt(e.points, 0.5);
      text.setAttribute("x", x.toFixed(1));
      text.setAttribute("y", y.toFixed(1));
      text.classList.toggle("crowded", !placed);
      if (placed) taken.push(placed.box);
    }
  }

  /** Shows the label of the edge `g` (hovered or focused), hiding any other shown so. */
  showLabel(g) {
    for (const t of this.svg.querySelectorAll(".edge-label.shown")) if (!g || t.dataset.key !== g.dataset.key) t.classList.remove("shown");
    if (!g) return;
    for (const t of this.svg.querySelectorAll(".edge-label")) if (t.dataset.key === g.dataset.key) t.classList.add("shown");
  }

  columnBands(nodes, L) {
    const layers = new Map();
    for (const n of nodes) {
      const l = layers.get(n.layer) || { x: n.x, kinds: new Set() };
      l.kinds.add(n.kind);
      layers.set(n.layer, l);
    }
    const count = layers.size;
    const out = [];
    // One title per column: a second column of internal services is the tier they call.
    let internal = 0;
    for (const [layer, info] of [...layers.entries()].sort((a, b) => a[0] - b[0])) {
      let title;
      if (info.kinds.has("external") && [...info.kinds].every((k) => k === "external")) title = "External destinations";
      else if (layer === 0 && [...info.kinds].some((k) => k === "internet" || k === "client")) title = "Internet & clients";
      else if (layer === 1 || count <= 2) title = "Entry services";
      else {
        internal++;
        title = internal === 1 ? "Internal services" : internal === 2 ? "Called by internal services" : `Internal tier ${internal}`;
      }
      out.push(svg("rect", { class: "column-band", x: info.x - 14, y: 0, width: L.node_width + 28, height: Math.max(L.height, 60), rx: 10 }));
      out.push(svg("text", { class: "column-title", x: info.x + L.node_width / 2, y: 14 }, title.toUpperCase()));
    }
    return out;
  }

  /** Dims what the filters leave out: `q` a name substring, `blocked`/`errors` only edges with
   * blocked calls or errors (and their ends), `external` hides external destinations. */
  setFilter(f) {
    this.filter = f;
    this.applyFilter();
  }

  applyFilter() {
    const f = this.filter || {};
    const q = (f.q || "").trim().toLowerCase();
    const active = !!(q || f.blocked || f.errors || f.external);
    this.svg.classList.toggle("filtered", active);
    const nodes = [...this.svg.querySelectorAll(".node")];
    const edges = [...this.svg.querySelectorAll(".edge")];
    const external = new Set(nodes.filter((g) => g.classList.contains("kind-external")).map((g) => g.dataset.id));
    const named = new Set(nodes.filter((g) => !q || g.dataset.id.toLowerCase().includes(q)
      || g.querySelector(".node-label").textContent.toLowerCase().includes(q)).map((g) => g.dataset.id));
    const keep = new Set();
    for (const g of edges) {
      const ok = (!f.blocked || g.classList.contains("blocked"))
        && (!f.errors || g.classList.contains("err") || g.classList.contains("err-high"))
        && (!f.external || (!external.has(g.dataset.from) && !external.has(g.dataset.to)))
        && (!q || named.has(g.dataset.from) || named.has(g.dataset.to));
      g.classList.toggle("dim", active && !ok);
      if (ok) { keep.add(g.dataset.from); keep.add(g.dataset.to); }
    }
    for (const g of nodes) {
      const id = g.dataset.id;
      const gone = !!f.external && external.has(id);
      const ok = !gone && (q ? named.has(id) || (!f.blocked && !f.errors && keep.has(id)) : (!f.blocked && !f.errors) || keep.has(id));
      g.classList.toggle("gone", gone);
      g.classList.toggle("dim", active && !ok);
      g.classList.toggle("match", !!q && named.has(id));
    }
    for (const g of edges) g.classList.toggle("gone", !!f.external && (external.has(g.dataset.from) || external.has(g.dataset.to)));
    // A label goes with its edge: faded or gone alike.
    const state = new Map(edges.map((g) => [g.dataset.key, g.classList]));
    for (const t of this.svg.querySelectorAll(".edge-label")) {
      const c = state.get(t.dataset.key);
      t.classList.toggle("dim", !!c && c.contains("dim"));
      t.classList.toggle("gone", !!c && c.contains("gone"));
    }
  }

  /** The element for a key from `itemKey`. */
  find(k) {
    if (!k) return null;
    const [kind, key] = [k.slice(0, 4), k.slice(5)];
    for (const g of this.svg.querySelectorAll(kind === "node" ? ".node" : ".edge")) {
      if ((kind === "node" ? g.dataset.id : g.dataset.key) === key) return g;
    }
    return null;
  }

  /** One node and one edge are in the tab order; arrow keys move within each. */
  roving() {
    const nodes = [...this.svg.querySelectorAll(".node")];
    const edges = [...this.svg.querySelectorAll(".edge")];
    // Without a choice yet, the tab stop is the first node of the first column.
    const first = () => nodes.reduce((best, g) => (!best || Number(g.dataset.layer) < Number(best.dataset.layer)
      || (g.dataset.layer === best.dataset.layer && Number(g.dataset.y) < Number(best.dataset.y)) ? g : best), null);
    const node = this.find(this.focusNode) || first();
    const edge = this.find(this.focusEdge) || edges[0];
    for (const g of nodes) g.setAttribute("tabindex", g === node ? "0" : "-1");
    for (const g of edges) g.setAttribute("tabindex", g === edge ? "0" : "-1");
  }

  /** Moves keyboard focus to `g`, panning it into view if it is outside. */
  focusItem(g) {
    if (!g) return;
    const k = itemKey(g);
    if (k.startsWith("node")) this.focusNode = k; else this.focusEdge = k;
    this.roving();
    g.focus({ preventScroll: true });
    this.reveal(g);
  }

  /** Pans so that `g` is in sight, when it is not. */
  reveal(g) {
    const box = g.getBoundingClientRect();
    const frame = this.svg.getBoundingClientRect();
    if (this.view && (box.left < frame.left || box.right > frame.right || box.top < frame.top || box.bottom > frame.bottom)) {
      const v = this.view;
      const cx = v.x + ((box.left + box.width / 2 - frame.left) / frame.width) * v.w;
      const cy = v.y + ((box.top + box.height / 2 - frame.top) / frame.height) * v.h;
      this.view = { ...v, x: cx - v.w / 2, y: cy - v.h / 2 };
      this.touched = true;
      this.apply();
    }
  }

  installKeyboard() {
    this.svg.addEventListener("keydown", (ev) => {
      const g = ev.target.closest && ev.target.closest(".node, .edge");
      if (!g) return;
      const isNode = g.classList.contains("node");
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        if (isNode) this.select("node", g.dataset.id); else this.select("edge", g.dataset.key);
        return;
      }
      if (ev.key === "Escape") {
        if (this.selected) { ev.preventDefault(); this.select(null, null); }
        return;
      }
      const next = isNode ? this.nodeToward(g, ev.key) : this.edgeToward(g, ev.key);
      if (next !== undefined) { ev.preventDefault(); this.focusItem(next); }
    });
    // A label hidden for want of room shows on its curve while its edge is pointed at or focused.
    this.svg.addEventListener("pointerover", (ev) => this.showLabel(ev.target.closest && ev.target.closest(".edge")));
    this.svg.addEventListener("pointerleave", () => this.showLabel(document.activeElement && document.activeElement.closest && document.activeElement.closest("svg#graph .edge")));
    this.svg.addEventListener("focusout", () => this.showLabel(null));
    this.svg.addEventListener("focusin", (ev) => {
      const g = ev.target.closest && ev.target.closest(".node, .edge");
      if (!g) return;
      if (g.classList.contains("edge")) this.showLabel(g);
      const k = itemKey(g);
      if (k.startsWith("node")) this.focusNode = k; else this.focusEdge = k;
    });
  }

  /** The node an arrow key leads to: up and down within a column, left and right to the
   * nearest node of the next column; `undefined` for other keys. */
  nodeToward(g, key) {
    const nodes = [...this.svg.querySelectorAll(".node")].map((n) => ({ g: n, layer: Number(n.dataset.layer), x: Number(n.dataset.x), y: Number(n.dataset.y) }));
    const me = nodes.find((n) => n.g === g);
    if (!me) return undefined;
    if (key === "Home") return nodes[0].g;
    if (key === "End") return nodes[nodes.length - 1].g;
    if (key === "ArrowUp" || key === "ArrowDown") {
      const col = nodes.filter((n) => n.layer === me.layer).sort((a, b) => a.y - b.y);
      const i = col.indexOf(me) + (key === "ArrowDown" ? 1 : -1);
      return (col[i] || me).g;
    }
    if (key === "ArrowLeft" || key === "ArrowRight") {
      const layers = [...new Set(nodes.map((n) => n.layer))].sort((a, b) => a - b);
      const layer = layers[layers.indexOf(me.layer) + (key === "ArrowRight" ? 1 : -1)];
      if (layer === undefined) return me.g;
      const col = nodes.filter((n) => n.layer === layer);
      col.sort((a, b) => Math.abs(a.y - me.y) - Math.abs(b.y - me.y));
      return col[0].g;
    }
    return undefined;
  }

  /** The edge an arrow key leads to, in drawing order. */
  edgeToward(g, key) {
    const edges = [...this.svg.querySelectorAll(".edge")];
    const i = edges.indexOf(g);
    if (key === "Home") return edges[0];
    if (key === "End") return edges[edges.length - 1];
    if (key === "ArrowDown" || key === "ArrowRight") return edges[Math.min(edges.length - 1, i + 1)];
    if (key === "ArrowUp" || key === "ArrowLeft") return edges[Math.max(0, i - 1)];
    return undefined;
  }

  /** Selects a node (`id`) or an edge (`from\0to`) and tells the details panel; closing the
   * panel (`key` null) gives keyboard focus back to what was selected. */
  select(kind, key, { restoreFocus = true } = {}) {
    const before = this.selected;
    this.selected = key === null ? null : { kind, key };
    if (this.selected) {
      if (kind === "node") this.focusNode = "node:" + key; else this.focusEdge = "edge:" + key;
      this.roving();
    } else if (before && restoreFocus) {
      const g = this.find(before.kind + ":" + before.key);
      if (g) g.focus({ preventScroll: true });
    }
    this.highlight();
    if (!this.data || !this.selected) { this.onSelect(null, null); return; }
    if (kind === "node") this.onSelect("node", (this.data.nodes || []).find((n) => n.id === key));
    else this.onSelect("edge", (this.data.edges || []).find((e) => e.from + "\u0000" + e.to === key));
  }

  /** The current selection, refreshed from the latest data. */
  current() {
    if (!this.selected || !this.data) return null;
    const { kind, key } = this.selected;
    const item = kind === "node"
      ? (this.data.nodes || []).find((n) => n.id === key)
      : (this.data.edges || []).find((e) => e.from + "\u0000" + e.to === key);
    return item ? { kind, item } : null;
  }

  highlight() {
    this.placeLabels();
    const sel = this.selected;
    this.svg.classList.toggle("has-selection", !!sel);
    const near = new Set();
    if (sel && sel.kind === "node") {
      near.add(sel.key);
      for (const e of (this.data && this.data.edges) || []) {
        if (e.from === sel.key || e.to === sel.key) { near.add(e.from); near.add(e.to); }
      }
    } else if (sel) {
      const [f, t] = sel.key.split("\u0000");
      near.add(f); near.add(t);
    }
    for (const g of this.svg.querySelectorAll(".node")) {
      g.classList.toggle("selected", !!sel && sel.kind === "node" && g.dataset.id === sel.key);
      g.classList.toggle("near", near.has(g.dataset.id));
    }
    const on = new Set();
    for (const g of this.svg.querySelectorAll(".edge")) {
      const yes = !!sel && (sel.kind === "edge" ? g.dataset.key === sel.key : g.dataset.from === sel.key || g.dataset.to === sel.key);
      g.classList.toggle("selected", yes);
      if (yes) on.add(g.dataset.key);
    }
    for (const t of this.svg.querySelectorAll(".edge-label")) t.classList.toggle("selected", on.has(t.dataset.key));
  }

  /** Shows the whole graph, unless that would make labels unreadable: then the widest view
   * that keeps them legible, from the top. */
  fit() {
    if (!this.size) return;
    const box = this.svg.getBoundingClientRect();
    const bw = box.width || 1200, bh = box.height || 700;
    const whole = Math.min(bw / this.size.w, bh / this.size.h);
    const scale = Math.min(1.4, Math.max(whole, MIN_FIT_SCALE));
    const w = bw / scale, h = bh / scale;
    const x = (this.size.w - w) / 2;
    // Room for the toolbar above the first row when the view starts at the top.
    const y = scale > whole && this.size.h > h ? -TOOLBAR_PX / scale : (this.size.h - h) / 2;
    this.view = { x, y, w, h };
    this.touched = false;
    this.apply();
  }

  apply() {
    const v = this.view;
    this.svg.setAttribute("viewBox", `${v.x} ${v.y} ${v.w} ${v.h}`);
    const box = this.svg.getBoundingClientRect();
    const scale = box.width ? box.width / v.w : 1;
    this.scale = scale;
    this.svg.classList.toggle("zoomed", scale > 1.3);
  }

  zoom(factor, cx, cy) {
    if (!this.view) return;
    const v = this.view;
    const nx = cx === undefined ? v.x + v.w / 2 : cx;
    const ny = cy === undefined ? v.y + v.h / 2 : cy;
    const w = Math.min(Math.max(v.w * factor, 80), (this.size.w + 400) * 6);
    const h = w * (v.h / v.w);
    this.view = { x: nx - ((nx - v.x) * w) / v.w, y: ny - ((ny - v.y) * h) / v.h, w, h };
    this.touched = true;
    this.apply();
  }

  installPanZoom() {
    const point = (ev) => {
      const box = this.svg.getBoundingClientRect();
      const v = this.view;
      return [v.x + ((ev.clientX - box.left) / box.width) * v.w, v.y + ((ev.clientY - box.top) / box.height) * v.h];
    };
    this.svg.addEventListener("wheel", (ev) => {
      if (!this.view) return;
      ev.preventDefault();
      const [x, y] = point(ev);
      this.zoom(ev.deltaY > 0 ? 1.15 : 1 / 1.15, x, y);
    }, { passive: false });
    let drag = null;
    this.svg.addEventListener("pointerdown", (ev) => {
      if (!this.view || ev.button !== 0) return;
      drag = { x: ev.clientX, y: ev.clientY, view: { ...this.view }, moved: false };
    });
    window.addEventListener("pointermove", (ev) => {
      if (!drag) return;
      const box = this.svg.getBoundingClientRect();
      const dx = ((ev.clientX - drag.x) / box.width) * drag.view.w;
      const dy = ((ev.clientY - drag.y) / box.height) * drag.view.h;
      if (Math.abs(ev.clientX - drag.x) + Math.abs(ev.clientY - drag.y) > 3) drag.moved = true;
      if (!drag.moved) return;
      this.view = { ...drag.view, x: drag.view.x - dx, y: drag.view.y - dy };
      this.touched = true;
      this.svg.classList.add("panning");
      this.apply();
    });
    window.addEventListener("pointerup", () => {
      if (drag && drag.moved) {
        // Swallow the click that ends a drag.
        const stop = (e) => { e.stopPropagation(); };
        this.svg.addEventListener("click", stop, { capture: true, once: true });
        setTimeout(() => this.svg.removeEventListener("click", stop, { capture: true }), 0);
      }
      drag = null;
      this.svg.classList.remove("panning");
    });
    this.svg.addEventListener("click", () => this.select(null, null, { restoreFocus: false }));
    window.addEventListener("resize", () => { if (!this.touched) this.fit(); });
    // When the drawing area changes size for another reason (the details panel opening or
    // closing), the scale stays: labels keep their size and the view gains or loses room at
    // the right and bottom, then pans just enough to keep the selection in sight.
    let last = null;
    new ResizeObserver(() => {
      const box = this.svg.getBoundingClientRect();
      if (!box.width || !box.height) return;
      const now = { width: box.width, height: box.height, iw: window.innerWidth, ih: window.innerHeight };
      const windowResized = last && (last.iw !== now.iw || last.ih !== now.ih);
      if (last && !windowResized && this.view && this.scale && (last.width !== now.width || last.height !== now.height)) {
        this.view = { ...this.view, w: box.width / this.scale, h: box.height / this.scale };
        // A chosen scale from now on: refreshes must not refit to the narrower area.
        this.touched = true;
        this.apply();
        const sel = this.selected && this.find(this.selected.kind + ":" + this.selected.key);
        if (sel) this.reveal(sel);
      }
      last = now;
    }).observe(this.svg);
  }
}

/** "node:<id>" or "edge:<from\0to>" for a graph element. */
function itemKey(g) {
  if (g.classList.contains("node")) return "node:" + g.dataset.id;
  if (g.classList.contains("edge")) return "edge:" + g.dataset.key;
  return null;
}

/** The legend, as HTML: the kinds of node in `kinds` (all when not given). */
export function legend(kinds) {
  const items = Object.entries(KINDS).filter(([k]) => !kinds || kinds.has(k)).map(([k, v]) =>
    el("span", { class: "legend-item" }, el("span", { class: "swatch kind-" + k }), v.name));
  items.push(
    el("span", { class: "legend-item" }, el("span", { class: "line blocked" }), "Blocked"),
    el("span", { class: "legend-item" }, el("span", { class: "line reported" }), "Reported"),
    el("span", { class: "legend-item" }, el("span", { class: "line err" }), "Errors"),
    el("span", { class: "legend-item" }, el("span", { class: "swatch new" }), "New (10 min)"));
  return items;
}

function marker(id, cls) {
  return svg("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse", markerUnits: "userSpaceOnUse" },
    svg("path", { d: "M0,0 L10,5 L0,10 z", class: cls }));
}

/** A smooth path through `points` with horizontal tangents at each point. */
function curve(points) {
  let d = `M${points[0][0]},${points[0][1]}`;
  for (let i = 1; i < points.length; i++) {
    const [x0, y0] = points[i - 1];
    const [x1, y1] = points[i];
    const dx = (x1 - x0) / 2;
    d += ` C${x0 + dx},${y0} ${x1 - dx},${y1} ${x1},${y1}`;
  }
  return d;
}

/** Where along a curve a label may sit, best first: the middle, then outwards. */
const LABEL_SPOTS = [0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78, 0.15, 0.85];

/** The point of the curve `curve(points)` draws at `f` (0 its start, 1 its end; each segment
 * of the curve an equal share). */
function pointAt(points, f) {
  const n = points.length - 1;
  const s = Math.min(n - 1, Math.floor(f * n));
  const u = f * n - s;
  const [x0, y0] = points[s];
  const [x1, y1] = points[s + 1];
  const dx = (x1 - x0) / 2;
  // The cubic Bézier from (x0,y0) through (x0+dx,y0), (x1-dx,y1) to (x1,y1).
  const c = [[x0, y0], [x0 + dx, y0], [x1 - dx, y1], [x1, y1]];
  const w = [(1 - u) ** 3, 3 * u * (1 - u) ** 2, 3 * u * u * (1 - u), u ** 3];
  return [0, 1].map((k) => c.reduce((a, p, i) => a + p[k] * w[i], 0));
}

function edgeTitle(e, byId) {
  const name = (id) => (byId.get(id) && byId.get(id).label) || id;
  const t = e.total || {};
  const parts = [`${name(e.from)} → ${name(e.to)}`, `${t.count || 0} calls, ${rate(t.rate)}`];
  if (t.blocked) parts.push(`${t.blocked} blocked by Sightline`);
  if ((t.count || 0) > (t.blocked || 0)) parts.push(`answers from the destination: 4xx ${pct(t.ratio_4xx)}, 5xx ${pct(t.ratio_5xx)}`);
  if (t.reported) parts.push(`${t.reported} reported`);
  if (e.last_seen) parts.push(`last ${clock(e.last_seen * 1000)}`);
  return parts.join("\n");
}
