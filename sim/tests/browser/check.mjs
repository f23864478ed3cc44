// Opens `kafka-sim report` pages in headless Chromium and checks what only a browser can:
// the script ran to its end, nothing went wrong on the console, the page is drawn (not
// blank), the arrow keys move the time cursor, and a hostile scenario name shows as text and
// runs nothing. Prints one line per check and a `test result:` line in cargo's form, which
// .ci/run adds to its total; exits non-zero if any check failed.
//
//   node check.mjs --report run.html [--report ...] [--hostile page.html --name NAME]
//   node check.mjs --screenshot out.png --step N --report run.html   (for the README image)
import { chromium } from "playwright-core";
import { pathToFileURL } from "node:url";

function parseArgs(argv) {
  const args = { reports: [], chromium: process.env.CHROMIUM || "/usr/bin/chromium" };
  for (let i = 2; i < argv.length; i++) {
    const value = argv[i + 1];
    switch (argv[i]) {
      case "--report": args.reports.push(value); i++; break;
      case "--hostile": args.hostile = value; i++; break;
      case "--name": args.name = value; i++; break;
      case "--chromium": args.chromium = value; i++; break;
      case "--screenshot": args.screenshot = value; i++; break;
      case "--step": args.step = Number(value); i++; break;
      default: throw new Error("unknown argument " + argv[i]);
    }
  }
  return args;
}

let passed = 0;
let failed = 0;
function check(what, ok, detail) {
  if (ok) {
    passed++;
    console.log("browser check: ok: " + what);
  } else {
    failed++;
    console.log("browser check: FAILED: " + what + (detail ? ": " + detail : ""));
  }
}

// Opens a page, and records everything that must not happen on it.
async function open(browser, file, hash) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const trouble = { errors: [], dialogs: [], requests: [] };
  page.on("console", (m) => { if (m.type() === "error") trouble.errors.push(m.text()); });
  page.on("pageerror", (e) => trouble.errors.push(String(e)));
  page.on("dialog", (d) => { trouble.dialogs.push(d.type() + ": " + d.message()); d.dismiss().catch(() => {}); });
  page.on("request", (r) => { if (!r.url().startsWith("file:") && !r.url().startsWith("data:")) trouble.requests.push(r.url()); });
  await page.goto(pathToFileURL(file).href + (hash || ""));
  const drawn = await page
    .waitForFunction(() => document.documentElement.dataset.drawn === "yes", null, { timeout: 20000 })
    .then(() => true, () => false);
  return { page, trouble, drawn };
}

// How many distinct colours a screenshot has, decoded in the page through a canvas.
async function distinctColours(page) {
  const png = (await page.screenshot()).toString("base64");
  return page.evaluate(async (b64) => {
    const img = new Image();
    img.src = "data:image/png;base64," + b64;
    await img.decode();
    const canvas = document.createElement("canvas");
    canvas.width = img.width;
    canvas.height = img.height;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    const px = ctx.getImageData(0, 0, img.width, img.height).data;
    const seen = new Set();
    for (let i = 0; i < px.length; i += 4 * 7) seen.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2]);
    return seen.size;
  }, png);
}

const cursorState = (page) =>
  page.evaluate(() => ({
    slider: Number(document.getElementById("slider").value),
    line: (document.querySelector("ol.timeline li.current") || {}).textContent || "",
    cursorX: (document.querySelector("line.cursor") || { getAttribute: () => "" }).getAttribute("x1"),
    describe: (document.querySelector(".describe table") || {}).textContent || "",
  }));

function noTrouble(name, trouble) {
  check(name + ": no console error or page error", trouble.errors.length === 0, trouble.errors.join(" | "));
  check(name + ": no dialog (alert, confirm, prompt)", trouble.dialogs.length === 0, trouble.dialogs.join(" | "));
  check(name + ": nothing loaded from outside the file", trouble.requests.length === 0, trouble.requests.join(" "));
}

