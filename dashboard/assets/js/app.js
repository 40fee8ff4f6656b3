// Sightline dashboard: tabs, the window selector, the live refresh loop and the connection state.
import { api, clock, connection, onConnection } from "/js/dom.js";
import { GraphView, legend } from "/js/graph.js";
import { showDetails } from "/js/details.js";
import { instanceQuery, instance, readInstance, showInstances, onInstance } from "/js/fleet.js";
import { startAlertFeed, liveAlerts, forgetAlerts, refreshAlerts, refreshFindings, refreshSilences, refreshEndpoints, refreshCalls, refreshClients, refreshPolicy } from "/js/views.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 5000;
/** Without a successful update for this long, the page no longer calls itself live. */
const STALE_MS = REFRESH_MS * 2 + 2000;
const VIEWS = ["graph", "alerts", "endpoints", "calls", "clients", "policy"];

/** The address's parameters after the view: `#graph?node=<id>&window=1h`. */
function hashParams() {
  const q = location.hash.indexOf("?");
  return new URLSearchParams(q < 0 ? "" : location.hash.slice(q + 1));
}

const WINDOWS = ["5m", "1h", "24h"];
let windowName = hashParams().get("window") || localStorage.getItem("sightline.window") || "5m";
if (!WINDOWS.includes(windowName)) windowName = "5m";
$("window").value = windowName;
let lastGraph = null;
/** A selection named by the address, applied once the graph has drawn. */
let pendingSelection = null;

/** Takes the selection and window from the address (on load and when it is edited or followed). */
function readAddress() {
  const p = hashParams();
  pendingSelection = p.has("node") ? { kind: "node", key: p.get("node") }
    : p.has("edge") ? { kind: "edge", key: p.get("edge") } : null;
  const form = $("graph-filters");
  form.q.value = p.get("q") || "";
  for (const k of ["blocked", "errors", "external"]) form[k].checked = p.get(k) === "1";
  readInstance(p);
  const w = p.get("window");
  if (w && WINDOWS.includes(w) && w !== windowName) {
    windowName = w;
    $("window").value = w;
    localStorage.setItem("sightline.window", w);
  }
}
readAddress();

/** The graph's filters as the form holds them. */
function graphFilter() {
  const form = $("graph-filters");
  return { q: form.q.value, blocked: form.blocked.checked, errors: form.errors.checked, external: form.external.checked };
}

/** Writes the view, window, selection and graph filters into the address (a deep link),
 * without a reload. */
function syncAddress() {
  const v = currentView();
  const p = new URLSearchParams();
  const sel = v === "graph" ? graph.selected : null;
  if (sel) p.set(sel.kind, sel.key);
  if (v === "graph") {
    const f = graphFilter();
    if (f.q) p.set("q", f.q);
    for (const k of ["blocked", "errors", "external"]) if (f[k]) p.set(k, "1");
  }
  if (windowName !== "5m") p.set("window", windowName);
  if (instance()) p.set("instance", instance());
  const hash = "#" + v + (p.toString() ? "?" + p.toString() : "");
  if (location.hash !== hash && (location.hash || hash !== "#graph")) history.replaceState(null, "", hash);
}

const graph = new GraphView($("graph"), (kind, item) => {
  syncAddress();
  if (!item) { $("details").hidden = true; delete $("details").dataset.item; return; }
  showDetails(kind, item, lastGraph, windowName);
});
$("legend").replaceChildren(...legend());
graph.setFilter(graphFilter());
$("graph-filters").addEventListener("input", () => { graph.setFilter(graphFilter()); syncAddress(); });
$("graph-filters").addEventListener("submit", (ev) => ev.preventDefault());
$("zoom-in").addEventListener("click", () => graph.zoom(1 / 1.3));
$("zoom-out").addEventListener("click", () => graph.zoom(1.3));
$("zoom-fit").addEventListener("click", () => graph.fit());
$("details-close").addEventListener("click", () => graph.select(null, null, { restoreFocus: true }));
// Escape closes the details panel from anywhere in the graph view; focus returns to the graph.
document.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape" && currentView() === "graph" && !$("details").hidden) {
    ev.preventDefault();
    graph.select(null, null);
  }
});

