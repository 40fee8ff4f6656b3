// The table views: alerts (live), endpoints, calls, clients and policy.
import { el, api, post, del, rate, perMinute, pct, ms, ago, clock, fillTable, readablePath, onConnection, breakable } from "/js/dom.js";
import { instanceQuery } from "/js/fleet.js";
import { bandState } from "/js/details.js";

const $ = (id) => document.getElementById(id);
const SEVERITY_ORDER = { critical: 0, high: 1, medium: 2, low: 3, info: 4 };

// ---------- alerts ----------

/** Alerts by id, kept current by the stream and by polling. */
const alerts = new Map();
let incidents = [];
let stream = null;

/** Starts the alert feed: polling always (for the tab's count), server-sent events while the
 * alerts view is open (`live(true)`), so other views hold no endless request. */
export function startAlertFeed() {
  refreshAlerts();
  setInterval(refreshAlerts, 5000);
}

/** Drops every alert held: after a restart the server's ids start over. */
export function forgetAlerts() {
  alerts.clear();
  alertRows.clear();
  incidents = [];
  renderAlerts();
}

// The stream says nothing while the API is away: the feed is not live then.
onConnection((c) => {
  if (!c.ok) $("alert-feed-status").textContent = "feed paused: not connected";
  else if ($("alert-feed-status").textContent.startsWith("feed paused")) $("alert-feed-status").textContent = "";
});

/** Opens or closes the live stream. */
export function liveAlerts(on) {
  if (on && !stream) connectStream();
  if (!on && stream) { stream.close(); stream = null; }
}

function connectStream() {
  if (!window.EventSource || !location.hash.startsWith("#alerts")) return;
  stream = new EventSource("/api/alerts/stream");
  stream.addEventListener("alert", (ev) => {
    try {
      const a = JSON.parse(ev.data);
      if (a && a.id !== undefined) { alerts.set(alertKey(a), a); scheduleRender(); }
    } catch (_) { /* a malformed event is skipped */ }
    $("alert-feed-status").textContent = "streaming";
  });
  stream.onerror = () => {
    $("alert-feed-status").textContent = "stream interrupted, polling";
    if (stream && stream.readyState === EventSource.CLOSED) {
      stream = null;
      setTimeout(connectStream, 15000);
    }
  };
}

export async function refreshAlerts() {
  try {
    const data = await api("/api/alerts?limit=500");
    for (const a of data.alerts || []) alerts.set(alertKey(a), a);
    incidents = data.incidents || [];
    renderAlerts();
  } catch (e) {
    $("alert-feed-status").textContent = "alerts unavailable: " + e.message;
  }
}

/** Rows by alert id, rebuilt only when the alert changed, so buttons stay put under a stream
 * of updates. */
const alertRows = new Map();
let renderTimer = null;

/** Coalesces bursts of events into at most a few renders a second. */
function scheduleRender() {
  if (renderTimer) return;
  renderTimer = setTimeout(() => { renderTimer = null; renderAlerts(); }, 300);
}

/** An alert's key: its id, or in a fleet the instance that raised it and its id there. */
function alertKey(a) {
  return a.instance ? a.instance + "/" + a.id : String(a.id);
}

function alertRow(a) {
  const sig = [a.state, a.severity, a.count, a.last_seen, a.summary, a.silenced_by].join("\u0000");
  const key = alertKey(a);
  const old = alertRows.get(key);
  if (old && old.sig === sig) return old.tr;
  // Another instance's alert is acted on from that instance's admin.
  const tr = el("tr", { class: "alert-row state-" + a.state, dataset: { id: key } },
    a.instance ? el("td", { class: "actions pin muted small" }, "on " + a.instance) : el("td", { class: "actions pin" },
      a.state === "open" ? el("button", { type: "button", class: "act", "aria-label": `Acknowledge ${a.kind} ${a.subject}`, onclick: () => act(a, "ack") }, "Acknowledge") : null,
      a.state !== "resolved" ? el("button", { type: "button", class: "act ghost", "aria-label": `Resolve ${a.kind} ${a.subject}`, onclick: () => act(a, "resolve") }, "Resolve") : null),
    el("td", {}, el("span", { class: "badge sev-" + a.severity }, a.severity)),
    el("td", { class: "wrap" }, el("button", { type: "button", class: "linkish", "aria-label": `${a.kind.replaceAll("_", " ")}: details`, onclick: () => showAlert(key) }, a.kind.replaceAll("_", " "))),
    el("td", { class: "mono wrap" }, breakable(a.subject)),
    el("td", { class: "wrap summary" }, a.summary),
    el("td", { class: "num" }, a.count),
    el("td", { class: "ago", dataset: { t: a.last_seen } }, ago(a.last_seen)),
    el("td", {}, a.state, a.silenced_by != null ? [" ", el("span", { class: "badge silenced", title: `Silence ${a.silenced_by}: not sent to sinks` }, "silenced")] : null));
  alertRows.set(key, { sig, tr });
  return tr;
}

