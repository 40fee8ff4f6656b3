// The details panel of the graph view: one node or one edge, its endpoints against their
// baselines, the last hour, recent calls and open alerts.
import { el, api, rate, pct, ms, ago, clock, minuteChart, readablePath } from "/js/dom.js";
import { instanceQuery } from "/js/fleet.js";

/** Whether a call's source or destination (`value`, maybe with a port or a kind prefix) names `label`. */
function names(value, label) {
  return value === label || value.startsWith(label + ":") || value.endsWith(":" + label);
}

const KIND_NAMES = {
  internet: "Internet", client: "Client", service: "Service",
  "internal-unknown": "Unknown internal party", external: "External destination",
};

/** Shows the panel for `item` (`kind` "node" or "edge") of `graph`. */
export async function showDetails(kind, item, graph, windowName) {
  const panel = document.getElementById("details");
  const body = document.getElementById("details-body");
  if (!item) { panel.hidden = true; return; }
  panel.hidden = false;
  // A refresh of what is already shown keeps the old content (and its scroll position) until
  // the new one is complete: no "loading…" flash, no jump to the top.
  const itemId = kind === "node" ? "node:" + item.id : "edge:" + item.from + "\u0000" + item.to;
  const refreshing = panel.dataset.item === itemId;
  panel.dataset.item = itemId;
  const byId = new Map((graph.nodes || []).map((n) => [n.id, n]));
  const name = (id) => (byId.get(id) && byId.get(id).label) || id;
  const kindEl = document.getElementById("details-kind");
  const title = document.getElementById("details-title");
  const token = Symbol("details");
  panel.dataset.token = String(Date.now());
  const mine = panel.dataset.token;

  let historyUrl, matchEndpoint, matchCall, matchAlert, summary, edgeEndpoints;
  if (kind === "node") {
    kindEl.textContent = KIND_NAMES[item.kind] || item.kind;
    kindEl.className = "kind-tag kind-" + item.kind;
    title.textContent = item.label || item.id;
    const ins = (graph.edges || []).filter((e) => e.to === item.id);
    const outs = (graph.edges || []).filter((e) => e.from === item.id);
    const sum = (es, k) => es.reduce((a, e) => a + ((e.total && e.total[k]) || 0), 0);
    summary = stats([
      ["Inbound", rate(sum(ins, "rate"))], ["Outbound", rate(sum(outs, "rate"))],
      ["Blocked", String(sum(ins, "blocked") + sum(outs, "blocked"))],
      ["First seen", ago(item.first_seen)], ["Last seen", ago(item.last_seen)],
    ]);
    historyUrl = "/api/history?node=" + encodeURIComponent(item.id);
    matchEndpoint = (ep) => ep.node === item.id || ep.caller === item.id;
    const label = item.label || item.id;
    matchCall = (c) => names(c.source, label) || names(c.destination, label);
    matchAlert = (a) => (a.subject || "").includes(item.id) || (a.subject || "").includes(label);
    edgeEndpoints = null;
    summary.append(edgeList("Calls in", ins, (e) => name(e.from)), edgeList("Calls out", outs, (e) => name(e.to)));
  } else {
    kindEl.textContent = "Edge";
    kindEl.className = "kind-tag";
    title.textContent = `${name(item.from)} → ${name(item.to)}`;
    const t = item.total || {};
    summary = stats([
      ["Rate", rate(t.rate)], ["Calls", String(t.count || 0)], ["4xx", pct(t.ratio_4xx)], ["5xx", pct(t.ratio_5xx)],
      ["p50", ms(t.latency_ms && t.latency_ms.p50)], ["p90", ms(t.latency_ms && t.latency_ms.p90)],
      ["p99", ms(t.latency_ms && t.latency_ms.p99)], ["Blocked", String(t.blocked || 0)], ["Reported", String(t.reported || 0)],
      ["First seen", ago(item.first_seen)],
    ]);
    historyUrl = "/api/history?from=" + encodeURIComponent(item.from) + "&to=" + encodeURIComponent(item.to);
    matchEndpoint = (ep) => ep.node === item.to && ep.caller === item.from;
    const [fl, tl] = [name(item.from), name(item.to)];
    matchCall = (c) => names(c.destination, tl) && (names(c.source, fl) || item.from === "internet");
    matchAlert = (a) => { const s = a.subject || ""; return (s.includes(item.from) && s.includes(item.to)) || s.includes(tl); };
    edgeEndpoints = item.endpoints || [];
  }

  const chartBox = el("div", { class: "chart-box" }, el("p", { class: "muted" }, "loading the last hour…"));
  const endpointsBox = el("div", {}, el("p", { class: "muted" }, "loading endpoints…"));
  const callsBox = el("div", {}, el("p", { class: "muted" }, "loading recent calls…"));
  const alertsBox = el("div", {}, el("p", { class: "muted" }, "loading alerts…"));
  const parts = [summary,
    el("h3", {}, "Last hour"), chartBox,
    el("h3", {}, "Endpoints"), endpointsBox,
    el("h3", {}, "Open alerts"), alertsBox,
    el("h3", {}, "Recent calls"), callsBox];
  if (!refreshing) body.replaceChildren(...parts);

  const still = () => panel.dataset.token === mine;
  const [history, endpoints, calls, alerts] = await Promise.allSettled([
    api(historyUrl),
    api("/api/endpoints?window=" + encodeURIComponent(windowName) + instanceQuery()),
    api("/api/calls?limit=300"),
    api("/api/alerts?state=open&limit=200"),
  ]);
  if (!still()) return;
  void token;
  const swap = () => {
    if (!refreshing || !still()) return;
    const top = panel.scrollTop;
    body.replaceChildren(...parts);
    panel.scrollTop = top;
  };

  if (history.status === "fulfilled" && history.value && history.value.minutes) {
    chartBox.replaceChildren(minuteChart(history.value.minutes));
  } else chartBox.replaceChildren(el("p", { class: "muted" }, "No history for the last hour."));

  const baselineOf = new Map();
  const served = [];
  if (endpoints.status === "fulfilled") {
    for (const ep of endpoints.value.endpoints || []) {
      baselineOf.set(ep.caller + "\u0000" + ep.node + "\u0000" + ep.method + "\u0000" + ep.template, ep);
      if (matchEndpoint(ep)) served.push(ep);
    }
  }
  const rows = edgeEndpoints
    ? edgeEndpoints.map((s) => ({ ...s, caller: item.from, node: item.to, baseline: (baselineOf.get(item.from + "\u0000" + item.to + "\u0000" + s.method + "\u0000" + s.template) || {}).baseline, shadow: (baselineOf.get(item.from + "\u0000" + item.to + "\u0000" + s.method + "\u0000" + s.template) || {}).shadow }))
    : served;
  endpointsBox.replaceChildren(endpointTable(rows, kind === "node" ? item.id : null, name));

  if (calls.status === "fulfilled") {
    const mineCalls = (calls.value.calls || []).filter(matchCall).slice(0, 12);
    callsBox.replaceChildren(mineCalls.length ? callTable(mineCalls) : el("p", { class: "muted" }, "No recent calls kept for this."));
  } else callsBox.replaceChildren(el("p", { class: "muted" }, "Calls unavailable."));

  const order = { critical: 0, high: 1, medium: 2, low: 3, info: 4 };
  const open = (alerts.status === "fulfilled" ? (alerts.value.alerts || []).filter(matchAlert) : [])
    .sort((a, b) => (order[a.severity] ?? 9) - (order[b.severity] ?? 9));
  alertsBox.replaceChildren(open.length
    ? el("ul", { class: "alert-list" }, ...open.map((a) => el("li", { class: "sev-" + a.severity },
      el("span", { class: "badge sev-" + a.severity }, a.severity), " ", el("strong", {}, a.kind), " ", a.summary || a.subject)))
    : el("p", { class: "muted" }, "No open alerts."));
  swap();
}