async function checkReport(browser, file) {
  const name = file.split("/").pop();
  const { page, trouble, drawn } = await open(browser, file);
  check(name + ": the script drew everything (data-drawn)", drawn);
  const shape = await page.evaluate(() => ({
    panels: document.querySelectorAll(".panel svg").length,
    paths: document.querySelectorAll(".panel svg path.leo").length,
    lines: document.querySelectorAll("ol.timeline li").length,
    rows: document.querySelectorAll(".describe table tr").length,
  }));
  check(name + ": panels, LEO lines, timeline and describe table are there", shape.panels > 0 && shape.paths > 0 && shape.lines > 1 && shape.rows > 1, JSON.stringify(shape));
  const colours = await distinctColours(page);
  check(name + ": the screenshot is not blank (" + colours + " colours)", colours >= 24);
  const before = await cursorState(page);
  await page.keyboard.press("ArrowRight");
  await page.keyboard.press("ArrowRight");
  const after = await cursorState(page);
  check(name + ": ArrowRight moves the cursor two lines", after.slider === before.slider + 2 && after.line !== before.line, JSON.stringify({ before: before.slider, after: after.slider }));
  await page.keyboard.press("ArrowLeft");
  const back = await cursorState(page);
  check(name + ": ArrowLeft moves it back one", back.slider === after.slider - 1);
  // Jump to the middle, and the describe table and cursor line follow.
  await page.evaluate(() => {
    const s = document.getElementById("slider");
    s.value = String(Math.floor(Number(s.max) / 2));
    s.dispatchEvent(new Event("input"));
  });
  const middle = await cursorState(page);
  check(name + ": the slider moves the cursor line and the table", middle.cursorX !== back.cursorX && middle.describe.includes("Isr"), JSON.stringify({ x: [back.cursorX, middle.cursorX] }));
  // A broken invariant's link moves the cursor to its moment.
  const link = page.locator("ul.violations a").first();
  if ((await link.count()) > 0) {
    const text = await link.textContent();
    await link.click();
    const now = await page.evaluate(() => document.getElementById("now").textContent);
    const at = /^t=(\S+)/.exec(text)[1];
    check(name + ": a violation's link moves the cursor to " + at, now.endsWith("t=" + at), now);
  }
  noTrouble(name, trouble);
  await page.close();
}

async function checkHostile(browser, file, expected) {
  const { page, trouble, drawn } = await open(browser, file);
  check("hostile name: the script drew everything", drawn);
  const shown = await page.evaluate(() => ({
    title: document.title,
    name: (document.querySelector(".scenario-name") || {}).textContent,
    scripts: document.scripts.length,
  }));
  check("hostile name: shown as text in the run's heading", shown.name === expected, JSON.stringify(shown.name));
  check("hostile name: document.title begins with it", shown.title.startsWith(expected), JSON.stringify(shown.title));
  check("hostile name: the page has its two script elements only", shown.scripts === 2, String(shown.scripts));
  noTrouble("hostile name", trouble);
  await page.close();
}

async function screenshot(browser, file, out, step) {
  const { page, drawn } = await open(browser, file, "#step=" + step);
  if (!drawn) throw new Error(file + " did not draw");
  await page.setViewportSize({ width: 1400, height: 820 });
  await page.screenshot({ path: out });
  console.log("browser check: wrote " + out + " at step " + step);
}

async function main() {
  const args = parseArgs(process.argv);
  const browser = await chromium.launch({ executablePath: args.chromium, headless: true, args: ["--no-sandbox"] });
  try {
    if (args.screenshot) {
      await screenshot(browser, args.reports[0], args.screenshot, args.step || 0);
      return;
    }
    for (const file of args.reports) await checkReport(browser, file);
    if (args.hostile) await checkHostile(browser, args.hostile, args.name);
  } finally {
    await browser.close();
  }
  const verdict = failed === 0 ? "ok" : "FAILED";
  console.log(`test result: ${verdict}. ${passed} passed; ${failed} failed; 0 ignored (the HTML report in headless Chromium)`);
  if (failed > 0 || passed === 0) process.exit(1);
}

main().catch((e) => {
  console.log("browser check: FAILED: " + (e && e.stack ? e.stack : e));
  console.log("test result: FAILED. " + passed + " passed; " + (failed + 1) + " failed; 0 ignored (the HTML report in headless Chromium)");
  process.exit(1);
});