function renderAlerts() {
  const state = $("alert-state").value;
  const severity = $("alert-severity").value;
  const list = [...alerts.values()]
    .filter((a) => (!state || a.state === state) && (!severity || a.severity === severity))
    .sort((a, b) => (a.state === "open" ? 0 : 1) - (b.state === "open" ? 0 : 1)
      || (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9)
      || String(b.last_seen).localeCompare(String(a.last_seen)));
  const rows = list.map(alertRow);
  for (const td of document.querySelectorAll("#alerts-table td.ago")) td.textContent = ago(td.dataset.t);
  fillTable(document.querySelector("#alerts-table tbody"), rows, $("alerts-empty"));
  for (const tr of rows) tr.classList.toggle("selected", tr.dataset.id === shownAlert);
  const detail = $("alert-detail");
  // Not under the pointer or the keyboard: a refresh never takes away what someone is typing.
  if (shownAlert && !detail.hidden && alerts.has(shownAlert) && !detail.matches(":hover") && !detail.contains(document.activeElement)) showAlert(shownAlert);
  const open = [...alerts.values()].filter((a) => a.state === "open").length;
  const badge = $("alert-count");
  badge.hidden = open === 0;
  badge.textContent = String(open);
  $("incidents").replaceChildren(...(incidents.length
    ? incidents.map((i) => el("div", { class: "incident state-" + i.state },
      el("div", {}, el("strong", {}, i.root), " ", el("span", { class: "muted" }, i.state)),
      el("div", { class: "muted small" }, `${(i.alerts || []).length} alerts · since ${ago(i.first_seen)}`)))
    : [el("p", { class: "muted" }, "No incidents.")]));
}

/** A number as people read it: a few significant digits, not sixteen. */
function readable(v) {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(3)));
  if (v === null || v === undefined || v === "") return "–";
  if (typeof v === "object") return JSON.stringify(v, (_, x) => (typeof x === "number" && !Number.isInteger(x) ? Number(x.toPrecision(3)) : x));
  return String(v);
}

/** How an anomaly's values read (the unit of its signal): rates per second, or per minute when
 * under one a second, from calls per step; error ratios in %; latency in ms. */
function evidenceUnit(ev) {
  const step = Number(ev.step_seconds) > 0 ? Number(ev.step_seconds) : 60;
  if (ev.signal === "error_ratio") return { scale: 100, unit: "%" };
  if (ev.signal === "latency") return { scale: 1, unit: " ms" };
  if (ev.signal === "rate") {
    const top = Math.max(Number(ev.observed) || 0, Number(ev.expected) || 0);
    return top / step >= 1 ? { scale: 1 / step, unit: "/s" } : { scale: 60 / step, unit: "/min" };
  }
  return null;
}

/** One evidence value as people read it, with its unit where it has one. */
function evidenceValue(k, v, ev) {
  const u = evidenceUnit(ev);
  const num = (x) => readable(Number(x) * u.scale) + u.unit;
  if (u && ["observed", "expected"].includes(k) && typeof v === "number") return num(v);
  if (u && k === "band" && Array.isArray(v) && v.length === 2) return `${num(v[0])} – ${num(v[1])}`;
  if (k === "step_seconds" && typeof v === "number") return `${readable(v)} s`;
  if (k === "window_minutes" && typeof v === "number") return `${v} steps${ev.step_seconds ? ` of ${readable(Number(ev.step_seconds))} s` : ""}`;
  if (k.startsWith("ratio") && typeof v === "number") return pct(v);
  if (k.endsWith("_ms") && typeof v === "number") return ms(v);
  return readable(v);
}

