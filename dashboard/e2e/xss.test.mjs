// Attacker-controlled strings (paths, hosts) are shown as text, never run as markup.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useDemo, eventually, request } from "./harness.mjs";

const { demo, chrome } = useDemo();

test("a script in a request path and host header renders inert", async () => {
  const payload = `<img src=x onerror="document.title='PWNED';window.__pwned=1">`;
  const path = "/orders/" + encodeURIComponent(payload);
  await request(demo.inbound + path);
  const hostPayload = "<svg onload=window.__pwned=2>";
  await request(demo.inbound + "/x", { headers: { host: hostPayload } });
  await request("http://169.254.169.254/" + encodeURIComponent("<script>window.__pwned=3</script>"), { proxy: demo.egress });
  const page = await chrome.context.newPage();
  const dialogs = [];
  page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
  await page.goto(demo.admin + "/#calls");
  await eventually(async () => (await page.locator("#calls-table tbody").textContent()).includes("<img src=x onerror="), 15000, "the payload as text in the calls table");
  // Open the record with the payload too: every field rendered.
  await page.locator("#calls-table tbody tr", { hasText: "<img src=x" }).first().click();
  await eventually(async () => (await page.locator("#call-record").textContent()).includes("onerror"), 5000, "the call's record");
  await page.fill('#call-filters input[name="find"]', "");
  await page.locator("#calls-table tbody tr", { hasText: "/x" }).first().click();
  await eventually(async () => (await page.locator("#call-record").textContent()).includes(hostPayload), 5000, "the host header as text");
  await page.goto(demo.admin + "/#graph");
  await page.locator("svg#graph .node").first().waitFor({ timeout: 15000 });
  await page.goto(demo.admin + "/#endpoints");
  await page.locator("#endpoints-table tbody tr").first().waitFor({ timeout: 15000 });
  assert.equal(await page.title(), "Sightline");
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.equal(await page.locator("#calls-table img, #call-record img, #calls-table script").count(), 0);
  assert.deepEqual(dialogs, []);
  await page.close();
});

test("the pages carry a strict content security policy", async () => {
  const r = await request(demo.admin + "/");
  const csp = r.headers["content-security-policy"];
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /style-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(r.headers["x-frame-options"], "DENY");
});
