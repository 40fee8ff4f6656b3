// Sightline dashboard: tabs, the window selector and the live refresh loop.
import { api, clock } from "/js/dom.js";
import { GraphView, legend } from "/js/graph.js";
import { showDetails } from "/js/details.js";
import { startAlertFeed, liveAlerts, refreshAlerts, refreshFindings, refreshEndpoints, refreshCalls, refreshClients, refreshPolicy } from "/js/views.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 5000;
const VIEWS = ["graph", "alerts", "endpoints", "calls", "clients", "policy"];

let windowName = localStorage.getItem("sightline.window") || "5m";
$("window").value = windowName;
let lastGraph = null;

const graph = new GraphView($("graph"), (kind, item) => {
  if (!item) { $("details").hidden = true; return; }
  showDetails(kind, item, lastGraph, windowName);
});
$("legend").replaceChildren(...legend());
$("zoom-in").addEventListener("click", () => graph.zoom(1 / 1.3));
$("zoom-out").addEventListener("click", () => graph.zoom(1.3));
$("zoom-fit").addEventListener("click", () => graph.fit());
$("details-close").addEventListener("click", () => graph.select(null, null));

function currentView() {
  const v = location.hash.replace("#", "");
  return VIEWS.includes(v) ? v : "graph";
}

function showView() {
  const v = currentView();
  for (const name of VIEWS) $("view-" + name).hidden = name !== v;
  for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("active", a.dataset.view === v);
  liveAlerts(v === "alerts");
  refresh();
}

async function refreshGraph() {
  const g = await api("/api/graph?window=" + encodeURIComponent(windowName));
  lastGraph = g;
  graph.render(g);
  const nodes = (g.nodes || []).length;
  const edges = g.edges || [];
  const blocked = edges.filter((e) => e.total && e.total.blocked > 0).length;
  $("graph-empty").hidden = nodes > 0;
  $("graph-summary").textContent = `${nodes} nodes · ${edges.length} edges · ${blocked} blocked · window ${g.window || windowName}`;
  const sel = graph.current();
  if (sel && !$("details").hidden && !document.querySelector("#details:hover")) showDetails(sel.kind, sel.item, g, windowName);
}

let busy = false;
async function refresh() {
  if (busy) return;
  busy = true;
  const live = $("live");
  try {
    const v = currentView();
    if (v === "graph") await refreshGraph();
    else if (v === "alerts") await Promise.all([refreshAlerts(), refreshFindings()]);
    else if (v === "endpoints") await refreshEndpoints(windowName);
    else if (v === "calls") await refreshCalls();
    else if (v === "clients") await refreshClients();
    else if (v === "policy") await refreshPolicy();
    live.textContent = "live · " + clock(new Date().toISOString());
    live.classList.remove("stale");
  } catch (e) {
    live.textContent = "stale: " + e.message;
    live.classList.add("stale");
  } finally {
    busy = false;
  }
}

$("window").addEventListener("change", () => {
  windowName = $("window").value;
  localStorage.setItem("sightline.window", windowName);
  refresh();
});
window.addEventListener("hashchange", showView);

showView();
startAlertFeed();
setInterval(() => { if (currentView() !== "calls") refresh(); }, REFRESH_MS);
setInterval(() => { if (currentView() === "calls") refresh(); }, REFRESH_MS * 2);