/** An evidence entry: lists of subjects (a chain, first sightings) as lists, the rest as text. */
function evidenceEntry(k, v, ev) {
  if (Array.isArray(v) && v.length && v.every((x) => x && typeof x === "object" && (x.summary || x.subject))) {
    return el("ul", { class: "plain evidence-list" }, ...v.map((x) => el("li", {},
      breakable(x.summary || `${String(x.kind || "").replaceAll("_", " ")} ${x.subject}`),
      x.count !== undefined ? el("span", { class: "muted" }, ` · ${x.count}×`) : null)));
  }
  return breakable(evidenceValue(k, v, ev));
}

let shownAlert = null;

/** The detail of one alert: its facts, evidence, nodes (links into the graph) and delivery. */
function showAlert(id) {
  const a = alerts.get(id);
  const box = $("alert-detail");
  if (!a) { box.hidden = true; shownAlert = null; return; }
  shownAlert = id;
  for (const tr of document.querySelectorAll("#alerts-table tbody tr")) tr.classList.toggle("selected", tr.dataset.id === id);
  $("alert-detail-title").textContent = a.kind.replaceAll("_", " ");
  const facts = el("dl", { class: "record-fields" });
  const add = (k, v) => facts.append(el("dt", {}, k), el("dd", { class: "mono" }, v));
  add("severity", el("span", { class: "badge sev-" + a.severity }, a.severity));
  add("state", a.state);
  if (a.instance) add("raised on", a.instance);
  add("subject", breakable(a.subject));
  add("summary", a.summary);
  add("count", String(a.count));
  add("first seen", `${clock(a.first_seen)} (${ago(a.first_seen)})`);
  add("last seen", `${clock(a.last_seen)} (${ago(a.last_seen)})`);
  if (a.snoozed_until) add("snoozed until", `${clock(a.snoozed_until)} (repeats count on this alert)`);
  if (a.incident !== null && a.incident !== undefined) add("incident", String(a.incident));
  if (a.silenced_by != null) add("silenced", `by silence ${a.silenced_by}: recorded here, not sent to sinks`);
  const evidence = el("dl", { class: "record-fields" });
  const ev = a.evidence && typeof a.evidence === "object" && !Array.isArray(a.evidence) ? a.evidence : { value: a.evidence };
  for (const [k, v] of Object.entries(ev)) {
    const name = k === "window_minutes" ? "window" : k === "step_seconds" ? "step" : k.replaceAll("_", " ");
    evidence.append(el("dt", {}, name), el("dd", { class: "mono" }, evidenceEntry(k, v, ev)));
  }
  const nodes = (a.nodes || []).map((n) => el("li", {}, el("a", { href: "#graph?node=" + encodeURIComponent(n), class: "mono" }, n)));
  const delivery = Object.entries(a.delivery || {}).map(([sink, st]) => `${sink}: ${st}`).join(", ");
  $("alert-detail-body").replaceChildren(facts,
    el("h3", {}, "Evidence"), evidence.childNodes.length ? evidence : el("p", { class: "muted" }, "None recorded."),
    el("h3", {}, "In the graph"), nodes.length ? el("ul", { class: "plain" }, ...nodes) : el("p", { class: "muted" }, "No graph node."),
    delivery ? el("p", { class: "muted small" }, "Delivery: " + delivery) : null,
    silenceForm(a));
  box.hidden = false;
}

/** The form that silences an alert's kind, for its subject or for every subject. */
function silenceForm(a) {
  const words = a.kind.replaceAll("_", " ");
  const scope = el("select", { id: "silence-scope" },
    el("option", { value: "subject" }, "this subject only"),
    el("option", { value: "kind" }, `every ${words} alert`));
  const duration = el("select", { id: "silence-duration" },
    ...[["1h", "1 hour"], ["4h", "4 hours"], ["1d", "1 day"], ["7d", "7 days"]].map(([v, t]) => el("option", { value: v }, t)));
  const reason = el("input", { id: "silence-reason", type: "text", required: "", maxlength: "1000", placeholder: "why (for the next person)" });
  const form = el("form", { class: "silence-form", "aria-labelledby": "silence-title" },
    el("h3", { id: "silence-title" }, "Silence"),
    el("p", { class: "muted small" }, "Matching alerts are still recorded and shown here, marked silenced, but not sent to sinks."),
    el("label", { for: "silence-scope" }, "Scope"), scope,
    el("label", { for: "silence-duration" }, "For"), duration,
    el("label", { for: "silence-reason" }, "Reason"), reason,
    el("button", { type: "submit", class: "act" }, "Silence"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (!reason.value.trim()) { reason.focus(); return; }
    silence(a, scope.value === "subject" ? a.subject : null, duration.value, reason.value.trim());
  });
  return form;
}

