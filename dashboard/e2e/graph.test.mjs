// The call graph in a real browser against the demo's scripted traffic.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useDemo, eventually, request } from "./harness.mjs";

let page;
const { demo, chrome } = useDemo({
  ready: async () => {
    page = await chrome.context.newPage();
    // The demo's orders service probes the metadata address through the egress proxy: blocked.
    await eventually(async () => {
      const g = JSON.parse((await request(demo.admin + "/api/graph?window=5m")).body);
      return g.edges.some((e) => e.to === "external:169.254.169.254" && e.total.blocked > 0);
    }, 30000, "a blocked edge in the API");
  },
});

test("the graph shows the demo's services, callers and destinations", async () => {
  await page.goto(demo.admin + "/");
  for (const id of ["internet", "service:gateway", "service:catalog", "service:orders", "service:payments",
    "service:users", "service:shop-db", "external:api.payments-provider.example",
    "external:api.shipping-partner.example", "external:169.254.169.254"]) {
    await page.locator(`svg#graph .node[data-id="${id}"]`).waitFor({ timeout: 15000 });
  }
  // Kinds are told apart, and columns follow the traffic: the internet, then the gateway it
  // calls, then the services behind it, then the datastore, then the destinations outside.
  const x = async (id) => (await page.locator(`svg#graph .node[data-id="${id}"]`).boundingBox()).x;
  assert.ok(await x("internet") < await x("service:gateway"));
  assert.ok(await x("service:gateway") < await x("service:orders"));
  assert.ok(await x("service:catalog") < await x("service:shop-db"));
  assert.ok(await x("service:orders") < await x("external:169.254.169.254"));
  assert.equal(await page.locator('svg#graph .node.kind-external[data-id="external:169.254.169.254"]').count(), 1);
  assert.equal(await page.locator('svg#graph .node.kind-internet[data-id="internet"]').count(), 1);
});

test("a blocked edge stands out and clicking it shows its endpoints", async () => {
  await page.goto(demo.admin + "/");
  const edge = page.locator('svg#graph .edge.blocked[data-to="external:169.254.169.254"]');
  // A straight edge has no height, so wait for it to exist rather than to be "visible".
  await edge.waitFor({ state: "attached", timeout: 15000 });
  const line = edge.locator(".edge-line");
  const dash = await line.evaluate((el) => getComputedStyle(el).strokeDasharray);
  assert.notEqual(dash, "none", "blocked edges are dashed");
  await edge.dispatchEvent("click");
  const details = page.locator("#details");
  await details.waitFor({ state: "visible" });
  assert.match(await page.locator("#details-title").textContent(), /orders → 169\.254\.169\.254/);
  await eventually(async () => (await details.textContent()).includes("/latest/meta-data/iam"), 10000, "the edge's endpoint in the details");
  assert.match(await details.textContent(), /Blocked/);
});

test("clicking a node opens its endpoints and last hour, and focuses the graph on its neighbours", async () => {
  await page.goto(demo.admin + "/");
  const node = page.locator('svg#graph .node[data-id="service:catalog"]');
  await node.waitFor({ timeout: 15000 });
  await node.click();
  const opacity = (id) => page.locator(`svg#graph .node[data-id="${id}"]`).evaluate((g) => Number(getComputedStyle(g).opacity));
  assert.equal(await opacity("service:gateway"), 1, "a caller stays");
  assert.equal(await opacity("service:shop-db"), 1, "a callee stays");
  assert.ok(await opacity("service:payments") < 0.5, "the rest fades");
  await eventually(async () => (await page.locator("#details").textContent()).includes("/products/{int}"), 10000, "catalog's endpoints");
  await page.locator("#details svg.chart").waitFor({ timeout: 10000 });
});

