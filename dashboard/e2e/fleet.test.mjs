// The fleet's instance picker. A single instance shows none; in fleet mode (here /api/status
// answered as a fleet of three would answer it) the header lists the instances with their last
// heartbeat, and the one chosen filters the graph and the endpoints and stays in the address.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useDemo, eventually } from "./harness.mjs";

const { demo, chrome } = useDemo();

/** The query of the last request the page made to `path`. */
function watch(page, path) {
  const seen = [];
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (u.pathname === path) seen.push(u.searchParams);
  });
  return seen;
}

test("a single instance shows no instance picker", async () => {
  const page = await chrome.context.newPage();
  const graphs = watch(page, "/api/graph");
  await page.goto(demo.admin + "/#graph");
  await eventually(() => graphs.length > 0, 15000, "the graph loaded");
  assert.equal(await page.locator("#instance-picker").isVisible(), false);
  assert.equal(graphs[0].get("instance"), null);
  await page.close();
});

test("in a fleet the picker lists the instances and filters graph and endpoints through the address", async () => {
  const page = await chrome.context.newPage();
  const beat = new Date(Date.now() - 3000).toISOString().replace(/\.\d+Z$/, "Z");
  const old = new Date(Date.now() - 600000).toISOString().replace(/\.\d+Z$/, "Z");
  await page.route("**/api/status", async (route) => {
    const real = await route.fetch();
    const status = await real.json();
    status.fleet = {
      instance: "gw-1",
      instances: [
        { instance: "gw-1", alive: true, last_heartbeat: beat },
        { instance: "gw-2", alive: true, last_heartbeat: beat },
        { instance: "gw-<3>", alive: false, last_heartbeat: old },
      ],
    };
    await route.fulfill({ response: real, json: status });
  });
  const graphs = watch(page, "/api/graph");
  const endpoints = watch(page, "/api/endpoints");
  await page.goto(demo.admin + "/#graph");
  await page.locator("#instance-picker").waitFor({ state: "visible", timeout: 15000 });
  const options = await page.locator("#instance option").allTextContents();
  assert.equal(options.length, 4, options.join(" | "));
  assert.equal(options[0], "All instances");
  assert.match(options[1], /^gw-1 · \d+ s ago$/);
  assert.match(options[3], /^gw-<3> · gone, 10 min ago$/, "names shown as text, with their last heartbeat");
  await page.locator("#instance").selectOption("gw-2");
  await eventually(() => location(page).includes("instance=gw-2"), 5000, "the instance in the address");
  await eventually(() => graphs.some((q) => q.get("instance") === "gw-2"), 10000, "the graph filtered");
  // The endpoints view keeps it, and so does a reload of the address.
  await page.locator("#tabs a[data-view=endpoints]").click();
  await eventually(() => endpoints.some((q) => q.get("instance") === "gw-2"), 10000, "the endpoints filtered");
  assert.match(location(page), /#endpoints\?.*instance=gw-2/);
  await page.reload();
  await page.locator("#instance-picker").waitFor({ state: "visible", timeout: 15000 });
  assert.equal(await page.locator("#instance").inputValue(), "gw-2");
  // Back to the whole fleet: no filter, none in the address.
  const before = endpoints.length;
  await page.locator("#instance").selectOption("");
  await eventually(() => endpoints.length > before && endpoints.at(-1).get("instance") === null, 10000, "the whole fleet again");
  assert.doesNotMatch(location(page), /instance=/);
  await page.close();
});

test("another instance's alert is listed beside a local one of the same id, without actions", async () => {
  const page = await chrome.context.newPage();
  await page.route("**/api/alerts?*", async (route) => {
    const real = await route.fetch();
    const data = await real.json();
    const local = (data.alerts || []).find((a) => a.state === "open");
    if (local) data.alerts.push({ ...local, subject: "seen-on-gw-2", instance: "gw-2", delivery: {} });
    await route.fulfill({ response: real, json: data });
  });
  await page.goto(demo.admin + "/#alerts");
  const remote = page.locator("#alerts-table tbody tr", { hasText: "seen-on-gw-2" });
  await remote.waitFor({ timeout: 20000 });
  assert.equal(await remote.locator("button.act").count(), 0, "no actions on another instance's alert");
  assert.match(await remote.locator("td.actions").textContent(), /on gw-2/);
  const id = await remote.getAttribute("data-id");
  assert.match(id, /^gw-2\/\d+$/);
  // The local alert of the same id keeps its row and its actions.
  const local = page.locator(`#alerts-table tbody tr[data-id="${id.split("/")[1]}"]`);
  assert.equal(await local.count(), 1);
  assert.ok(await local.locator("button.act").count() > 0);
  await remote.locator("button.linkish").click();
  await eventually(async () => /raised on\s*gw-2/.test(await page.locator("#alert-detail-body").textContent()), 5000, "the detail names the instance");
  await page.close();
});

function location(page) {
  return page.url();
}
