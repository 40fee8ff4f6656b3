// With a token configured, the API refuses without it and the login page opens the dashboard.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWithToken, startUpstream, browser, eventually, request } from "./harness.mjs";

const TOKEN = "e2e-token-7d1f0c2a9b";
let upstream, sightline, chrome;

before(async () => {
  upstream = await startUpstream();
  sightline = await startWithToken(TOKEN, upstream.url);
  for (let i = 0; i < 5; i++) await request(sightline.inbound + "/cart/" + i);
  chrome = await browser();
});

after(async () => {
  await chrome?.close();
  await sightline?.stop();
  await upstream?.close();
});

test("the API refuses without the token and answers with it", async () => {
  assert.equal((await request(sightline.admin + "/api/graph")).status, 401);
  assert.equal((await request(sightline.admin + "/api/calls", { headers: { authorization: "Bearer wrong" } })).status, 401);
  const ok = await request(sightline.admin + "/api/calls", { headers: { authorization: "Bearer " + TOKEN } });
  assert.equal(ok.status, 200);
  assert.ok(JSON.parse(ok.body).calls.length >= 5);
  // A POST with a forged Origin is refused even before the token question.
  const lift = await request(sightline.admin + "/api/bans/lift", { method: "POST", body: '{"client":"x"}',
    headers: { "content-type": "application/json", origin: "http://evil.example", "x-sightline-request": "1", cookie: "sightline_session=00" } });
  assert.equal(lift.status, 401);
});

test("the login page sets a session cookie that opens the dashboard", async () => {
  const page = await chrome.context.newPage();
  await page.goto(sightline.admin + "/");
  await page.waitForURL(/\/login$/, { timeout: 10000 });
  await page.fill("#token", "not-the-token");
  await page.click("button[type=submit]");
  await eventually(async () => (await page.locator("#login-error").textContent()).includes("Wrong token"), 5000, "the error");
  await page.fill("#token", TOKEN);
  await page.click("button[type=submit]");
  await page.waitForURL((u) => !u.pathname.startsWith("/login"), { timeout: 10000 });
  await page.locator('svg#graph .node[data-id="service:shop"]').waitFor({ timeout: 15000 });
  const cookies = await chrome.context.cookies(sightline.admin);
  const session = cookies.find((c) => c.name === "sightline_session");
  assert.ok(session, "session cookie set");
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, "Strict");
  assert.notEqual(session.value, TOKEN);
  // Scripts cannot read it.
  assert.equal(await page.evaluate(() => document.cookie.includes("sightline_session")), false);
  await page.close();
});
