// A phone-sized screen (390×844): the page is as wide as the screen, the tabs sit behind a menu,
// and the graph's details open as a sheet above the zoom buttons.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startDemo, browser } from "./harness.mjs";

let demo, chrome;

before(async () => {
  demo = await startDemo();
  chrome = await browser();
});

after(async () => {
  await chrome?.close();
  await demo?.stop();
});

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
