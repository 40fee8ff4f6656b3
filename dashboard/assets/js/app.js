// Sightline admin UI. Every value from the API is attacker-influenced (paths, hosts, headers):
// it is only ever placed with textContent, never as HTML.
"use strict";

const form = document.getElementById("filters");
const tbody = document.querySelector("#calls tbody");
const statusEl = document.getElementById("status");

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (cls) td.className = cls;
  return td;
}

async function refresh() {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (v) params.set(k, v);
  params.set("limit", "100");
  try {
    const resp = await fetch("/api/calls?" + params.toString(), { credentials: "same-origin" });
    const data = await resp.json();
    if (!resp.ok) throw new Error(data.reason || resp.statusText);
    const rows = data.calls.map((c) => {
      const tr = document.createElement("tr");
      const cls = c.status >= 500 || c.status === 0 ? "bad" : c.status >= 400 ? "warn" : "";
      tr.append(
        cell(c.time.replace("T", " ").replace("Z", "")),
        cell(c.direction),
        cell(c.source),
        cell(c.destination),
        cell(c.method),
        cell(c.host),
        cell(c.path, "path"),
        cell(c.status || "—", cls),
        cell(c.duration_ms.toFixed(1)),
        cell(c.decision, c.decision === "allowed" ? "" : "bad"),
        cell(c.reason),
      );
      return tr;
    });
    tbody.replaceChildren(...rows);
    statusEl.textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    statusEl.textContent = "error: " + e.message;
  }
}

form.addEventListener("input", refresh);
form.addEventListener("submit", (e) => e.preventDefault());
refresh();
setInterval(refresh, 2000);