/** Starts a silence; the note says until when and offers to end it. */
async function silence(a, subject, duration, reason) {
  const what = `${a.kind.replaceAll("_", " ")}${subject ? " " + subject : " (every subject)"}`;
  const note = $("alert-action-status");
  try {
    const s = await post("/api/silences", { kind: a.kind, subject, duration, reason });
    note.className = "action-note ok";
    const undo = el("button", { type: "button", class: "act ghost undo", "aria-label": `Undo: end the silence of ${what}`, onclick: () => endSilence(s, what) }, "Undo");
    note.replaceChildren(`Silenced ${what} until ${clock(s.until)}. `, undo);
    refreshSilences();
  } catch (e) {
    note.className = "action-note bad";
    note.textContent = `Could not silence ${what}: ${e.message}.`;
  }
}

async function endSilence(s, what) {
  const note = $("alert-action-status");
  try {
    await del(`/api/silences/${encodeURIComponent(s.id)}`);
    note.className = "action-note ok";
    note.textContent = `Silence ended: ${what}.`;
  } catch (e) {
    note.className = "action-note bad";
    note.textContent = `Could not end the silence of ${what}: ${e.message}.`;
  }
  refreshSilences();
}

/** The silences in force, each with a button to end it. */
export async function refreshSilences() {
  let list = [];
  try {
    list = ((await api("/api/silences")).silences || []).filter((s) => s.active);
  } catch (_) { return; }
  $("silences").replaceChildren(...(list.length
    ? list.map((s) => {
      const what = `${s.kind.replaceAll("_", " ")}${s.subject ? " " + s.subject : " (every subject)"}`;
      return el("div", { class: "silence", dataset: { id: String(s.id) } },
        el("div", {}, el("strong", {}, s.kind.replaceAll("_", " ")), " ", el("span", { class: "mono" }, breakable(s.subject || "every subject"))),
        el("div", { class: "muted small" }, `until ${clock(s.until)} · ${s.reason}`),
        el("button", { type: "button", class: "act ghost", "aria-label": `End the silence of ${what}`, onclick: () => endSilence(s, what) }, "End"));
    })
    : [el("p", { class: "muted" }, "No silences.")]));
}

$("alert-detail-close").addEventListener("click", () => {
  $("alert-detail").hidden = true;
  shownAlert = null;
  for (const tr of document.querySelectorAll("#alerts-table tbody tr.selected")) tr.classList.remove("selected");
});

/** Acknowledges, resolves or reopens an alert; the note says what happened and, after an
 * acknowledge or a resolve, offers to undo it. */
async function act(alert, action) {
  const done = { ack: "acknowledged", resolve: "resolved", reopen: "reopened" }[action];
  const what = `${alert.kind.replaceAll("_", " ")} ${alert.subject}`;
  const note = $("alert-action-status");
  try {
    const a = await post(`/api/alerts/${encodeURIComponent(alert.id)}/${action}`);
    if (a && a.id !== undefined) alerts.set(alertKey(a), a);
    renderAlerts();
    note.className = "action-note ok";
    const snooze = a && a.snoozed_until ? ` Repeats until ${clock(a.snoozed_until)} count on it.` : "";
    const undo = action === "reopen" ? null
      : el("button", { type: "button", class: "act ghost undo", "aria-label": `Undo: reopen ${what}`, onclick: () => act(alert, "reopen") }, "Undo");
    note.replaceChildren(`Alert ${done}: ${what}.${snooze} `, ...(undo ? [undo] : []));
  } catch (e) {
    note.className = "action-note bad";
    note.textContent = `Could not mark ${what} ${done}: ${e.message}.`;
  }
}

