// Small DOM and API helpers. Every value that comes from the API may carry attacker-chosen
// text (paths, hosts, headers, SNI): it only ever becomes a text node, never HTML.

const SVG_NS = "http://www.w3.org/2000/svg";

/** An element; string and number children become text nodes. */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

/** An SVG element; string children become text nodes. */
export function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

function setAttrs(node, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.setAttribute("class", v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
}

function append(node, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Makes `parent`'s children look like `next` (freshly built nodes), reusing the elements that
 * are already there: same tag and same `data-id`/`data-key` keep their identity (so focus,
 * hover, tooltips and listeners survive a refresh) and only changed attributes and text are
 * written. */
export function morph(parent, next) {
  const old = [...parent.childNodes];
  next.forEach((n, i) => {
    const o = old[i];
    const same = o && o.nodeType === n.nodeType && o.nodeName === n.nodeName
      && (n.nodeType !== 1 || (o.getAttribute("data-id") === n.getAttribute("data-id") && o.getAttribute("data-key") === n.getAttribute("data-key")));
    if (!same) {
      if (o) parent.replaceChild(n, o); else parent.append(n);
      return;
    }
    if (n.nodeType !== 1) {
      if (o.nodeValue !== n.nodeValue) o.nodeValue = n.nodeValue;
      return;
    }
    for (const a of [...o.attributes]) if (!n.hasAttribute(a.name)) o.removeAttribute(a.name);
    for (const a of n.attributes) if (o.getAttribute(a.name) !== a.value) o.setAttribute(a.name, a.value);
    morph(o, [...n.childNodes]);
  });
  for (let i = next.length; i < old.length; i++) old[i].remove();
}

/** An error from the API, with its HTTP status. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Whether the admin API answered the last request, and since when it has not. Any answer at
 * all (even an error status) means it is reachable; only a failed or timed-out request does not. */
export const connection = { ok: true, since: null, lastOk: null };
const connectionListeners = new Set();
/** How long a request may take before the API counts as unreachable. */
const REQUEST_TIMEOUT_MS = 8000;

/** Calls `fn(connection)` whenever reachability changes. */
export function onConnection(fn) {
  connectionListeners.add(fn);
}

function reachable(ok) {
  const changed = ok !== connection.ok;
  connection.ok = ok;
  if (ok) { connection.lastOk = Date.now(); connection.since = null; }
  else if (changed || connection.since === null) connection.since = Date.now();
  if (changed) {
    syncActions();
    for (const fn of connectionListeners) fn(connection);
  }
}

/** Buttons that change state on the server (class "act") work only while the API answers. */
export function syncActions(root = document) {
  for (const b of root.querySelectorAll("button.act")) {
    b.disabled = !connection.ok;
    if (connection.ok) b.removeAttribute("title");
    else b.title = "Unavailable while the admin API cannot be reached";
  }
}

async function request(path, init, opts) {
  let resp;
  try {
    resp = await fetch(path, { credentials: "same-origin", signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS), ...init });
  } catch (e) {
    reachable(false);
    throw new ApiError(0, e && e.name === "TimeoutError" ? "no answer within 8 s" : "cannot reach the admin API");
  }
  reachable(true);
  if (resp.status === 401 && opts.redirect !== false) {
    location.replace("/login");
    throw new ApiError(401, "sign-in required");
  }
  let body = null;
  const type = resp.headers.get("content-type") || "";
  if (type.startsWith("application/json")) body = await resp.json();
  if (!resp.ok) throw new ApiError(resp.status, (body && body.reason) || resp.statusText);
  return body;
}

/** GET a JSON document from the admin API. */
export function api(path, opts = {}) {
  return request(path, {}, opts);
}

/** POST JSON; the custom header tells the server this is the dashboard, not a cross-site form. */
export function post(path, body, opts = {}) {
  return request(
    path,
    {
      method: "POST",
      headers: { "content-type": "application/json", "x-sightline-request": "dashboard" },
      body: JSON.stringify(body || {}),
    },
    opts,
  );
}

/** DELETE a resource, with the header that marks the dashboard's own requests. */
export function del(path, opts = {}) {
  return request(path, { method: "DELETE", headers: { "x-sightline-request": "dashboard" } }, opts);
}

/** Text that may wrap after separators ("/", ".", ":", "-", ">", ","), as text nodes and
 * <wbr> elements: long paths and hosts break where a reader expects, never mid-word. */
export function breakable(text) {
  const out = [];
  for (const part of String(text).split(/(?<=[/.:\-,>])/)) {
    if (out.length) out.push(document.createElement("wbr"));
    out.push(document.createTextNode(part));
  }
  return out;
}

/** A recorded (percent-encoded) path as people read it; the raw form when it does not decode. */
export function readablePath(p) {
  try {
    return decodeURIComponent(p);
  } catch (_) {
    return p;
  }
}

/** Calls per second, compactly, always per second: one unit across the graph, so two numbers
 * side by side compare at a glance. */
export function rate(perSec) {
  if (!perSec) return "0/s";
  if (perSec >= 100) return perSec.toFixed(0) + "/s";
  if (perSec >= 1) return perSec.toFixed(1) + "/s";
  if (perSec >= 0.01) return perSec.toFixed(2) + "/s";
  return "<0.01/s";
}

/** Calls per minute, the unit of baselines: a number without the unit (headers carry it). */
export function perMinute(perSec) {
  const v = (perSec || 0) * 60;
  return v >= 100 ? v.toFixed(0) : v.toFixed(1);
}

/** A ratio as a percentage. */
export function pct(r) {
  if (!r) return "0%";
  const p = r * 100;
  return (p < 1 ? p.toFixed(2) : p < 10 ? p.toFixed(1) : p.toFixed(0)) + "%";
}

/** Milliseconds, compactly. */
export function ms(v) {
  if (v === null || v === undefined) return "–";
  if (v < 1) return v.toFixed(2) + " ms";
  if (v < 100) return v.toFixed(1) + " ms";
  if (v < 10000) return v.toFixed(0) + " ms";
  return (v / 1000).toFixed(1) + " s";
}

/** "12 s ago" for unix seconds or an RFC 3339 string. */
export function ago(t) {
  if (t === null || t === undefined || t === "") return "–";
  const secs = typeof t === "number" ? t : Date.parse(t) / 1000;
  if (!Number.isFinite(secs)) return String(t);
  const d = Math.max(0, Date.now() / 1000 - secs);
  if (d < 60) return Math.round(d) + " s ago";
  if (d < 3600) return Math.round(d / 60) + " min ago";
  if (d < 86400) return (d / 3600).toFixed(1) + " h ago";
  return Math.round(d / 86400) + " d ago";
}

/** A clock time for an RFC 3339 string. */
export function clock(t) {
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : d.toLocaleTimeString([], { hour12: false });
}

/** Replaces a table body's rows, or shows the "empty" note instead. */
export function fillTable(tbody, rows, emptyEl) {
  // Each cell names its column: on a phone the rows are cards and the names head their fields.
  const heads = [...tbody.closest("table").querySelectorAll("thead th")].map((th) => th.textContent.trim());
  for (const tr of rows) {
    [...tr.children].forEach((td, i) => { if (heads[i] && !td.hasAttribute("data-label")) td.setAttribute("data-label", heads[i]); });
  }
  tbody.replaceChildren(...rows);
  syncActions(tbody);
  if (emptyEl) emptyEl.hidden = rows.length > 0;
}

/** A per-minute bar chart of `minutes` ({at, count, errors, blocked}) as SVG. */
export function minuteChart(minutes, width = 320, height = 70) {
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height + 14}`, width, height: height + 14 });
  const max = Math.max(1, ...minutes.map((m) => m.count));
  const bw = width / Math.max(1, minutes.length);
  minutes.forEach((m, i) => {
    const h = (m.count / max) * height;
    const bad = ((m.errors || 0) + (m.blocked || 0)) / max * height;
    const x = i * bw;
    if (h > 0) chart.append(svg("rect", { x: x + 0.5, y: height - h, width: Math.max(1, bw - 1), height: h, class: "bar" }));
    if (bad > 0) chart.append(svg("rect", { x: x + 0.5, y: height - bad, width: Math.max(1, bw - 1), height: bad, class: "bar bad" }));
    chart.lastChild && chart.lastChild.append(svg("title", {}, `${clock(m.at * 1000)}: ${m.count} calls, ${m.errors || 0} errors, ${m.blocked || 0} blocked`));
  });
  chart.append(svg("line", { x1: 0, x2: width, y1: height + 0.5, y2: height + 0.5, class: "axis" }));
  chart.append(svg("text", { x: 0, y: height + 12, class: "axis-label" }, "−60 min"));
  chart.append(svg("text", { x: width, y: height + 12, class: "axis-label end" }, "now"));
  chart.append(svg("text", { x: width, y: 10, class: "axis-label end" }, `busiest minute: ${max} calls`));
  return chart;
}
