// Baselines read in the unit of the rate beside them: the demo learns over 500 ms steps, and
// the Endpoints view still shows expected calls per minute next to calls per minute, coloured
// only outside the band.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useDemo, eventually, request } from "./harness.mjs";

const { demo, chrome } = useDemo();

/** Endpoints with a learned baseline and steady traffic. */
async function learned() {
  const data = JSON.parse((await request(demo.admin + "/api/endpoints?window=1m")).body);
  return data.endpoints.filter((e) => e.baseline && !e.baseline.learning && e.rate * 60 >= 10);
}

test("baselines are per minute like the rate, and only rates outside the band are coloured", async () => {
  const eps = await eventually(async () => { const l = await learned(); return l.length >= 3 && l; }, 40000, "learned baselines");
  for (const e of eps) {
    assert.equal(e.baseline.step_seconds, 0.5);
    // Per minute on both sides: within the demo's swings (its flash crowd moves a rate more
    // than tenfold), never the 120 times a per-step baseline would be off.
    const ratio = e.baseline.rate_per_min / (e.rate * 60);
    assert.ok(ratio > 1 / 30 && ratio < 30, `${e.method} ${e.template}: expected ${e.baseline.rate_per_min}/min against ${e.rate * 60}/min`);
  }
  const page = await chrome.context.newPage();
  await page.goto(demo.admin + "/#endpoints");
  await page.locator("#endpoints-table tbody tr").first().waitFor({ timeout: 15000 });
  const cells = page.locator("#endpoints-table td.band");
  await eventually(async () => (await page.locator("#endpoints-table td.band-ok").count()) > 0, 20000, "a rate inside its band");
  const colours = await cells.evaluateAll((tds) => tds.map((td) => ({
    state: [...td.classList].find((c) => c.startsWith("band-")),
    colour: getComputedStyle(td).color,
    text: getComputedStyle(td.closest("tr")).color,
    title: td.title,
  })));
  for (const c of colours) {
    if (c.state === "band-ok") assert.equal(c.colour, c.text, "a rate inside its band is not coloured");
    if (c.state === "band-high" || c.state === "band-low") assert.notEqual(c.colour, c.text);
  }
  const ok = colours.find((c) => c.state === "band-ok");
  assert.match(ok.title, /per minute/);
  assert.match(ok.title, /0\.5 s steps/);
  await page.close();
});