export async function refreshFindings() {
  try {
    const data = await api("/api/anomalies");
    const items = (data.anomalies || []).slice(0, 40).map((f) => el("div", { class: "finding kind-" + f.kind },
      el("span", { class: "badge finding-kind" }, f.kind.replaceAll("_", " ")), " ",
      el("span", { class: "mono" }, f.subject), " ", el("span", { class: "muted small" }, ago(f.at))));
    $("findings").replaceChildren(...(items.length ? items : [el("p", { class: "muted" }, "No findings yet.")]));
  } catch (_) { /* shown as stale */ }
}

$("alert-state").addEventListener("change", renderAlerts);
$("alert-severity").addEventListener("change", renderAlerts);

// ---------- endpoints ----------

/** Milliseconds without the unit (the column header carries it). */
function msNum(v) {
  if (v === null || v === undefined) return "–";
  return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0);
}

let endpointRows = [];
let endpointSort = { key: "rate", dir: -1 };

export async function refreshEndpoints(windowName) {
  const data = await api("/api/endpoints?window=" + encodeURIComponent(windowName) + instanceQuery());
  endpointRows = data.endpoints || [];
  renderEndpoints();
}

function endpointValue(ep, key) {
  const q = ep.latency_ms || {};
  if (key === "p50" || key === "p90" || key === "p99") return q[key] || 0;
  if (key === "baseline") return ep.baseline ? ep.baseline.rate_per_min : -1;
  return ep[key];
}

/** What the baseline cell means: calls per minute, like the rate beside it, whatever the step. */
function baselineTitle(b, st) {
  if (!b) return "no baseline yet";
  const step = b.step_seconds && b.step_seconds !== 60 ? ` (learned over ${b.step_seconds} s steps, shown per minute)` : "";
  const where = { high: "above the band", low: "below the band", ok: "inside the band", learning: "still learning" }[st];
  return `expected calls per minute now and its normal band${step}; the rate is ${where}`;
}

function renderEndpoints() {
  const f = $("endpoint-filter").value.trim().toLowerCase();
  const shadowOnly = $("endpoint-shadow").checked;
  const { key, dir } = endpointSort;
  const rows = endpointRows
    .filter((ep) => (!shadowOnly || ep.shadow)
      && (!f || [ep.node, ep.caller, ep.method, ep.template].some((s) => String(s).toLowerCase().includes(f))))
    .sort((a, b) => {
      const x = endpointValue(a, key), y = endpointValue(b, key);
      return (typeof x === "number" ? x - y : String(x).localeCompare(String(y))) * dir;
    })
    .map((ep) => {
      const q = ep.latency_ms || {};
      const st = bandState(ep);
      return el("tr", { class: ep.shadow ? "row-shadow" : "" },
        el("td", { class: "mono wrap" }, breakable(ep.node.replace(/^service:/, ""))),
        el("td", { class: "mono wrap" }, breakable(ep.caller.replace(/^service:/, ""))),
        el("td", {}, el("span", { class: "method" }, ep.method)),
        el("td", { class: "mono wrap path" }, breakable(ep.template), ep.shadow ? el("span", { class: "badge shadow", title: "served but not in the service's OpenAPI document" }, "shadow") : null),
        el("td", { class: "num" }, perMinute(ep.rate)),
        el("td", { class: "num" + (ep.ratio_4xx > 0.05 ? " warn" : "") }, pct(ep.ratio_4xx)),
        el("td", { class: "num" + (ep.ratio_5xx > 0.01 ? " bad" : "") }, pct(ep.ratio_5xx)),
        el("td", { class: "num" }, msNum(q.p50)), el("td", { class: "num" }, msNum(q.p90)), el("td", { class: "num" }, msNum(q.p99)),
        el("td", { class: "band band-" + st, title: baselineTitle(ep.baseline, st) }, ep.baseline
          ? (ep.baseline.learning ? "learning" : `${perMinute(ep.baseline.rate_per_min / 60)} (${perMinute(ep.baseline.band[0] / 60)}–${perMinute(ep.baseline.band[1] / 60)})`)
          : "–"));
    });
  fillTable(document.querySelector("#endpoints-table tbody"), rows, $("endpoints-empty"));
  for (const th of document.querySelectorAll("#endpoints-table th[data-key]")) {
    const on = th.dataset.key === key;
    th.classList.toggle("sorted", on);
    th.classList.toggle("asc", on && dir > 0);
    th.setAttribute("aria-sort", on ? (dir > 0 ? "ascending" : "descending") : "none");
  }
}

