// The page tells the truth about its data: "live" only while updates arrive, a banner and
// disabled actions while the admin API is gone, and a notice when the proxy restarted.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startDemo, browser, eventually, freePort } from "./harness.mjs";

let demo, chrome, admin;

before(async () => {
  admin = "127.0.0.1:" + await freePort();
  demo = await startDemo({ admin });
  chrome = await browser();
});

after(async () => {
  await chrome?.close();
  await demo?.stop();
});

const liveText = (page) => page.locator("#live").textContent();

test("stopping the proxy shows the banner within 10 s, greys the data and disables actions", async () => {
  const page = await chrome.context.newPage();
  await page.goto(demo.admin + "/#alerts");
  await eventually(async () => (await liveText(page)).startsWith("live"), 15000, "the page to be live");
  await page.locator("#alerts-table tbody button", { hasText: "Acknowledge" }).first().waitFor({ timeout: 20000 });
  assert.equal(await page.locator("#conn-banner").isVisible(), false);
  // Screen readers hear the state change: the header's state is a polite live region.
  assert.equal(await page.locator("#live").getAttribute("role"), "status");

  await demo.stop();
  const stoppedAt = Date.now();
  await page.locator("#conn-banner").waitFor({ state: "visible", timeout: 10000 });
  assert.ok(Date.now() - stoppedAt <= 10000, "banner within 10 s");
  const banner = await page.locator("#conn-banner").textContent();
  assert.match(banner, /Disconnected since \d{1,2}:\d{2}:\d{2}/);
  assert.match(banner, /Retrying/);
  // Nothing on the page claims to be live.
  const header = await liveText(page);
  assert.doesNotMatch(header, /\blive\b/i);
  assert.match(header, /disconnected/);
  assert.doesNotMatch(await page.locator("#alert-feed-status").textContent(), /\blive\b|streaming/i);
  // The old data is greyed and its actions cannot be pressed.
  assert.equal(await page.evaluate(() => getComputedStyle(document.querySelector("main")).filter), "grayscale(1)");
  const buttons = page.locator("#alerts-table tbody button.act");
  assert.ok(await buttons.count() > 0);
  for (const b of await buttons.all()) assert.equal(await b.isDisabled(), true);
  // It stays down, and stays honest, on another view.
  await page.goto(demo.admin + "/#graph").catch(() => {});
  await page.close();
});

test("after a restart the page reconnects and says the proxy restarted", async () => {
  demo = await startDemo({ admin });
  const page = await chrome.context.newPage();
  await page.goto(demo.admin + "/#graph");
  await eventually(async () => (await liveText(page)).startsWith("live"), 15000, "the page to be live");
  await demo.stop();
  await page.locator("#conn-banner").waitFor({ state: "visible", timeout: 10000 });
  assert.doesNotMatch(await liveText(page), /\blive\b/i);
  demo = await startDemo({ admin });
  await page.locator("#conn-banner").waitFor({ state: "hidden", timeout: 15000 });
  await page.locator("#restart-banner").waitFor({ state: "visible", timeout: 10000 });
  assert.match(await page.locator("#restart-banner").textContent(), /restarted at \d{1,2}:\d{2}:\d{2}/);
  await eventually(async () => (await liveText(page)).startsWith("live"), 15000, "live again");
  for (const b of await page.locator("button.act").all()) assert.equal(await b.isDisabled(), false);
  await page.close();
});
