// Keyboard and screen readers: the graph is usable without a mouse, headers and filters say what
// they are, and axe-core finds no serious or critical violation on any view.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useDemo, eventually, request, axeSerious } from "./harness.mjs";

const { demo, chrome } = useDemo({
  ready: async () => {
    await eventually(async () => {
      const alerts = JSON.parse((await request(demo.admin + "/api/alerts?state=open")).body).alerts;
      const bans = JSON.parse((await request(demo.admin + "/api/bans")).body).bans;
      return alerts.length >= 3 && bans.length >= 1;
    }, 45000, "alerts and a ban in the demo");
  },
});

/** The focused element's graph identity, if any. */
const focused = (page) => page.evaluate(() => {
  const a = document.activeElement;
  return a && a.matches(".node, .edge") ? { node: a.dataset.id || null, edge: a.dataset.key || null } : null;
});

test("Tab reaches a graph node, Enter opens its panel, arrows move, Escape closes", async () => {
  const page = await chrome.context.newPage();
  await page.goto(demo.admin + "/");
  await page.locator('svg#graph .node[data-id="service:catalog"]').waitFor({ timeout: 15000 });
  let reached = null;
  for (let i = 0; i < 30 && !reached; i++) {
    await page.keyboard.press("Tab");
    const f = await focused(page);
    if (f && f.node) reached = f.node;
  }
  assert.ok(reached, "Tab reaches a node");
  await page.keyboard.press("Enter");
  await page.locator("#details").waitFor({ state: "visible", timeout: 5000 });
  const title = await page.locator("#details-title").textContent();
  assert.equal(title, await page.locator(`svg#graph .node[data-id="${reached}"] .node-label`).textContent());
  // Arrow keys move between nodes; only one node is in the tab order at a time.
  await page.keyboard.press("ArrowRight");
  const moved = await focused(page);
  assert.ok(moved && moved.node && moved.node !== reached, "ArrowRight moves to another node");
  assert.equal(await page.locator('svg#graph .node[tabindex="0"]').count(), 1);
  await page.keyboard.press("Enter");
  await eventually(async () => (await page.locator("#details-title").textContent()) !== title, 5000, "the panel to follow");
  // Focus survives the 5-second redraw.
  await page.waitForTimeout(6000);
  assert.equal((await focused(page)).node, moved.node);
  await page.keyboard.press("Escape");
  await page.locator("#details").waitFor({ state: "hidden", timeout: 5000 });
  assert.equal((await focused(page)).node, moved.node, "focus back on the node");
  // Edges are a tab stop of their own (drawn under the nodes, so just before them), and Enter
  // opens theirs.
  let edge = null;
  for (let i = 0; i < 5 && !edge; i++) {
    await page.keyboard.press("Shift+Tab");
    const f = await focused(page);
    if (f && f.edge) edge = f.edge;
  }
  assert.ok(edge, "Tab reaches an edge");
  await page.keyboard.press("Enter");
  await page.locator("#details").waitFor({ state: "visible", timeout: 5000 });
  assert.equal(await page.locator("#details-kind").textContent(), "Edge");
  await page.close();
});

test("sortable headers are buttons with aria-sort; the active tab is marked current", async () => {
  const page = await chrome.context.newPage();
  await page.goto(demo.admin + "/#endpoints");
  await page.locator("#endpoints-table tbody tr").first().waitFor({ timeout: 15000 });
  assert.equal(await page.locator('#endpoints-table th[data-key="rate"]').getAttribute("aria-sort"), "descending");
  assert.equal(await page.locator('#endpoints-table th[data-key="p99"]').getAttribute("aria-sort"), "none");
  await page.locator('#endpoints-table th[data-key="p99"] button').focus();
  await page.keyboard.press("Enter");
  assert.equal(await page.locator('#endpoints-table th[data-key="p99"]').getAttribute("aria-sort"), "descending");
  assert.equal(await page.locator('#endpoints-table th[data-key="rate"]').getAttribute("aria-sort"), "none");
  assert.equal(await page.locator('#tabs a[aria-current="page"]').textContent(), "Endpoints");
  await page.close();
});

for (const [view, size] of ["graph", "alerts", "endpoints", "calls", "clients", "policy"]
  .flatMap((v) => [[v, null], [v, { width: 390, height: 844 }]])) {
  test(`axe-core finds no serious or critical violation on ${view}${size ? " at 390×844" : ""}`, async () => {
    const page = await chrome.context.newPage();
    if (size) await page.setViewportSize(size);
    await page.goto(demo.admin + "/#" + view);
    const ready = {
      graph: "svg#graph .node", alerts: "#alerts-table tbody tr", endpoints: "#endpoints-table tbody tr",
      calls: "#calls-table tbody tr", clients: "#bans-table tbody tr", policy: "#rules-table tbody tr",
    }[view];
    await page.locator(ready).first().waitFor({ timeout: 15000 });
    if (view === "graph") {
      await page.locator('svg#graph .node[data-id="service:orders"]').dispatchEvent("click");
      await eventually(async () => (await page.locator("#details").textContent()).includes("POST"), 10000, "node details");
    }
    if (view === "calls") await page.locator("#calls-table tbody tr").first().click();
    if (view === "alerts") {
      await page.locator("#alerts-table tbody button.linkish").first().click();
      await page.locator("#alert-detail").waitFor({ state: "visible" });
    }
    const violations = await axeSerious(page);
    assert.deepEqual(violations, [], JSON.stringify(violations, null, 1));
    await page.close();
  });
}