test("the window selector and the other views load", async () => {
  await page.goto(demo.admin + "/");
  await page.selectOption("#window", "1h");
  await page.locator('svg#graph .node[data-id="service:orders"]').waitFor({ timeout: 15000 });
  // An hour's window over a minute of data says how much the data covers.
  await eventually(async () => /window 1h \(data covers the last \d+ min\)/.test(await page.locator("#graph-summary").textContent()), 10000, "the coverage note");
  await page.goto(demo.admin + "/#endpoints");
  await page.locator("#endpoints-table tbody tr").first().waitFor({ timeout: 15000 });
  await page.fill("#endpoint-filter", "meta-data");
  await eventually(async () => (await page.locator("#endpoints-table tbody tr").count()) === 1, 5000, "the filter");
  await page.goto(demo.admin + "/#policy");
  await eventually(async () => (await page.locator("#rules-table tbody").textContent()).includes("api.payments-provider.example"), 10000, "the enclave rule");
  // The window does not apply to the policy: the selector says so instead of being ignored.
  assert.equal(await page.locator("#window").isDisabled(), true);
  assert.equal(await page.locator("#window-note").isVisible(), true);
  // The client protections in force, as the demo configures them.
  const protections = await page.locator("#protections-table tbody").textContent();
  assert.match(protections, /POST \/api\/users\/login: 5 failures \(401, 403\) within 1m/);
  assert.match(protections, /10 distinct 404\/405 paths within 1m/);
  assert.match(await page.locator("#client-identity").textContent(), /x-api-key/);
  await page.goto(demo.admin + "/#graph");
  await page.selectOption("#window", "5m");
});

test("blocked calls are counted as blocked, never as the destination's 4xx", async () => {
  const g = JSON.parse((await request(demo.admin + "/api/graph?window=5m")).body);
  const edge = g.edges.find((e) => e.to === "external:169.254.169.254");
  assert.ok(edge.total.blocked > 0);
  assert.equal(edge.total.ratio_4xx, 0, "Sightline's refusals are not the metadata service's 4xx");
  await page.goto(demo.admin + "/");
  const node = page.locator('svg#graph .node[data-id="external:169.254.169.254"]');
  await node.waitFor({ timeout: 15000 });
  await eventually(async () => /^\d+ blocked$/.test(await node.locator(".node-sub").textContent()), 10000, "the node's blocked count");
  assert.doesNotMatch(await node.locator(".node-sub").textContent(), /\bin\b/, "no traffic in: none reached it");
  assert.match(await page.locator("#graph-summary").textContent(), /\d+ calls blocked on \d+ edges?/);
});

test("the selection and window live in the address, and the panel keeps its scroll on refresh", async () => {
  await page.goto(demo.admin + "/#graph?node=" + encodeURIComponent("service:orders") + "&window=1h");
  await page.locator("#details").waitFor({ state: "visible", timeout: 15000 });
  assert.equal(await page.locator("#details-title").textContent(), "orders");
  assert.equal(await page.locator("#window").inputValue(), "1h");
  await page.locator('svg#graph .node[data-id="service:catalog"]').click();
  await eventually(async () => decodeURIComponent(page.url()).includes("node=service:catalog"), 5000, "the address to follow");
  await eventually(async () => (await page.locator("#details").textContent()).includes("/products/{int}"), 10000, "catalog's endpoints");
  const panel = page.locator("#details");
  await panel.evaluate((p) => { p.scrollTop = p.scrollHeight; });
  const top = await panel.evaluate((p) => p.scrollTop);
  assert.ok(top > 0, "the panel scrolls");
  // Watch through at least one 5-second refresh: no "loading" placeholder, no jump.
  const flashes = await panel.evaluate((p) => new Promise((resolve) => {
    let seen = 0;
    const obs = new MutationObserver(() => { if (p.textContent.includes("loading")) seen++; });
    obs.observe(p, { childList: true, subtree: true, characterData: true });
    setTimeout(() => { obs.disconnect(); resolve(seen); }, 7000);
  }));
  assert.equal(flashes, 0);
  assert.ok(Math.abs(await panel.evaluate((p) => p.scrollTop) - top) < 2, "scroll position kept");
  await page.keyboard.press("Escape");
  await panel.waitFor({ state: "hidden" });
  assert.doesNotMatch(page.url(), /node=/);
  await page.selectOption("#window", "5m");
});

test("refreshes update the drawing in place: nodes keep their identity, titles are unique", async () => {
  await page.goto(demo.admin + "/");
  const node = page.locator('svg#graph .node[data-id="service:orders"]');
  await node.waitFor({ timeout: 15000 });
  await node.evaluate((g) => { g.__marked = true; });
  await eventually(async () => (await page.locator("#live-time").textContent()) !== "", 15000, "a first update");
  const before = await page.locator("#live-time").textContent();
  // Through at least one 5-second refresh.
  await eventually(async () => (await page.locator("#live-time").textContent()) !== before, 15000, "a refresh");
  assert.equal(await node.evaluate((g) => g.__marked === true), true, "the same element, updated");
  const titles = await page.locator("svg#graph .column-title").allTextContents();
  assert.equal(new Set(titles).size, titles.length, `one title per column: ${titles.join(", ")}`);
  // The legend lists only kinds that are drawn: the demo has no client nodes.
  assert.doesNotMatch(await page.locator("#legend").textContent(), /Client/);
});

