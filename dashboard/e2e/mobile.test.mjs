// A phone-sized screen (390×844): the page is as wide as the screen, the tabs sit behind a menu,
// and the graph's details open as a sheet above the zoom buttons.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useDemo } from "./harness.mjs";

const { demo, chrome } = useDemo();

const pageWidth = (page) => page.evaluate(() => document.documentElement.scrollWidth);

test("at 390×844 the tabs are a menu and nothing lays out wider than the screen", async () => {
  const page = await chrome.context.newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(demo.admin + "/");
  await page.locator("svg#graph .node").first().waitFor({ timeout: 15000 });
  assert.ok(await pageWidth(page) <= 390, `page ${await pageWidth(page)}px wide`);
  // The window selector is on screen.
  const sel = await page.locator("#window").boundingBox();
  assert.ok(sel.x >= 0 && sel.x + sel.width <= 390);
  // The tabs are folded; the menu opens them and a choice closes it.
  assert.equal(await page.locator('#tabs a[data-view="alerts"]').isVisible(), false);
  await page.locator("#menu-button").click();
  assert.equal(await page.locator("#menu-button").getAttribute("aria-expanded"), "true");
  await page.locator('#tabs a[data-view="alerts"]').click();
  await page.locator("#alerts-table").waitFor();
  assert.equal(await page.locator('#tabs a[data-view="alerts"]').isVisible(), false);
  assert.match(await page.locator("#menu-button").textContent(), /Alerts/);
  for (const view of ["alerts", "endpoints", "calls", "clients", "policy"]) {
    await page.goto(demo.admin + "/#" + view);
    await page.waitForTimeout(800);
    assert.ok(await pageWidth(page) <= 390, `${view}: page ${await pageWidth(page)}px wide`);
  }
  await page.close();
});

test("at 390×844 the details panel is a sheet above the zoom buttons", async () => {
  const page = await chrome.context.newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(demo.admin + "/");
  const node = page.locator('svg#graph .node[data-id="internet"]');
  await node.waitFor({ timeout: 15000 });
  await node.dispatchEvent("click");
  const sheet = page.locator("#details");
  await sheet.waitFor({ state: "visible" });
  const box = await sheet.boundingBox();
  assert.ok(box.x >= 0 && box.x + box.width <= 390 + 1, "the sheet fits the width");
  assert.ok(box.y + box.height <= 844 + 1 && box.y > 844 / 3, "the sheet sits at the bottom");
  // Whatever the zoom buttons' place, the sheet is on top where they overlap.
  const covered = await page.evaluate(() => {
    const sheet = document.getElementById("details").getBoundingClientRect();
    return [...document.querySelectorAll(".zoom button")].every((b) => {
      const r = b.getBoundingClientRect();
      const x = r.left + r.width / 2, y = r.top + r.height / 2;
      const inside = x >= sheet.left && x <= sheet.right && y >= sheet.top && y <= sheet.bottom;
      return !inside || document.getElementById("details").contains(document.elementFromPoint(x, y));
    });
  });
  assert.ok(covered, "zoom buttons never cover the sheet");
  await page.locator("#details-close").click();
  await sheet.waitFor({ state: "hidden" });
  await page.close();
});

/** What of the visible tables' rows lies outside the screen or scrolls sideways. */
function sideways() {
  const out = [];
  const vw = document.documentElement.clientWidth;
  for (const table of document.querySelectorAll(".view:not([hidden]) table.grid")) {
    if (!table.offsetParent) continue;
    for (let p = table; p && p !== document.body; p = p.parentElement) {
      if (p.scrollWidth > p.clientWidth + 1 && getComputedStyle(p).overflowX !== "visible") {
        out.push(`#${table.id} scrolls sideways in ${p.id || p.className || p.tagName} (${p.scrollWidth} > ${p.clientWidth})`);
        break;
      }
    }
    for (const el of table.querySelectorAll("tbody td, tbody button")) {
      const r = el.getBoundingClientRect();
      if (r.width && (r.left < -1 || r.right > vw + 1)) out.push(`#${table.id} ${el.tagName} "${el.textContent.slice(0, 30)}" at ${Math.round(r.left)}–${Math.round(r.right)}`);
    }
  }
  return out;
}

test("at 390×844 table rows are cards: nothing scrolls sideways and every field is named", async () => {
  const page = await chrome.context.newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  const ready = {
    alerts: "#alerts-table tbody tr", endpoints: "#endpoints-table tbody tr", calls: "#calls-table tbody tr",
    clients: "#clients-table tbody tr", policy: "#rules-table tbody tr",
  };
  for (const [view, row] of Object.entries(ready)) {
    await page.goto(demo.admin + "/#" + view);
    await page.locator(row).first().waitFor({ timeout: 20000 });
    assert.deepEqual(await page.evaluate(sideways), [], view);
    // Each field of a card says which column it is.
    const unnamed = await page.locator(row).first().evaluate((tr) => [...tr.children]
      .filter((td) => !td.matches(".actions") && getComputedStyle(td, "::before").content.replace(/"/g, "") !== td.dataset.label)
      .map((td) => td.textContent));
    assert.deepEqual(unnamed, [], `${view}: fields without their column's name`);
  }
  // Alerts: every card shows its actions on screen.
  await page.goto(demo.admin + "/#alerts");
  await page.locator("#alerts-table tbody tr button", { hasText: "Acknowledge" }).first().waitFor({ timeout: 20000 });
  const actions = await page.evaluate(() => [...document.querySelectorAll("#alerts-table tbody tr")].map((tr) => {
    const b = [...tr.querySelectorAll("td.actions button")];
    return b.length > 0 && b.every((x) => { const r = x.getBoundingClientRect(); return r.left >= 0 && r.right <= document.documentElement.clientWidth; });
  }));
  assert.ok(actions.length > 0 && actions.every(Boolean), `actions on screen: ${actions}`);
  // The alert's detail opens on screen too.
  await page.locator("#alerts-table tbody tr button.linkish").first().click();
  await page.locator("#alert-detail").waitFor({ state: "visible" });
  assert.ok(await pageWidth(page) <= 390, "the detail fits");
  await page.close();
});
