// A new blocked call appears in the alert feed without a reload, through the alert pipeline's
// /api/alerts and /api/alerts/stream.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useDemo, eventually, request } from "./harness.mjs";

const { demo, chrome } = useDemo();

const SEVERITY = { critical: 0, high: 1, medium: 2, low: 3, info: 4 };

test("60 s after the demo starts at most 15 alerts are open, each one to act on, most severe first", async () => {
  const started = Date.parse(JSON.parse((await request(demo.admin + "/api/status")).body).started);
  const page = await chrome.context.newPage();
  await page.goto(demo.admin + "/#alerts");
  await eventually(async () => Date.now() - started >= 60000, 75000, "a minute of the demo");
  const open = JSON.parse((await request(demo.admin + "/api/alerts?state=open&limit=500")).body).alerts;
  console.log(`open alerts 60 s after start: ${open.length} (${open.map((a) => a.kind).join(", ")})`);
  assert.ok(open.length <= 15, `${open.length} open alerts`);
  // First sightings while baselines learn are one digest, not an alert each.
  assert.deepEqual(open.filter((a) => a.kind.startsWith("new_")).map((a) => a.subject), []);
  assert.ok(open.filter((a) => a.kind === "inventory").length <= 1);
  // The table lists them most severe first, and the tab counts them.
  await eventually(async () => (await page.locator("#alerts-table tbody tr").count()) >= open.length, 10000, "every open alert listed");
  const severities = await page.locator("#alerts-table tbody tr .badge[class*=sev-]").allTextContents();
  const ranks = severities.map((s) => SEVERITY[s.trim()]);
  assert.deepEqual(ranks, [...ranks].sort((a, b) => a - b), `severity order: ${severities.join(", ")}`);
  // An anomaly's evidence reads in units: observed, expected and the band.
  const anomaly = await eventually(async () => JSON.parse((await request(demo.admin + "/api/alerts?state=open&limit=500")).body).alerts
    .find((a) => a.evidence && a.evidence.signal), 30000, "an anomaly alert");
  await page.locator(`#alerts-table tbody tr[data-id="${anomaly.id}"] button.linkish`).click();
  const detail = page.locator("#alert-detail");
  await detail.waitFor({ state: "visible" });
  const unit = { rate: /\/(s|min)$/, error_ratio: /%$/, latency: / ms$/ }[anomaly.evidence.signal];
  for (const field of ["observed", "expected"]) {
    const dd = detail.locator("dt", { hasText: new RegExp(`^${field}$`) }).locator("xpath=following-sibling::dd[1]");
    assert.match((await dd.textContent()).trim(), unit, `${field} with its unit`);
  }
  const band = detail.locator("dt", { hasText: /^band$/ }).locator("xpath=following-sibling::dd[1]");
  assert.match((await band.textContent()).trim(), new RegExp(`^\\S+ – \\S+`));
  assert.doesNotMatch(await detail.textContent(), /\d\.\d{5,}/, "no long raw numbers");
  await page.close();
});

test("a new blocked call shows up in the open alerts live", async () => {
  const page = await chrome.context.newPage();
  await page.goto(demo.admin + "/#alerts");
  await page.locator("#alerts-table").waitFor();
  let navigations = 0;
  page.on("framenavigated", () => { navigations++; });
  // A documentation address: refused by the enclave before any dial, so nothing leaves loopback.
  const host = `198.51.100.${1 + (Date.now() % 250)}`;
  const r = await request(`http://${host}/upload`, { proxy: demo.egress, headers: { host } });
  assert.equal(r.status, 403);
  await eventually(async () => (await page.locator("#alerts-table tbody").textContent()).includes(host), 20000, "the blocked call's alert");
  assert.equal(navigations, 0, "no reload happened");
  const row = page.locator("#alerts-table tbody tr", { hasText: host }).first();
  const id = await row.getAttribute("data-id");
  await row.locator("button", { hasText: "Acknowledge" }).click();
  await eventually(async () => {
    const acked = JSON.parse((await request(demo.admin + "/api/alerts?state=acknowledged")).body);
    return acked.alerts.some((a) => String(a.id) === id);
  }, 10000, "the acknowledgement in the API");
  // The open-alerts view drops it without a reload.
  await eventually(async () => (await page.locator(`#alerts-table tbody tr[data-id="${id}"]`).count()) === 0, 10000, "the row to leave the open view");
  assert.equal(navigations, 0, "no reload happened");
  await page.close();
});

