// scratch: not committed
import { startDemo, browser, eventually, request } from "./harness.mjs";
const demo = await startDemo();
const chrome = await browser();
try {
  const page = await chrome.context.newPage();
  const [w, h] = (process.env.VP || "1440x900").split("x").map(Number);
  await page.setViewportSize({ width: w, height: h });
  await page.waitForTimeout(Number(process.env.WAIT || 20000));
  for (const view of (process.env.VIEWS || "graph").split(",")) {
    await page.goto(demo.admin + "/#" + view);
    await page.waitForTimeout(2500);
    await page.screenshot({ path: `/tmp/dash/${view}-${w}.png`, fullPage: false });
  }
  if (process.env.EVAL) console.log(JSON.stringify(await page.evaluate(process.env.EVAL), null, 1));
} finally { await chrome.close(); await demo.stop(); }
