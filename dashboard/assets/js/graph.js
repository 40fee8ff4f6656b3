// The call graph view: the server lays the graph out in columns; this draws it as SVG with
// pan, zoom, selection and highlighting. Labels are SVG text nodes, never markup.
import { el, svg, rate, pct, clock } from "/js/dom.js";

const KINDS = {
  internet: { glyph: "⊕", name: "Internet" },
  client: { glyph: "C", name: "Client" },
  service: { glyph: "S", name: "Service" },
  "internal-unknown": { glyph: "?", name: "Unknown internal" },
  external: { glyph: "E", name: "External" },
};
const RECENT_SECS = 600;
const FRESH_START_SECS = 60;
const MAX_LABEL = 21;
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
    this.installPanZoom();
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
      const agg = inbound.get(e.to) || { rate: 0, errors: 0, count: 0 };
      agg.rate += t.rate || 0;
      agg.count += t.count || 0;
      agg.errors += (t.ratio_5xx || 0) * (t.count || 0);
      inbound.set(e.to, agg);
      outbound.set(e.from, (outbound.get(e.from) || 0) + (t.rate || 0));
    }

    const defs = svg("defs", {},
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
      const g = svg("g", { class: classes.join(" "), dataset: { from: e.from, to: e.to, key } },
        svg("path", { d, class: "edge-hit" }),
        svg("path", { d, class: "edge-line", "stroke-width": width.toFixed(2), "marker-end": `url(#${arrow})` }),
        svg("title", {}, edgeTitle(e, byId)));
      g.addEventListener("click", (ev) => { ev.stopPropagation(); this.select("edge", key); });
      edgeLayer.append(g);
      const mid = midpoint(e.points);
      const label = t.blocked > 0
        ? `blocked ${t.blocked}`
        : `${rate(t.rate)}${t.ratio_5xx ? " · " + pct(t.ratio_5xx) + " err" : ""}`;
      const text = svg("text", { x: mid[0], y: mid[1] - 5, class: "edge-label " + classes.slice(1).join(" ") }, label);
      labelLayer.append(text);
    }

    for (const n of nodes) {
      const kind = KINDS[n.kind] ? n.kind : "service";
      const classes = ["node", "kind-" + kind];
      if (recent(n.first_seen)) classes.push("new");
      const agg = inbound.get(n.id);
      const sub = agg
        ? `${rate(agg.rate)} in${agg.errors ? " · " + pct(agg.errors / Math.max(1, agg.count)) + " err" : ""}`
        : outbound.has(n.id) ? `${rate(outbound.get(n.id))} out` : KINDS[kind].name.toLowerCase();
      const label = n.label || n.id;
      const shown = label.length > MAX_LABEL ? label.slice(0, MAX_LABEL - 1) + "…" : label;
      const w = L.node_width, h = L.node_height;
      const g = svg("g", { class: classes.join(" "), transform: `translate(${n.x},${n.y})`, dataset: { id: n.id } },
        svg("title", {}, `${KINDS[kind].name}: ${label}`),
        svg("rect", { class: "node-box", width: w, height: h, rx: kind === "internet" ? h / 2 : 6 }),
        svg("rect", { class: "node-stripe", width: 4, height: h - 12, x: 0, y: 6, rx: 2 }),
        svg("circle", { class: "node-icon", cx: 22, cy: h / 2, r: 11 }),
        svg("text", { class: "node-glyph", x: 22, y: h / 2 + 4 }, KINDS[kind].glyph),
        svg("text", { class: "node-label", x: 40, y: 17 }, shown),
        svg("text", { class: "node-sub", x: 40, y: 31 }, sub));
      if (classes.includes("new")) {
        g.append(svg("rect", { class: "node-new-pill", x: w - 34, y: -7, width: 30, height: 13, rx: 6.5 }),
          svg("text", { class: "node-new", x: w - 19, y: 3 }, "NEW"));
      }
      g.addEventListener("click", (ev) => { ev.stopPropagation(); this.select("node", n.id); });
      nodeLayer.append(g);
    }

    this.svg.replaceChildren(defs, columns, edgeLayer, labelLayer, nodeLayer);
    this.svg.classList.toggle("dense", edges.length > 60);
    this.size = { w: Math.max(L.width, 200), h: Math.max(L.height, 120) };
    if (!this.view || !this.touched) this.fit();
    else this.apply();
    this.highlight();
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
    for (const [layer, info] of [...layers.entries()].sort((a, b) => a[0] - b[0])) {
      let title = "Internal services";
      if (info.kinds.has("external") && [...info.kinds].every((k) => k === "external")) title = "External destinations";
      else if (layer === 0 && [...info.kinds].some((k) => k === "internet" || k === "client")) title = "Internet & clients";
      else if (layer === 1 || count <= 2) title = "Entry services";
      out.push(svg("rect", { class: "column-band", x: info.x - 14, y: 0, width: L.node_width + 28, height: Math.max(L.height, 60), rx: 10 }));
      out.push(svg("text", { class: "column-title", x: info.x + L.node_width / 2, y: 14 }, title.toUpperCase()));
    }
    return out;
  }

  /** Selects a node (`id`) or an edge (`from\0to`) and tells the details panel. */
  select(kind, key) {
    this.selected = key === null ? null : { kind, key };
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
    for (const g of this.svg.querySelectorAll(".edge")) {
      const on = !!sel && (sel.kind === "edge" ? g.dataset.key === sel.key : g.dataset.from === sel.key || g.dataset.to === sel.key);
      g.classList.toggle("selected", on);
    }
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
    this.svg.addEventListener("click", () => this.select(null, null));
    window.addEventListener("resize", () => { if (!this.touched) this.fit(); });
  }
}

/** The legend, as HTML. */
export function legend() {
  const items = Object.entries(KINDS).map(([k, v]) =>
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

function midpoint(points) {
  if (points.length === 2) return [(points[0][0] + points[1][0]) / 2, (points[0][1] + points[1][1]) / 2];
  return points[Math.floor(points.length / 2)];
}

function edgeTitle(e, byId) {
  const name = (id) => (byId.get(id) && byId.get(id).label) || id;
  const t = e.total || {};
  const parts = [`${name(e.from)} → ${name(e.to)}`, `${t.count || 0} calls, ${rate(t.rate)}`,
    `4xx ${pct(t.ratio_4xx)}, 5xx ${pct(t.ratio_5xx)}`];
  if (t.blocked) parts.push(`${t.blocked} blocked`);
  if (t.reported) parts.push(`${t.reported} reported`);
  if (e.last_seen) parts.push(`last ${clock(e.last_seen * 1000)}`);
  return parts.join("\n");
}