function currentView() {
  const v = location.hash.replace("#", "").split("?")[0];
  return VIEWS.includes(v) ? v : "graph";
}

function showView() {
  const v = currentView();
  for (const name of VIEWS) $("view-" + name).hidden = name !== v;
  $("menu-button").textContent = "☰ " + v.charAt(0).toUpperCase() + v.slice(1);
  for (const a of document.querySelectorAll("#tabs a")) {
    const on = a.dataset.view === v;
    a.classList.toggle("active", on);
    if (on) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  // Only the graph and the endpoints are summed over the window; elsewhere it says so.
  const windowed = v === "graph" || v === "endpoints";
  $("window").disabled = !windowed;
  $("window").title = windowed ? "" : "The window applies to Graph and Endpoints; this view lists the latest state";
  $("window-note").hidden = windowed;
  $("instance").disabled = !windowed;
  liveAlerts(v === "alerts");
  if (!pendingSelection) syncAddress();
  refresh();
}

async function refreshGraph() {
  const g = await api("/api/graph?window=" + encodeURIComponent(windowName) + instanceQuery());
  lastGraph = g;
  graph.render(g);
  if (pendingSelection) {
    const { kind, key } = pendingSelection;
    pendingSelection = null;
    const known = kind === "node" ? (g.nodes || []).some((n) => n.id === key) : (g.edges || []).some((e) => e.from + "\u0000" + e.to === key);
    if (known) graph.select(kind, key);
  }
  const nodes = (g.nodes || []).length;
  const edges = g.edges || [];
  // The legend names the kinds drawn, nothing else.
  const kinds = new Set((g.nodes || []).map((n) => n.kind));
  const kindsKey = [...kinds].sort().join(",");
  if ($("legend").dataset.kinds !== kindsKey) { $("legend").dataset.kinds = kindsKey; $("legend").replaceChildren(...legend(kinds)); }
  // Say so when the data covers less than the window chosen.
  const now = g.now || Date.now() / 1000;
  const since = Math.min(now, ...(g.nodes || []).map((n) => n.first_seen || now));
  const windowSecs = { "5m": 300, "1h": 3600, "24h": 86400 }[windowName] || 300;
  const covers = now - since < windowSecs - 60 ? ` (data covers the last ${Math.max(1, Math.round((now - since) / 60))} min)` : "";
  const blockedEdges = edges.filter((e) => e.total && e.total.blocked > 0).length;
  const blockedCalls = edges.reduce((n, e) => n + ((e.total && e.total.blocked) || 0), 0);
  $("graph-empty").hidden = nodes > 0;
  $("graph-summary").textContent = `${nodes} nodes · ${edges.length} edges · ${blockedCalls} calls blocked on ${blockedEdges} ${blockedEdges === 1 ? "edge" : "edges"} · window ${g.window || windowName}${covers}`;
  const sel = graph.current();
  if (sel && !$("details").hidden && !document.querySelector("#details:hover")) showDetails(sel.kind, sel.item, g, windowName);
}

// ---------- live, stale and disconnected ----------

/** When the shown data last came in (ms since the epoch), and why the last refresh failed. */
let lastUpdate = null;
let lastError = null;
/** Whether the view holds its updates on purpose (the calls list, paused or paged back). */
let paused = false;

/** The header's state: "live" only while updates keep arriving. */
function showLiveState() {
  const live = $("live");
  const state = $("live-state");
  const time = $("live-time");
  let text, cls;
  if (!connection.ok) { text = "disconnected"; cls = "down"; }
  else if (lastUpdate === null) { text = lastError ? "error: " + lastError : "connecting"; cls = lastError ? "stale" : "pending"; }
  else if (paused && currentView() === "calls") { text = "paused"; cls = "stale"; }
  else if (Date.now() - lastUpdate > STALE_MS || lastError) { text = lastError ? "stale: " + lastError : "stale"; cls = "stale"; }
  else { text = "live"; cls = "ok"; }
  // Only a change of state is written, so screen readers hear "live" or "disconnected" once.
  if (state.textContent !== text) state.textContent = text;
  time.textContent = lastUpdate ? " · " + clock(new Date(lastUpdate).toISOString()) : "";
  live.className = "live " + cls;
  const banner = $("conn-banner");
  banner.hidden = connection.ok;
  document.body.classList.toggle("disconnected", !connection.ok);
  if (!connection.ok) {
    const since = clock(new Date(connection.since).toISOString());
    const shown = lastUpdate ? `showing data from ${clock(new Date(lastUpdate).toISOString())}` : "no data yet";
    $("conn-title").textContent = `Disconnected since ${since}.`;
    $("conn-text").textContent = `The admin API does not answer; ${shown}. Retrying every ${REFRESH_MS / 1000} s; actions are disabled until it answers.`;
  }
}
onConnection(showLiveState);
setInterval(showLiveState, 1000);

let busy = false;
async function refresh() {
  if (busy) return;
  busy = true;
  paused = false;
  try {
    const v = currentView();
    if (v === "graph") await refreshGraph();
    else if (v === "alerts") await Promise.all([refreshAlerts(), refreshFindings(), refreshSilences()]);
    else if (v === "endpoints") await refreshEndpoints(windowName);
    else if (v === "calls") paused = (await refreshCalls()) === "paused";
    else if (v === "clients") await refreshClients();
    else if (v === "policy") await refreshPolicy();
    if (!paused) lastUpdate = Date.now();
    lastError = null;
  } catch (e) {
    lastError = e.message;
  } finally {
    busy = false;
    showLiveState();
  }
}

// ---------- restarts ----------

/** The proxy's start time as first seen: a different one means it restarted under the page. */
let started = null;

async function heartbeat() {
  let status;
  try {
    status = await api("/api/status");
  } catch (_) {
    showLiveState();
    return;
  }
  if (started !== null && status.started !== started) {
    forgetAlerts();
    $("restart-text").textContent = `Sightline restarted at ${clock(status.started)} (it had been running since ${clock(started)}). `
      + "Counters, rates and recent calls start over from the restart; alerts and findings from before it may be gone.";
    $("restart-banner").hidden = false;
    refresh();
  }
  started = status.started;
  showInstances(status.fleet && status.fleet.instances);
}
$("restart-dismiss").addEventListener("click", () => { $("restart-banner").hidden = true; });
$("conn-retry").addEventListener("click", () => { heartbeat(); refresh(); });

$("window").addEventListener("change", () => {
  windowName = $("window").value;
  localStorage.setItem("sightline.window", windowName);
  syncAddress();
  refresh();
});
onInstance(() => { syncAddress(); refresh(); });
window.addEventListener("hashchange", () => { readAddress(); graph.setFilter(graphFilter()); showView(); });

// On small screens the tabs fold into a menu.
function setMenu(open) {
  $("menu-button").setAttribute("aria-expanded", String(open));
  document.body.classList.toggle("menu-open", open);
}
$("menu-button").addEventListener("click", () => setMenu($("menu-button").getAttribute("aria-expanded") !== "true"));
for (const a of document.querySelectorAll("#tabs a")) a.addEventListener("click", () => setMenu(false));
document.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && document.body.classList.contains("menu-open")) setMenu(false); });

showView();
heartbeat();
startAlertFeed();
setInterval(heartbeat, REFRESH_MS);
// While the API is away every view retries at the heartbeat's pace.
setInterval(() => { if (currentView() !== "calls" || !connection.ok) refresh(); }, REFRESH_MS);
setInterval(() => { if (currentView() === "calls" && connection.ok) refresh(); }, REFRESH_MS * 2);