// Sortable headers are buttons: reachable by Tab, pressed with Enter or Space.
for (const th of document.querySelectorAll("#endpoints-table th[data-key]")) {
  const button = el("button", { type: "button", class: "sort" }, ...th.childNodes);
  button.addEventListener("click", () => {
    const key = th.dataset.key;
    endpointSort = { key, dir: endpointSort.key === key ? -endpointSort.dir : (["node", "caller", "method", "template"].includes(key) ? 1 : -1) };
    renderEndpoints();
  });
  th.replaceChildren(button);
  th.setAttribute("aria-sort", "none");
}
$("endpoint-filter").addEventListener("input", renderEndpoints);
$("endpoint-shadow").addEventListener("change", renderEndpoints);

// ---------- calls ----------

const callForm = $("call-filters");
let selectedCall = null;

/** Calls shown, the cursor to the page before them, and whether updates are held. */
let callList = [];
let callsNext = null;
let callsPaused = false;
let olderShown = false;

/** The start of the chosen time range (unix seconds), fixed when the newest page loads so
 * older pages cover the same range. */
let rangeSince = null;

const TRACE = /^[0-9a-f]{32}$/;

function callParams() {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(callForm)) {
    const text = String(v).trim();
    if (!text || k === "range") continue;
    // A trace id counts once it is whole; the API refuses a partial one.
    if (k === "trace" && !TRACE.test(text.toLowerCase())) continue;
    params.set(k, k === "trace" ? text.toLowerCase() : text);
  }
  if (rangeSince !== null) params.set("since", String(rangeSince));
  params.set("limit", "200");
  return params;
}

/** Fixes the start of the chosen time range at now. */
function fixRange() {
  const secs = Number(callForm.elements.range.value || 0);
  rangeSince = secs ? Math.floor(Date.now() / 1000) - secs : null;
}

/** What the list holds: a trace, a range of the call log, or the recent calls. */
function callScope() {
  const trace = String(callForm.elements.trace.value || "").trim().toLowerCase();
  if (TRACE.test(trace)) return `trace ${trace}`;
  const range = callForm.elements.range;
  return range.value ? range.options[range.selectedIndex].textContent : "recent calls";
}

/** Reloads the newest calls, unless updates are held: paused, older pages open, or the pointer
 * on the table (rows must not move under it). Resolves to "paused" when held. */
export async function refreshCalls({ force = false } = {}) {
  if (!force && (callsPaused || olderShown || $("calls-table").matches(":hover"))) return "paused";
  fixRange();
  let data;
  try {
    data = await api("/api/calls?" + callParams().toString());
  } catch (e) {
    $("calls-empty").hidden = false;
    $("calls-empty").textContent = "Cannot list calls: " + e.message;
    throw e;
  }
  olderShown = false;
  callList = data.calls || [];
  callsNext = data.next ?? null;
  renderCalls();
  return "ok";
}

async function olderCalls() {
  if (callsNext === null) return;
  const params = callParams();
  params.set("before", String(callsNext));
  try {
    const data = await api("/api/calls?" + params.toString());
    callList = callList.concat(data.calls || []);
    callsNext = data.next ?? null;
    olderShown = true;
    renderCalls();
  } catch (e) {
    $("calls-status").textContent = "Cannot load older calls: " + e.message;
  }
}

