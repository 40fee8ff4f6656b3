// Takes the README's screenshots: the demo's views, and a 100-node, 300-edge graph made by real
// traffic (60 services behind the inbound listener, each calling partner APIs through the
// egress proxy from its own loopback address, some of them to hosts the enclave refuses).
//
//   node dashboard/e2e/screenshots.mjs
import { mkdirSync, mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import http from "node:http";
import { startDemo, startUpstream, browser, eventually, request, binary, SCREENSHOTS } from "./harness.mjs";
import { spawn } from "node:child_process";

mkdirSync(SCREENSHOTS, { recursive: true });
const shot = (page, name) => page.screenshot({ path: join(SCREENSHOTS, name + ".png") });

async function demoViews(chrome) {
  const demo = await startDemo();
  try {
    // The showcase: the shop's tiers, a blocked call, both abusers banned, the flash crowd seen.
    await eventually(async () => {
      const g = JSON.parse((await request(demo.admin + "/api/graph?window=5m")).body);
      const found = JSON.parse((await request(demo.admin + "/api/anomalies")).body).anomalies;
      const bans = JSON.parse((await request(demo.admin + "/api/bans")).body).bans;
      return g.edges.some((e) => e.total.blocked > 0) && g.nodes.length >= 12 && bans.length >= 2
        && found.some((f) => f.kind === "rate_spike");
    }, 45000, "the demo graph");
    const page = await chrome.context.newPage();
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.goto(demo.admin + "/");
    await page.locator('svg#graph .edge.blocked[data-to="external:169.254.169.254"]').waitFor({ state: "attached" });
    await shot(page, "graph");
    await page.locator('svg#graph .edge.blocked[data-to="external:169.254.169.254"]').dispatchEvent("click");
    await eventually(async () => (await page.locator("#details").textContent()).includes("/latest/meta-data/iam"), 10000, "details");
    await page.locator("#details svg.chart").waitFor();
    await shot(page, "graph-edge-details");
    await page.locator('svg#graph .node[data-id="service:orders"]').click();
    await eventually(async () => (await page.locator("#details").textContent()).includes("POST"), 10000, "node details");
    await page.waitForTimeout(300);
    await shot(page, "graph-node-details");
    for (const view of ["alerts", "endpoints", "clients", "policy"]) {
      await page.goto(demo.admin + "/#" + view);
      await page.waitForTimeout(1500);
      if (view === "alerts") {
        // The most severe alert's detail, with its evidence and the silence form.
        await page.locator("#alerts-table tbody tr button.linkish").first().click();
        await page.locator("#alert-detail").waitFor({ state: "visible" });
      }
      await shot(page, view);
    }
    await page.goto(demo.admin + "/#calls");
    await page.locator("#calls-table tbody tr.row-blocked").first().click();
    await page.locator("#call-record dl").waitFor();
    await shot(page, "calls");
    // A phone: the tabs are a menu, the details a sheet.
    await page.setViewportSize({ width: 390, height: 844 });
    for (const view of ["graph", "alerts", "calls"]) {
      await page.goto(demo.admin + "/#" + view);
      await page.waitForTimeout(1500);
      await shot(page, "mobile-" + view);
    }
    await page.close();
  } finally {
    await demo.stop();
  }
}

async function bigGraph(chrome) {
  const upstream = await startUpstream();
  const port = upstream.url.split(":")[1];
  const services = 60, partners = 32, refused = 8;
  const dir = mkdtempSync(join(tmpdir(), "sightline-shots-"));
  const file = join(dir, "sightline.yaml");
  const name = (i) => "svc-" + ["orders", "billing", "search", "catalog", "users", "cart", "ledger", "auth", "notify", "media"][i % 10] + "-" + String(Math.floor(i / 10)).padStart(2, "0");
  const partner = (i) => `api-${String(i).padStart(2, "0")}.partner.example`;
  const exfil = (i) => `drop-${String(i).padStart(2, "0")}.exfil.example`;
  let yaml = `version: 1
admin: { listen: "127.0.0.1:0" }
inbound:
  listen: "127.0.0.1:0"
  routes:
${Array.from({ length: services }, (_, i) => `    - { path_prefix: /${name(i)}, service: ${name(i)} }`).join("\n")}
services:
${Array.from({ length: services }, (_, i) => `  ${name(i)}: { upstreams: ["${upstream.url}"] }`).join("\n")}
recording: { access_log: false }
egress:
  listen: "127.0.0.1:0"
  sources:
${Array.from({ length: services }, (_, i) => `    - { cidr: 127.0.1.${i + 1}/32, service: ${name(i)} }`).join("\n")}
dns:
  hosts:
${Array.from({ length: partners }, (_, i) => `    ${partner(i)}: [127.0.0.1]`).join("\n")}
${Array.from({ length: refused }, (_, i) => `    ${exfil(i)}: [127.0.0.9]`).join("\n")}
enclave:
  mode: enforce
  rules:
    - { hosts: ["*.partner.example"], cidrs: [127.0.0.1/32], ports: [${port}] }
`;
  writeFileSync(file, yaml);
  const child = spawn(binary(), ["run", "--config", file], { stdio: ["ignore", "pipe", "ignore"] });
  let out = "";
  child.stdout.on("data", (d) => { out += d; });
  const addrs = await eventually(() => {
    const a = /admin: (http:\/\/\S+)/.exec(out), i = /inbound: (http:\/\/\S+)/.exec(out), e = /egress: (http:\/\/\S+)/.exec(out);
    return a && i && e && { admin: a[1], inbound: i[1], egress: e[1] };
  }, 20000, "sightline");
  try {
    // Deterministic pseudo-random pairs: 240 egress edges, 60 inbound ones.
    let seed = 11;
    const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return Math.floor((seed / 2147483648) * n); };
    const pairs = new Set();
    for (let tries = 0; pairs.size < 240 && tries < 100000; tries++) {
      const s = rnd(services);
      const bad = rnd(20) === 0;
      pairs.add(s + "|" + (bad ? exfil(rnd(refused)) : partner(rnd(partners))));
    }
    for (let i = 0; i < services; i++) await request(`${addrs.inbound}/${name(i)}/items/${i}`);
    for (const p of pairs) {
      const [s, host] = p.split("|");
      await new Promise((resolve) => {
        const proxy = new URL(addrs.egress);
        const req = http.request({ host: proxy.hostname, port: proxy.port, localAddress: `127.0.1.${Number(s) + 1}`,
          path: `http://${host}:${port}/v1/sync`, headers: { host: `${host}:${port}` } }, (res) => { res.resume(); res.on("end", resolve); });
        req.on("error", resolve);
        req.end();
      });
    }
    await eventually(async () => JSON.parse((await request(addrs.admin + "/api/graph")).body).edges.length >= 290, 20000, "the big graph");
    const g = JSON.parse((await request(addrs.admin + "/api/graph")).body);
    console.log(`big graph: ${g.nodes.length} nodes, ${g.edges.length} edges, ${g.layout.crossings} crossings`);
    const page = await chrome.context.newPage();
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.goto(addrs.admin + "/");
    await page.locator("svg#graph .node").first().waitFor();
    await page.waitForTimeout(500);
    await shot(page, "graph-100-nodes");
    await page.locator(`svg#graph .node[data-id="service:${name(3)}"]`).click();
    await page.waitForTimeout(1000);
    await shot(page, "graph-100-nodes-selected");
    await page.close();
  } finally {
    child.kill("SIGTERM");
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const chrome = await browser();
try {
  await demoViews(chrome);
  await bigGraph(chrome);
} finally {
  await chrome.close();
}
