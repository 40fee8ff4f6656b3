// Tables that fit: at laptop sizes every column of Alerts, Endpoints, Clients and Policy is
// on screen without scrolling sideways, and row actions sit in a pinned first column.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useDemo, eventually, request } from "./harness.mjs";

const { demo, chrome } = useDemo({
  ready: async () => {
    // Enough of the demo for every table to have rows: alerts, endpoints, bans, talkers.
    await eventually(async () => {
      const bans = JSON.parse((await request(demo.admin + "/api/bans")).body).bans;
      const alerts = JSON.parse((await request(demo.admin + "/api/alerts?state=open")).body).alerts;
      return bans.length >= 1 && alerts.length >= 5;
    }, 45000, "bans and alerts in the demo");
  },
});

/** Cells of visible tables that end right of the viewport or inside a sideways scroll. */
function overflow() {
  const out = [];
  const vw = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > vw + 1) out.push(`page is ${document.documentElement.scrollWidth}px wide`);
  for (const table of document.querySelectorAll(".view:not([hidden]) table.grid")) {
    if (!table.offsetParent) continue;
    for (let p = table.parentElement; p && p !== document.body; p = p.parentElement) {
      if (p.scrollWidth > p.clientWidth + 1 && getComputedStyle(p).overflowX !== "visible") {
        out.push(`#${table.id} scrolls sideways in ${p.className || p.tagName} (${p.scrollWidth} > ${p.clientWidth})`);
        break;
      }
    }
    for (const th of table.querySelectorAll("thead th")) {
      const r = th.getBoundingClientRect();
      if (r.right > vw + 1 || r.left < -1) out.push(`#${table.id} column "${th.textContent}" at ${Math.round(r.left)}–${Math.round(r.right)}`);
    }
  }
  return out;
}

const VIEWS = {
  alerts: "#alerts-table tbody tr",
  endpoints: "#endpoints-table tbody tr",
  clients: "#clients-table tbody tr",
  policy: "#rules-table tbody tr",
};

for (const [width, height] of [[1280, 800], [1024, 768]]) {
  test(`every column of Alerts, Endpoints, Clients and Policy is on screen at ${width}×${height}`, async () => {
    const page = await chrome.context.newPage();
    await page.setViewportSize({ width, height });
    for (const [view, row] of Object.entries(VIEWS)) {
      await page.goto(demo.admin + "/#" + view);
      await page.locator(row).first().waitFor({ timeout: 15000 });
      if (view === "clients") await page.locator("#bans-table tbody tr").first().waitFor({ timeout: 15000 });
      assert.deepEqual(await page.evaluate(overflow), [], `${view} at ${width}×${height}`);
    }
    await page.close();
  });
}

test("at 1024×768 every Alerts row shows its actions inside the viewport", async () => {
  const page = await chrome.context.newPage();
  await page.setViewportSize({ width: 1024, height: 768 });
  await page.goto(demo.admin + "/#alerts");
  await page.locator("#alerts-table tbody tr").first().waitFor({ timeout: 15000 });
  // One snapshot of every row (rows come and go with the live feed).
  const outside = await page.evaluate(() => {
    const rows = [...document.querySelectorAll("#alerts-table tbody tr")];
    const bad = [];
    for (const tr of rows) {
      const buttons = [...tr.querySelectorAll("button")];
      if (!buttons.length) bad.push(`row ${tr.dataset.id} has no actions`);
      for (const b of buttons) {
        const r = b.getBoundingClientRect();
        if (r.left < 0 || r.right > document.documentElement.clientWidth || r.width === 0) bad.push(`row ${tr.dataset.id}: ${b.textContent} at ${Math.round(r.left)}–${Math.round(r.right)}`);
      }
    }
    return { rows: rows.length, bad };
  });
  assert.ok(outside.rows >= 5, "open alerts listed");
  assert.deepEqual(outside.bad, []);
  // The actions come first, so they stay in view however wide the rest grows.
  assert.equal((await page.locator("#alerts-table thead th").first().textContent()).trim(), "Actions");
  // The panes stack: the incidents sit below the table, not beside it.
  const table = await page.locator("#alerts-table").boundingBox();
  const incidents = await page.locator("#incidents").boundingBox();
  assert.ok(incidents.y > table.y + table.height - 1, "incidents below the table");
  await page.close();
});

test("Clients names internal services, lists no idle client, and says why an allow-listed one is never limited", async () => {
  const page = await chrome.context.newPage();
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(demo.admin + "/#clients");
  const rows = page.locator("#clients-table tbody tr");
  // The demo's catalogue calls the gateway from 127.0.0.42: a service, named.
  const catalog = rows.filter({ has: page.locator("strong.client-service", { hasText: /^catalog$/ }) });
  await catalog.first().waitFor({ timeout: 20000 });
  assert.match(await catalog.first().locator("td").nth(1).textContent(), /service/);
  const requests = await rows.evaluateAll((trs) => trs.map((tr) => Number(tr.children[2].textContent)));
  assert.ok(requests.length > 0 && requests.every((n) => n > 0), `requests per row: ${requests}`);
  // An allow-listed client says so where "Limited" would be, and why on hover.
  const allowed = page.locator("#clients-table tbody td span", { hasText: "allow-listed" }).first();
  await allowed.waitFor({ timeout: 10000 });
  assert.match(await allowed.getAttribute("title"), /allow list: never limited or banned/);
  await page.close();
});
