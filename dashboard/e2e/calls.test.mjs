// The calls list holds still when asked: pause, older pages, and no reshuffle under the pointer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useDemo, eventually, request } from "./harness.mjs";

const { demo, chrome } = useDemo({
  ready: async () => {
    await eventually(async () => JSON.parse((await request(demo.admin + "/api/calls?limit=200")).body).next != null, 30000, "more than one page of calls");
  },
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
  // Rows hold still under the pointer.
  const topRow = async () => page.locator("#calls-table tbody tr").first().getAttribute("data-id");
  await page.locator("#calls-table tbody tr").nth(3).hover();
  const under = await topRow();
  await page.waitForTimeout(11000);
  assert.equal(await topRow(), under, "no reshuffle under the pointer");
  await page.mouse.move(0, 0);
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

test("a call's trace lists every call sharing its trace id, and a time range pages the call log", async () => {
  const trace = [...Array(32)].map((_, i) => "0123456789abcdef"[(Date.now() + i * 7) % 16]).join("");
  for (let i = 0; i < 3; i++) {
    const r = await request(`${demo.inbound}/products/${i + 1}`, { headers: { host: "shop.demo.internal", traceparent: `00-${trace}-00f067aa0ba902b${i}-01` } });
    assert.equal(r.status, 200);
  }
  // The store writes its call log off the data path.
  await eventually(async () => JSON.parse((await request(`${demo.admin}/api/calls?trace=${trace}`)).body).calls.length >= 3, 20000, "the trace in the call log");
  const page = await chrome.context.newPage();
  await page.goto(demo.admin + "/#calls");
  await page.locator("#calls-table tbody tr").first().waitFor({ timeout: 15000 });
  await page.getByLabel("Trace id").fill(trace);
  await eventually(async () => (await page.locator("#calls-status").textContent()).startsWith(`trace ${trace}:`), 10000, "the trace's calls");
  const rows = page.locator("#calls-table tbody tr");
  const n = await rows.count();
  assert.ok(n >= 3, `${n} calls of the trace`);
  // From a call's record to its trace: the same list.
  await page.getByLabel("Trace id").fill("");
  await eventually(async () => !(await page.locator("#calls-status").textContent()).startsWith("trace"), 10000, "the recent calls again");
  await page.getByLabel("Trace id").fill(trace);
  await eventually(async () => (await page.locator("#calls-status").textContent()).startsWith(`trace ${trace}: ${n} calls`), 10000, "the trace again");
  await rows.first().click();
  await page.locator("#call-trace").click();
  await eventually(async () => (await page.locator("#calls-status").textContent()).startsWith(`trace ${trace}: ${n} calls`), 10000, "the trace from the record");
  // A time range reads the call log, with older pages.
  await page.getByLabel("Trace id").fill("");
  await page.getByLabel("Time range").selectOption("3600");
  await eventually(async () => /^last hour \(call log\): 200 calls/.test(await page.locator("#calls-status").textContent()), 15000, "a page of the last hour");
  await page.locator("#calls-older").click();
  await eventually(async () => (await rows.count()) > 200, 15000, "older calls of the last hour");
  await page.close();
});

test("the find filter matches text anywhere in a call's names and path, in any case", async () => {
  const page = await chrome.context.newPage();
  await page.goto(demo.admin + "/#calls");
  await page.locator("#calls-table tbody tr").first().waitFor({ timeout: 15000 });
  await page.getByLabel("Find in service, source, destination, host or path").fill("PRODUC");
  await eventually(async () => {
    const rows = await page.locator("#calls-table tbody tr").evaluateAll((trs) => trs.map((tr) => tr.textContent.toLowerCase()));
    return rows.length > 0 && rows.every((t) => t.includes("produc"));
  }, 10000, "only calls with 'produc' in them");
  // The same filter over the call log.
  await page.getByLabel("Time range").selectOption("900");
  await eventually(async () => /^last 15 minutes \(call log\): [1-9]/.test(await page.locator("#calls-status").textContent()), 15000, "the log's calls");
  const rows = await page.locator("#calls-table tbody tr").evaluateAll((trs) => trs.map((tr) => tr.textContent.toLowerCase()));
  assert.ok(rows.every((t) => t.includes("produc")), "log rows match too");
  await page.close();
});