function renderCalls() {
  $("calls-empty").textContent = "No calls match.";
  const rows = callList.map((c) => {
    const tr = el("tr", { class: "clickable" + (c.decision !== "allowed" ? " row-" + c.decision : "") + (c.id === selectedCall ? " selected" : ""), dataset: { id: c.id }, tabindex: 0 },
      el("td", {}, clock(c.time)),
      el("td", {}, c.direction === "egress" ? "out" : "in"),
      el("td", { class: "mono clip" }, c.source),
      el("td", { class: "mono clip" }, c.destination),
      el("td", {}, el("span", { class: "method" }, c.method)),
      el("td", { class: "mono clip path", title: c.path }, readablePath(c.path)),
      el("td", { class: "num" + (c.status >= 500 || c.status === 0 ? " bad" : c.status >= 400 ? " warn" : "") }, c.status || "–"),
      el("td", { class: "num" }, c.duration_ms.toFixed(1)),
      el("td", {}, el("span", { class: "badge decision-" + c.decision }, c.decision)));
    tr.addEventListener("click", () => showCall(c.id));
    tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") showCall(c.id); });
    return tr;
  });
  fillTable(document.querySelector("#calls-table tbody"), rows, $("calls-empty"));
  const held = callsPaused ? "paused" : olderShown ? "held while older calls are shown" : "updating every 10 s";
  const span = callList.length ? ` from ${clock(callList[callList.length - 1].time)} to ${clock(callList[0].time)}` : "";
  $("calls-status").textContent = `${callScope()}: ${callList.length} calls${span}${callsNext !== null ? " (more older)" : ""} · ${held}`;
  $("calls-older").disabled = callsNext === null;
}

$("calls-pause").addEventListener("click", () => {
  callsPaused = !callsPaused;
  $("calls-pause").setAttribute("aria-pressed", String(callsPaused));
  $("calls-pause").textContent = callsPaused ? "Resume" : "Pause";
  if (!callsPaused) refreshCalls({ force: true }).catch(() => {});
  else renderCalls();
});
$("calls-older").addEventListener("click", olderCalls);
$("calls-newest").addEventListener("click", () => refreshCalls({ force: true }).catch(() => {}));

async function showCall(id) {
  selectedCall = id;
  for (const tr of document.querySelectorAll("#calls-table tbody tr")) tr.classList.toggle("selected", tr.dataset.id === id);
  const box = $("call-record");
  try {
    // A call of the log may have left the recent ones: the list already holds its record.
    const c = callList.find((x) => x.id === id) || await api("/api/calls/" + encodeURIComponent(id));
    const dl = el("dl", { class: "record-fields" });
    const fields = Object.entries(c);
    const decoded = readablePath(c.path);
    if (decoded !== c.path) fields.splice(fields.findIndex(([k]) => k === "path") + 1, 0, ["path (decoded)", decoded]);
    for (const [k, v] of fields) {
      dl.append(el("dt", {}, k), el("dd", { class: "mono" }, v === null || v === undefined || v === "" ? "–" : typeof v === "number" && !Number.isInteger(v) ? v.toFixed(3) : String(v)));
    }
    const trace = c.trace_id && TRACE.test(c.trace_id)
      ? el("button", { type: "button", class: "ghost", id: "call-trace", "aria-label": `Calls of this trace: ${c.trace_id}`, onclick: () => showTrace(c.trace_id) }, "Calls of this trace")
      : null;
    box.replaceChildren(el("h3", {}, "Call ", el("span", { class: "mono" }, c.id)), trace, dl);
  } catch (e) {
    box.replaceChildren(el("p", { class: "muted" }, "That call is no longer among the recent ones (" + e.message + ")."));
  }
}

/** Lists the calls sharing a trace id, from the call log, oldest step of the trace last. */
function showTrace(id) {
  callForm.elements.trace.value = id;
  refreshCalls({ force: true }).catch(() => {});
}

callForm.addEventListener("input", () => refreshCalls({ force: true }).catch(() => {}));
callForm.addEventListener("submit", (e) => e.preventDefault());

// ---------- clients ----------