function stats(pairs) {
  return el("div", { class: "stats" }, ...pairs.map(([k, v]) => el("div", { class: "stat" }, el("span", { class: "stat-k" }, k), el("span", { class: "stat-v" }, v))));
}

function edgeList(title, edges, label) {
  if (!edges.length) return el("div");
  return el("div", { class: "edge-list" }, el("span", { class: "stat-k" }, title),
    ...edges.map((e) => el("span", { class: "chip" + (e.total && e.total.blocked ? " blocked" : "") }, label(e), " ", rate(e.total && e.total.rate))));
}

/** The rate per minute against the baseline band: "ok", "high" or "low". */
export function bandState(ep) {
  const b = ep.baseline;
  if (!b || b.learning) return "learning";
  const perMin = (ep.rate || 0) * 60;
  if (perMin > b.band[1]) return "high";
  if (perMin < b.band[0]) return "low";
  return "ok";
}

function endpointTable(rows, nodeId, name) {
  if (!rows.length) return el("p", { class: "muted" }, "No endpoints with traffic in this window.");
  // Rates per second, like every rate of the graph view; the baseline band in the same unit.
  const head = el("tr", {}, ...["Rate", "4xx", "5xx", "p50", "p90", "p99", "Expected"].map((h) => el("th", { class: "num" }, h)));
  const body = rows.flatMap((ep) => {
    const q = ep.latency_ms || {};
    const st = bandState(ep);
    const band = ep.baseline
      ? (ep.baseline.learning ? "learning" : `${rate(ep.baseline.band[0] / 60)}–${rate(ep.baseline.band[1] / 60)}`)
      : "–";
    return [
      el("tr", { class: "ep-title" }, el("td", { colspan: 7, class: "mono" }, el("span", { class: "method" }, ep.method), " ", ep.template,
        ep.shadow ? el("span", { class: "badge shadow" }, "shadow") : null,
        nodeId && ep.caller !== nodeId ? el("span", { class: "muted small" }, "  from " + name(ep.caller)) : null,
        nodeId && ep.node !== nodeId ? el("span", { class: "muted small" }, "  to " + name(ep.node)) : null)),
      el("tr", { class: "ep-stats" },
        el("td", { class: "num" }, rate(ep.rate)),
        el("td", { class: "num" + (ep.ratio_4xx > 0.05 ? " warn" : "") }, pct(ep.ratio_4xx)),
        el("td", { class: "num" + (ep.ratio_5xx > 0.01 ? " bad" : "") }, pct(ep.ratio_5xx)),
        el("td", { class: "num" }, ms(q.p50)), el("td", { class: "num" }, ms(q.p90)), el("td", { class: "num" }, ms(q.p99)),
        el("td", { class: "num band-" + st, title: "the band of calls per second expected now" }, band)),
      samplesRow(ep.samples),
    ];
  });
  return el("table", { class: "grid compact endpoints" }, el("thead", {}, head), el("tbody", {}, ...body));
}

