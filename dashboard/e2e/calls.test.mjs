// The calls list holds still when asked: pause, older pages, and no reshuffle under the pointer.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startDemo, browser, eventually, request } from "./harness.mjs";

let demo, chrome;

before(async () => {
  demo = await startDemo();
  chrome = await browser();
  await eventually(async () => JSON.parse((await request(demo.admin + "/api/calls?limit=200")).body).next != null, 30000, "more than one page of calls");
});

after(async () => {
  await chrome?.close();
  await demo?.stop();
});

test("older calls page back, pause holds the list, and the header says it is paused", async () => {
  const page = await chrome.context.newPage();
  await page.goto(demo.admin + "/#calls");
  await page.locator("#calls-table tbody tr").first().waitFor({ timeout: 15000 });
  const first = await page.locator("#calls-table tbody tr").count();
  await page.locator("#calls-older").click();
  await eventually(async () => (await page.locator("#calls-table tbody tr").count()) > first, 10000, "older calls appended");
  assert.match(await page.locator("#calls-status").textContent(), /held while older calls are shown/);
  await page.locator("#calls-newest").click();
  await eventually(async () => (await page.locator("#calls-table tbody tr").count()) <= 200, 10000, "back to the newest page");
  await page.locator("#calls-pause").click();
  assert.equal(await page.locator("#calls-pause").getAttribute("aria-pressed"), "true");
  const top = await page.locator("#calls-table tbody tr").first().getAttribute("data-id");
  // Two refresh periods pass: the list stays as it was, and nothing claims to be live.
  await page.waitForTimeout(11000);
  assert.equal(await page.locator("#calls-table tbody tr").first().getAttribute("data-id"), top);
  assert.match(await page.locator("#live").textContent(), /paused/);
  await page.locator("#calls-pause").click();
  await eventually(async () => (await page.locator("#calls-table tbody tr").first().getAttribute("data-id")) !== top, 15000, "updates again");
  await page.close();
});