test("graph filters: find a node, blocked only, hide external; they are kept in the address", async () => {
  await page.goto(demo.admin + "/#graph");
  await page.locator('svg#graph .node[data-id="service:catalog"]').waitFor({ timeout: 15000 });
  await page.fill("#graph-search", "catal");
  const dimmed = (id) => page.locator(`svg#graph .node[data-id="${id}"]`).evaluate((g) => g.classList.contains("dim"));
  assert.equal(await dimmed("service:catalog"), false);
  assert.equal(await dimmed("service:payments"), true, "unrelated nodes fade");
  assert.equal(await dimmed("service:gateway"), false, "a neighbour stays");
  assert.match(decodeURIComponent(page.url()), /q=catal/);
  await page.fill("#graph-search", "");
  await page.check('#graph-filters input[name="blocked"]');
  assert.equal(await dimmed("external:169.254.169.254"), false, "the blocked destination stays");
  assert.equal(await dimmed("service:catalog"), true);
  assert.equal(await page.locator("svg#graph .edge:not(.dim):not(.blocked)").count(), 0, "only blocked edges stay");
  await page.uncheck('#graph-filters input[name="blocked"]');
  await page.check('#graph-filters input[name="external"]');
  assert.equal(await page.locator('svg#graph .node.kind-external:not(.gone)').count(), 0);
  const shownLabels = await page.locator('svg#graph .edge-label[data-key*="external:"]').evaluateAll((ts) => ts.filter((t) => getComputedStyle(t).display !== "none").length);
  assert.equal(shownLabels, 0, "the hidden edges' labels go with them");
  // A link with the filters opens the same picture, and they survive a refresh.
  const url = page.url();
  assert.match(url, /external=1/);
  await page.goto("about:blank");
  await page.goto(url);
  await page.locator('svg#graph .node[data-id="service:catalog"]').waitFor({ timeout: 15000 });
  assert.equal(await page.locator('#graph-filters input[name="external"]').isChecked(), true);
  assert.equal(await page.locator('svg#graph .node.kind-external:not(.gone)').count(), 0);
  await page.waitForTimeout(5500);
  assert.equal(await page.locator('svg#graph .node.kind-external:not(.gone)').count(), 0);
  await page.uncheck('#graph-filters input[name="external"]');
});

test("opening the details panel keeps the graph's labels at their size", async () => {
  await page.goto(demo.admin + "/#graph");
  const label = page.locator('svg#graph .node[data-id="service:gateway"] .node-label');
  await label.waitFor({ timeout: 15000 });
  const before = (await label.boundingBox()).height;
  await page.locator('svg#graph .node[data-id="service:gateway"]').click();
  await page.locator("#details").waitFor({ state: "visible" });
  // Through a refresh as well.
  await page.waitForTimeout(5500);
  const after = (await label.boundingBox()).height;
  assert.ok(after >= before * 0.95, `label height ${before} → ${after}`);
  const box = await page.locator('svg#graph .node[data-id="service:gateway"]').boundingBox();
  const panel = await page.locator("#details").boundingBox();
  assert.ok(box.x + box.width <= panel.x, "the selected node stays in sight beside the panel");
  await page.keyboard.press("Escape");
});

/** For the node with the most edges leaving it: each edge's label, whether it is shown, its box
 * on screen, and its centre's distance (in drawing units) from its own edge's curve. */