/** The raw paths a template such as /{unmatched} stands for (a few, most recent first); they
 * are whatever a client sent, so they only ever become text. */
function samplesRow(samples) {
  if (!samples || !samples.length) return null;
  return el("tr", { class: "ep-samples" }, el("td", { colspan: 7, class: "mono small" },
    el("span", { class: "muted" }, "paths: "),
    ...samples.map((s) => el("span", { class: "chip sample", title: "last seen " + ago(s.last_seen) }, readablePath(s.path)))));
}

function callTable(calls) {
  return el("table", { class: "grid compact" },
    el("thead", {}, el("tr", {}, el("th", {}, "Time"), el("th", {}, "Call"), el("th", { class: "num" }, "Status"), el("th", { class: "num" }, "ms"))),
    el("tbody", {}, ...calls.map((c) => el("tr", { class: c.decision !== "allowed" ? "row-" + c.decision : "" },
      el("td", {}, clock(c.time)),
      el("td", { class: "mono clip" }, el("span", { class: "method" }, c.method), " ", readablePath(c.path)),
      el("td", { class: "num" + (c.status >= 500 || c.status === 0 ? " bad" : c.status >= 400 ? " warn" : "") }, c.status || "–"),
      el("td", { class: "num" }, c.duration_ms.toFixed(1))))));
}