test("an alert opens its detail, with evidence and links into the graph, and ack says it worked", async () => {
  const page = await chrome.context.newPage();
  await page.goto(demo.admin + "/#alerts");
  const row = page.locator("#alerts-table tbody tr", { hasText: "egress blocked" }).first();
  await row.waitFor({ timeout: 20000 });
  await row.locator("button.linkish").click();
  const detail = page.locator("#alert-detail");
  await detail.waitFor({ state: "visible" });
  assert.match(await detail.textContent(), /Evidence/);
  const link = detail.locator('a[href^="#graph?node="]').first();
  const href = await link.getAttribute("href");
  const nodeId = decodeURIComponent(href.split("node=")[1]);
  // Acknowledging says so in words, for sighted users and screen readers alike.
  const ack = page.locator("#alerts-table tbody tr", { hasText: "egress blocked" }).first().locator("button", { hasText: "Acknowledge" });
  await ack.click();
  await eventually(async () => /Alert acknowledged/.test(await page.locator("#alert-action-status").textContent()), 10000, "the acknowledgement note");
  await link.click();
  await page.locator("#details").waitFor({ state: "visible", timeout: 15000 });
  assert.ok(decodeURIComponent(page.url()).includes("node=" + nodeId));
  await page.close();
});

test("resolving an alert offers an undo that opens it again", async () => {
  const page = await chrome.context.newPage();
  await page.goto(demo.admin + "/#alerts");
  await page.locator("#alerts-table").waitFor();
  const host = `203.0.113.${1 + (Date.now() % 250)}`;
  const r = await request(`http://${host}/export`, { proxy: demo.egress, headers: { host } });
  assert.equal(r.status, 403);
  const row = page.locator("#alerts-table tbody tr", { hasText: host }).first();
  await row.waitFor({ timeout: 20000 });
  const id = await row.getAttribute("data-id");
  await row.locator("button", { hasText: "Resolve" }).click();
  const note = page.locator("#alert-action-status");
  await eventually(async () => /Alert resolved/.test(await note.textContent()), 10000, "the resolve note");
  const state = async () => JSON.parse((await request(`${demo.admin}/api/alerts?limit=500`)).body).alerts.find((a) => String(a.id) === id)?.state;
  assert.equal(await state(), "resolved");
  await note.locator("button", { hasText: "Undo" }).click();
  await eventually(async () => (await state()) === "open", 10000, "the alert open again in the API");
  await eventually(async () => /Alert reopened/.test(await note.textContent()), 10000, "the reopen note");
  await page.locator(`#alerts-table tbody tr[data-id="${id}"]`).waitFor({ timeout: 10000 });
  await page.close();
});

test("an alert's detail silences its kind and subject: marked silenced, listed, and undone", async () => {
  const page = await chrome.context.newPage();
  await page.goto(demo.admin + "/#alerts");
  await page.locator("#alerts-table").waitFor();
  const host = `192.0.2.${1 + (Date.now() % 250)}`;
  const r = await request(`http://${host}/beacon`, { proxy: demo.egress, headers: { host } });
  assert.equal(r.status, 403);
  const row = page.locator("#alerts-table tbody tr", { hasText: host }).first();
  await row.waitFor({ timeout: 20000 });
  const id = await row.getAttribute("data-id");
  const subject = JSON.parse((await request(`${demo.admin}/api/alerts?limit=500`)).body).alerts.find((a) => String(a.id) === id).subject;
  await row.locator("button.linkish").click();
  const detail = page.locator("#alert-detail");
  await detail.waitFor({ state: "visible" });
  await page.getByLabel("Scope").selectOption("subject");
  await page.getByLabel("For", { exact: true }).selectOption("4h");
  await page.getByLabel("Reason").fill("known scanner <b>test</b>");
  await detail.getByRole("button", { name: "Silence", exact: true }).click();
  const note = page.locator("#alert-action-status");
  await eventually(async () => /Silenced egress blocked .* until/.test(await note.textContent()), 10000, "the silence note");
  const active = async () => JSON.parse((await request(`${demo.admin}/api/silences`)).body).silences.filter((s) => s.active && s.subject === subject);
  const [s] = await active();
  assert.equal(s.kind, "egress_blocked");
  assert.equal(s.reason, "known scanner <b>test</b>");
  // The open alert it matches is marked, in the table and in the API.
  await eventually(async () => (await page.locator(`#alerts-table tbody tr[data-id="${id}"] .badge.silenced`).count()) === 1, 15000, "the silenced badge");
  const a = JSON.parse((await request(`${demo.admin}/api/alerts?limit=500`)).body).alerts.find((x) => String(x.id) === id);
  assert.equal(a.silenced_by, s.id);
  // Listed with its reason as text, never as markup.
  const listed = page.locator(`#silences .silence[data-id="${s.id}"]`);
  await listed.waitFor({ timeout: 10000 });
  assert.match(await listed.textContent(), /known scanner <b>test<\/b>/);
  assert.equal(await listed.locator("b").count(), 0);
  await note.getByRole("button", { name: /Undo/ }).click();
  await eventually(async () => /Silence ended/.test(await note.textContent()), 10000, "the end note");
  assert.equal((await active()).length, 0);
  await eventually(async () => (await page.locator(`#silences .silence[data-id="${s.id}"]`).count()) === 0, 10000, "the silence to leave the list");
  await page.close();
});
