// Drives Debian's Chromium (headless) for the Python integration tests, one JSON command a line on
// stdin, one JSON answer a line on stdout, so that the test itself stays in Python beside the
// harness that starts gatehouse and its upstreams. playwright-core only drives the browser: it
// downloads nothing (CHROMIUM, default /usr/bin/chromium, is the browser).
//
// Commands: {op: "open", url, width, height} -> {status, headers}
//           {op: "eval", js} -> {value}                     (js: an expression)
//           {op: "wait", js, timeout} -> {ok, error?}        (polls the predicate in the page)
//           {op: "fill", selector, value} / {op: "click", selector} / {op: "press", selector, key}
//           {op: "screenshot", path, fullPage} / {op: "events"} / {op: "close"}
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
});
let context = null;
let page = null;
// What the page did that a test may want to see: console lines, uncaught errors, dialogs (an
// alert() would be one), CSP violations, and every response with whether its request carried an
// Authorization field.
let events = { console: [], errors: [], dialogs: [], violations: [], responses: [] };

async function open({ url, width = 1280, height = 900 }) {
  if (context) await context.close();
  events = { console: [], errors: [], dialogs: [], violations: [], responses: [] };
  context = await browser.newContext({ viewport: { width, height } });
  page = await context.newPage();
  page.on("console", (m) => events.console.push(m.type() + ": " + m.text()));
  page.on("pageerror", (e) => events.errors.push(String(e)));
  page.on("dialog", (d) => {
    events.dialogs.push(d.type() + ": " + d.message());
    d.dismiss().catch(() => {});
  });
  page.on("response", (r) => {
    const auth = r.request().headers()["authorization"];
    events.responses.push({ url: r.url(), status: r.status(), authorization: auth !== undefined });
  });
  await page.exposeFunction("__reportViolation", (v) => events.violations.push(v));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => window.__reportViolation(e.violatedDirective + " " + e.blockedURI));
  });
  const r = await page.goto(url, { waitUntil: "load" });
  return { status: r.status(), headers: r.headers() };
}

// Polls an expression every 50 ms until it is truthy or the deadline passes. Not
// page.waitForFunction: that compiles the expression inside the page, which the page's own
// Content-Security-Policy (no 'unsafe-eval') refuses; evaluate goes through the DevTools protocol.
async function waitFor(js, timeout) {
  const deadline = Date.now() + timeout;
  let last = null;
  for (;;) {
    try {
      if (await page.evaluate(js)) return { ok: true };
      last = null;
    } catch (e) {
      last = String(e); // e.g. a navigation in between: try again
    }
    if (Date.now() >= deadline) return { ok: false, error: "not true within " + timeout + " ms: " + js + (last ? " (" + last + ")" : "") };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function run(cmd) {
  switch (cmd.op) {
    case "open":
      return open(cmd);
    case "eval":
      return { value: await page.evaluate(cmd.js) };
    case "wait":
      return waitFor(cmd.js, cmd.timeout || 20000);
    case "fill":
      await page.fill(cmd.selector, cmd.value);
      return {};
    case "click":
      await page.click(cmd.selector);
      return {};
    case "press":
      await page.press(cmd.selector, cmd.key);
      return {};
    case "screenshot":
      await page.screenshot({ path: cmd.path, fullPage: cmd.fullPage !== false });
      return {};
    case "events":
      return events;
    case "close":
      await browser.close();
      return {};
    default:
      throw new Error("unknown op " + cmd.op);
  }
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  let answer;
  try {
    answer = { ok: true, ...(await run(JSON.parse(line))) };
  } catch (e) {
    answer = { ok: false, error: String(e && e.stack ? e.stack : e) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
  if (JSON.parse(line).op === "close") break;
}
await browser.close().catch(() => {});