export async function refreshClients() {
  const [clients, bans] = await Promise.allSettled([api("/api/clients?limit=100"), api("/api/bans")]);
  const cl = clients.status === "fulfilled" ? clients.value.clients || [] : [];
  fillTable(document.querySelector("#clients-table tbody"), cl.map((c) => el("tr", { class: c.banned_until ? "row-blocked" : "" },
    el("td", { class: "mono wrap" }, c.service
      ? [el("strong", { class: "client-service" }, c.service), " ", el("span", { class: "muted small" }, breakable(c.id))]
      : breakable(c.id)),
    el("td", { class: "wrap" }, c.service ? "service" : c.kind),
    el("td", { class: "num" }, c.requests),
    el("td", { class: "num" + (c.limited ? " warn" : "") }, c.allow_listed
      ? el("span", { class: "muted", title: "On an allow list: never limited or banned" }, "allow-listed")
      : c.limited),
    el("td", { class: "num" + (c.blocked ? " bad" : "") }, c.blocked), el("td", { class: "num" }, c.errors_4xx),
    el("td", {}, ago(c.last_seen)), el("td", {}, c.banned_until ? clock(c.banned_until) : "–"))), $("clients-empty"));
  const bl = bans.status === "fulfilled" ? bans.value.bans || [] : [];
  fillTable(document.querySelector("#bans-table tbody"), bl.map((b) => el("tr", {},
    el("td", { class: "actions pin" }, el("button", { type: "button", class: "act", "aria-label": "Lift ban on " + b.client, onclick: () => lift(b.client) }, "Lift ban")),
    el("td", { class: "mono wrap" }, breakable(b.client)), el("td", { class: "wrap" }, b.reason),
    el("td", {}, ago(b.since)), el("td", {}, clock(b.until)), el("td", { class: "num" }, b.strikes))), $("bans-empty"));
  $("clients-status").textContent = clients.status === "fulfilled" ? "" : "client data unavailable";
}

async function lift(client) {
  try {
    await post("/api/bans/lift", { client });
    $("clients-status").textContent = "ban lifted";
  } catch (e) {
    $("clients-status").textContent = "lift failed: " + e.message;
  }
  refreshClients();
}

// ---------- policy ----------

export async function refreshPolicy() {
  const [policy, status] = await Promise.allSettled([api("/api/policy"), api("/api/status")]);
  const p = policy.status === "fulfilled" ? policy.value : {};
  const enclave = p.enclave || {};
  $("enclave-mode").textContent = enclave.mode || "";
  $("enclave-mode").className = "badge mode-" + (enclave.mode || "none");
  const rules = enclave.rules || [];
  fillTable(document.querySelector("#rules-table tbody"), rules.map((r, i) => el("tr", {},
    el("td", { class: "num" }, i + 1), el("td", { class: "mono" }, r.service || "any"),
    el("td", {}, el("span", { class: "badge action-" + r.action }, r.action)),
    el("td", { class: "mono wrap" }, breakable((r.hosts || []).join(", ") || "–")), el("td", { class: "mono wrap" }, breakable((r.cidrs || []).join(", ") || "–")),
    el("td", { class: "mono wrap" }, (r.ports || []).join(", ") || "any"), el("td", {}, r.mode))), $("rules-empty"));
  const nets = enclave.networks || [];
  $("networks").replaceChildren(...(nets.length
    ? nets.map((n) => el("li", { class: "mono" }, n.net, (n.except || []).length ? " except " + n.except.join(", ") : ""))
    : [el("li", { class: "muted" }, "None declared: only special-purpose ranges are judged inside.")]));
  const clients = p.clients || {};
  fillTable(document.querySelector("#protections-table tbody"), (clients.protections || []).map((r) => el("tr", {},
    el("td", { class: "wrap" }, r.protection), el("td", { class: "mono wrap" }, r.setting),
    el("td", {}, el("span", { class: "badge mode-" + r.mode.replace(" ", "-") }, r.mode)))), $("protections-empty"));
  const id = clients.identity || {};
  const ways = [];
  if (id.api_key_header) ways.push(`API key header ${id.api_key_header} (hashed)`);
  if ((id.trusted_proxies || []).length) ways.push(`${id.forwarded_header} believed from ${id.trusted_proxies.join(", ")}`);
  if ((id.named || []).length) ways.push(`named networks: ${id.named.map((n) => n.name + " " + n.cidr).join(", ")}`);
  $("client-identity").textContent = clients.enabled
    ? `Clients are identified by certificate, ${ways.length ? ways.join("; ") + ", " : ""}else by address (IPv6 per /${id.ipv6_prefix}); banned clients get ${clients.bans?.action === "close" ? "their connection closed" : "403"}.`
    : "";
  const reload = p.reload || {};
  $("reload-status").textContent = reload.at
    ? `generation ${reload.generation} · last reload ${ago(reload.at)} ${reload.ok ? "applied" : "rejected: " + (reload.error || "")}`
    : `generation ${reload.generation ?? "–"} · no reload since start`;
  const effective = { policy: p, status: status.status === "fulfilled" ? status.value : null };
  $("effective-config").textContent = JSON.stringify(effective, null, 2);
}