function leavingLabels() {
  const edges = [...document.querySelectorAll("svg#graph .edge")];
  const from = new Map();
  for (const g of edges) from.set(g.dataset.from, [...(from.get(g.dataset.from) || []), g]);
  const [node, out] = [...from.entries()].sort((a, b) => b[1].length - a[1].length)[0];
  const labels = [...document.querySelectorAll("svg#graph .edge-label")];
  return {
    node,
    labels: out.map((g) => {
      const t = labels.find((l) => l.dataset.key === g.dataset.key);
      const line = g.querySelector(".edge-line");
      const x = Number(t.getAttribute("x")), y = Number(t.getAttribute("y"));
      let distance = Infinity;
      const length = line.getTotalLength();
      for (let i = 0; i <= 400; i++) {
        const p = line.getPointAtLength((length * i) / 400);
        distance = Math.min(distance, Math.hypot(p.x - x, p.y - y));
      }
      const r = t.getBoundingClientRect();
      // The text's own centre, as drawn, against the point it was given.
      const box = t.getBBox();
      const drawn = Math.hypot(box.x + box.width / 2 - x, box.y + box.height / 2 - y);
      return {
        key: g.dataset.key, text: t.textContent, shown: getComputedStyle(t).display !== "none",
        crowded: t.classList.contains("crowded"), box: { l: r.left, t: r.top, r: r.right, b: r.bottom },
        distance, drawn,
      };
    }),
  };
}

test("labels of the edges leaving one node do not overlap and each sits on its edge's curve", async () => {
  await eventually(async () => {
    const g = JSON.parse((await request(demo.admin + "/api/graph?window=5m")).body);
    const out = new Map();
    for (const e of g.edges) out.set(e.from, (out.get(e.from) || 0) + 1);
    return Math.max(...out.values()) >= 4;
  }, 30000, "a node with four edges leaving it");
  for (const [width, height] of [[1440, 900], [1024, 768]]) {
    await page.setViewportSize({ width, height });
    await page.goto(demo.admin + "/#graph");
    await page.locator("svg#graph .edge-label").first().waitFor({ state: "attached", timeout: 15000 });
    const { node, labels } = await page.evaluate(leavingLabels);
    assert.ok(labels.length >= 4, `${node}: ${labels.length} edges leave it`);
    for (const l of labels) {
      // On its own curve (its centre within 1.5 units of it), whether shown or not.
      assert.ok(l.distance < 1.5, `${l.text} (${l.key}) is ${l.distance.toFixed(1)} from its edge`);
      assert.ok(l.drawn < 3, `${l.text} is drawn ${l.drawn.toFixed(1)} off its point`);
      assert.equal(l.shown, !l.crowded, `${l.text}: shown unless crowded`);
    }
    const shown = labels.filter((l) => l.shown);
    for (let i = 0; i < shown.length; i++) {
      for (let j = i + 1; j < shown.length; j++) {
        const [a, b] = [shown[i].box, shown[j].box];
        const overlap = a.l < b.r && a.r > b.l && a.t < b.b && a.b > b.t;
        assert.ok(!overlap, `"${shown[i].text}" and "${shown[j].text}" overlap at ${width}×${height}`);
      }
    }
    // A label with no room of its own shows, on its curve, while its edge is pointed at.
    for (const l of labels.filter((x) => x.crowded)) {
      await page.locator(`svg#graph .edge[data-key="${l.key}"] .edge-hit`).hover({ force: true });
      const visible = await page.locator("svg#graph .edge-label.shown").evaluateAll((ts) => ts.map((t) => getComputedStyle(t).display !== "none"));
      assert.deepEqual(visible, [true], `${l.text} shows on hover`);
    }
  }
  await page.setViewportSize({ width: 1600, height: 900 });
});

test("the graph view speaks of rates in one unit, and names nodes in full on hover and in the panel", async () => {
  await page.goto(demo.admin + "/#graph?node=" + encodeURIComponent("service:orders"));
  await page.locator("#details").waitFor({ state: "visible", timeout: 15000 });
  await eventually(async () => (await page.locator("#details").textContent()).includes("POST"), 10000, "orders' endpoints");
  const text = await page.locator("#view-graph").evaluate((v) => v.textContent);
  assert.match(text, /\d\/s/, "rates per second");
  assert.doesNotMatch(text, /\/min\b|per min/, "no second rate unit");
  // The longest external name is cut on the box by a clip, never lost: whole in its tooltip
  // (and accessible name) and in the panel's title.
  const id = "external:api.payments-provider.example";
  const node = page.locator(`svg#graph .node[data-id="${id}"]`);
  assert.match(await node.locator("title").textContent(), /api\.payments-provider\.example/);
  assert.equal(await node.locator(".node-label").textContent(), "api.payments-provider.example");
  await node.dispatchEvent("click");
  await eventually(async () => (await page.locator("#details-title").textContent()) === "api.payments-provider.example", 5000, "the full name in the panel");
  await page.keyboard.press("Escape");
});
