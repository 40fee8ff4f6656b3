// Test harness: starts a real Sightline (the demo with its scripted traffic, or a config with
// real loopback upstreams), and a fresh headless Chromium driven by playwright-core.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, existsSync, rmSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import http from "node:http";
import { before, after } from "node:test";
import { chromium } from "playwright-core";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The sightline binary: $SIGHTLINE_BIN, else the debug build, else the release build. */
export function binary() {
  if (process.env.SIGHTLINE_BIN) return process.env.SIGHTLINE_BIN;
  const target = process.env.CARGO_TARGET_DIR || join(ROOT, "target");
  for (const p of [join(target, "debug", "sightline"), join(target, "release", "sightline")]) {
    if (existsSync(p)) return p;
  }
  throw new Error("no sightline binary: build it first (cargo build)");
}

/** Waits for `check()` to return a truthy value, polling until `ms` pass. */
export async function eventually(check, ms = 20000, what = "condition") {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? ": " + last.message : ""}`);
}

/** Starts `sightline ...args`; resolves once it printed its admin and inbound addresses. */
function start(args) {
  // A temp dir of its own: the demo keeps its store there, so runs never share a graph.
  const tmp = mkdtempSync(join(tmpdir(), "sightline-run-"));
  return new Promise((resolve, reject) => {
    const child = spawn(binary(), args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, TMPDIR: tmp } });
    child.once("exit", () => rmSync(tmp, { recursive: true, force: true }));
    let out = "";
    let err = "";
    const timer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error("sightline did not start: " + err)); }, 30000);
    child.stdout.on("data", (d) => {
      out += d;
      const admin = /admin: (http:\/\/\S+)/.exec(out);
      const inbound = /inbound: (http:\/\/\S+)/.exec(out);
      const egress = /egress: (http:\/\/\S+)/.exec(out);
      if (admin && inbound && (!args.includes("demo") || egress)) {
        clearTimeout(timer);
        resolve({
          admin: admin[1], inbound: inbound[1], egress: egress && egress[1], child,
          stop: () => new Promise((r) => { if (child.exitCode !== null) return r(); child.once("exit", r); child.kill("SIGTERM"); }),
        });
      }
    });
    child.stderr.on("data", (d) => { err = (err + d).slice(-4000); });
    child.once("exit", (code) => { clearTimeout(timer); reject(new Error(`sightline exited ${code}: ${err}`)); });
  });
}

/** `sightline demo` on ports chosen by the system, with its traffic generator. */
export function startDemo({ admin = "127.0.0.1:0" } = {}) {
  return start(["demo", "--admin", admin, "--inbound", "127.0.0.1:0", "--egress", "127.0.0.1:0", "--rate", "20"]);
}

/**
 * The demo and a browser for this file's tests: started before the first test (then `ready`,
 * given both, is awaited: what the file's tests need of the demo), stopped after the last. The
 * two objects are filled in once started (`demo.admin`, `chrome.context`…), so a file holds
 * them from its top. One hook does it all, so `ready` always runs once both are up.
 */
export function useDemo({ ready } = {}) {
  const demo = {};
  const chrome = {};
  before(async () => {
    Object.assign(demo, await startDemo());
    Object.assign(chrome, await browser());
    if (ready) await ready(demo, chrome);
  });
  after(async () => {
    await chrome.close?.();
    await demo.stop?.();
  });
  return { demo, chrome };
}

/** A loopback port free right now (for a proxy that must come back on the same address). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => { const { port } = server.address(); server.close(() => resolve(port)); });
  });
}

/** Runs axe-core in `page` (evaluated through the debugger protocol, so the page's CSP does not
 * stand in the way); resolves to the violations of impact "serious" or "critical". */
export async function axeSerious(page) {
  const source = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
  await page.evaluate(source);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + ": " + n.failureSummary) }));
}

/** A loopback upstream answering 200 with a small JSON body. */
export function startUpstream() {
  return new Promise((resolve) => {
    const server = http.createServer((req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: true, path: req.url }));
    });
    server.listen(0, "127.0.0.1", () => resolve({ url: `127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) }));
  });
}

/** Sightline from a config with an admin token, in front of `upstream`. */
export function startWithToken(token, upstream) {
  const dir = mkdtempSync(join(tmpdir(), "sightline-e2e-"));
  const file = join(dir, "sightline.yaml");
  writeFileSync(file, `version: 1
admin: { listen: "127.0.0.1:0", token: "${token}" }
inbound:
  listen: "127.0.0.1:0"
  routes: [ { path_prefix: /, service: shop } ]
services:
  shop: { upstreams: ["${upstream}"] }
recording: { access_log: false }
`);
  return start(["run", "--config", file]).then((s) => ({ ...s, stop: async () => { await s.stop(); rmSync(dir, { recursive: true, force: true }); } }));
}

/** A fresh headless Chromium (Debian's) with its own profile directory. */
export async function browser() {
  const profile = mkdtempSync(join(tmpdir(), "sightline-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1600, height: 900 },
  });
  return { context, close: async () => { await context.close(); rmSync(profile, { recursive: true, force: true }); } };
}

/** One HTTP request from node (to loopback only); resolves to {status, body}. */
export function request(url, { method = "GET", headers = {}, body, proxy } = {}) {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const opts = proxy
      ? { host: new URL(proxy).hostname, port: new URL(proxy).port, path: url, method, headers: { ...headers, host: target.host } }
      : { host: target.hostname, port: target.port, path: target.pathname + target.search, method, headers };
    const req = http.request(opts, (res) => {
      let data = "";
      res.on("data", (d) => { data += d; });
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.setTimeout(5000, () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    if (body) req.write(body);
    req.end();
  });
}

/** Where screenshots go. */
export const SCREENSHOTS = join(ROOT, "docs", "screenshots");
