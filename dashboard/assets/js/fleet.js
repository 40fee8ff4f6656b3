// The fleet's instance picker: in fleet mode the header lists the instances /api/status
// names (with their last heartbeat); the one chosen filters the graph and the endpoints and is
// kept in the address as `instance=`.
import { el, ago } from "/js/dom.js";

const $ = (id) => document.getElementById(id);
let chosen = "";

/** The instance chosen ("" for the whole fleet). */
export function instance() {
  return chosen;
}

/** The query parameter the graph and endpoints requests carry ("" for the whole fleet). */
export function instanceQuery() {
  return chosen ? "&instance=" + encodeURIComponent(chosen) : "";
}

/** Takes the instance from the address's parameters (a tab's plain link keeps the one chosen,
 * like the window). */
export function readInstance(params) {
  if (!params.has("instance")) return;
  chosen = params.get("instance");
  const sel = $("instance");
  if (sel && sel.value !== chosen) showInstances(lastInstances);
}

let lastInstances = [];

/** Lists `instances` (from /api/status `fleet.instances`) in the picker; hidden outside a fleet. */
export function showInstances(instances) {
  lastInstances = instances || [];
  const box = $("instance-picker");
  const sel = $("instance");
  box.hidden = lastInstances.length === 0 && !chosen;
  const options = [el("option", { value: "" }, "All instances")];
  const names = new Set();
  for (const i of lastInstances) {
    names.add(i.instance);
    const seen = i.last_heartbeat ? ago(i.last_heartbeat) : "never";
    options.push(el("option", { value: i.instance }, `${i.instance} · ${i.alive ? "" : "gone, "}${seen}`));
  }
  // An instance named by the address stays selectable even before the status lists it.
  if (chosen && !names.has(chosen)) options.push(el("option", { value: chosen }, chosen));
  // The same instances: only the heartbeat times change (an open list stays open).
  const same = sel.options.length === options.length
    && options.every((o, n) => sel.options[n].value === o.value);
  if (same) options.forEach((o, n) => { if (sel.options[n].textContent !== o.textContent) sel.options[n].textContent = o.textContent; });
  else sel.replaceChildren(...options);
  sel.value = chosen;
}

/** Calls `changed()` when the user picks another instance. */
export function onInstance(changed) {
  $("instance").addEventListener("change", () => {
    chosen = $("instance").value;
    changed();
  });
}
