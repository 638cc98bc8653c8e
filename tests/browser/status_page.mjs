// Loads the status page in Debian's headless chromium with JavaScript off, reads back what
// a person sees, and compares a screenshot of the layout with the committed reference.
//
// Run by tests/browser/test_status_page.py, which asserts on the JSON this prints:
//   node status_page.mjs <json options>
// options: url, tools (the npm install with playwright-core, pixelmatch and pngjs),
// chromium, reference (PNG), out (folder for the actual and diff images), update (write the
// reference instead of comparing), viewport {width, height}.
import { createRequire } from "node:module";
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const options = JSON.parse(process.argv[2]);
const require = createRequire(join(options.tools, "package.json"));
const { chromium } = require("playwright-core");
const { PNG } = require("pngjs");
const { default: pixelmatch } = await import(pathToFileURL(require.resolve("pixelmatch")).href);

// The flags this machine kind documents: no sandbox as root, and no background traffic to a
// network that is closed here.
const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--font-render-hinting=none", "--force-color-profile=srgb",
];

const browser = await chromium.launch({
  executablePath: options.chromium, args: ARGS, headless: true, timeout: 60000,
});
const result = { requests: [], console: [] };
try {
  const context = await browser.newContext({
    javaScriptEnabled: false,
    viewport: options.viewport,
    deviceScaleFactor: 1,
    locale: "en-US",
    timezoneId: "UTC",
    colorScheme: "light",
    reducedMotion: "reduce",
  });
  const page = await context.newPage();
  page.on("request", (r) => result.requests.push(r.url()));
  page.on("console", (m) => result.console.push(`${m.type()}: ${m.text()}`));
  const response = await page.goto(options.url, { waitUntil: "load" });
  result.status = response.status();
  result.headers = await response.allHeaders();
  result.html = await page.content();
  result.text = await page.locator("body").innerText();
  result.title = await page.title();
  result.headings = await page.locator("h1, h2").allInnerTexts();
  result.scripts = await page.locator("script").count();
  result.workspaces = await rows(page.locator("table.workspaces tbody tr"));
  result.workspaceHeader = await page.locator("table.workspaces thead th").allInnerTexts();
  result.pools = [];
  for (const row of await page.locator("table.pools tbody tr").all()) {
    const meter = row.locator("meter");
    result.pools.push({
      cells: await row.locator("th, td").allInnerTexts(),
      value: await meter.getAttribute("value"),
      max: await meter.getAttribute("max"),
      label: await meter.getAttribute("aria-label"),
      filled: filledShare(PNG.sync.read(await meter.screenshot())),
    });
  }
  const shot = await page.screenshot({ fullPage: true, animations: "disabled", caret: "hide" });
  result.screenshot = compare(shot);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(result));

async function rows(locator) {
  const out = [];
  for (const row of await locator.all()) out.push(await row.locator("th, td").allInnerTexts());
  return out;
}

// The share of the bar's width painted in a fill colour, read along its middle row: what the
// eye sees of the bar, not what the markup says.
function filledShare(png) {
  const y = Math.floor(png.height / 2);
  const inner = [];
  for (let x = 2; x < png.width - 2; x++) {
    const i = (y * png.width + x) * 4;
    inner.push([png.data[i], png.data[i + 1], png.data[i + 2]]);
  }
  const isTrack = ([r, g, b]) => Math.abs(r - 0xea) + Math.abs(g - 0xee) + Math.abs(b - 0xf2) < 24;
  const filled = inner.filter((px) => !isTrack(px)).length;
  return filled / inner.length;
}

function compare(shot) {
  mkdirSync(options.out, { recursive: true });
  const actualPath = join(options.out, "status-page.png");
  writeFileSync(actualPath, shot);
  if (options.update) {
    writeFileSync(options.reference, shot);
    return { updated: true, actual: actualPath };
  }
  if (!existsSync(options.reference)) return { missing: true, actual: actualPath };
  const actual = PNG.sync.read(shot);
  const expected = PNG.sync.read(readFileSync(options.reference));
  const base = { actual: actualPath, pixels: expected.width * expected.height };
  if (actual.width !== expected.width || actual.height !== expected.height) {
    return {
      ...base,
      sizeDiffers: true,
      size: [actual.width, actual.height],
      expectedSize: [expected.width, expected.height],
    };
  }
  const diff = new PNG({ width: actual.width, height: actual.height });
  const mismatched = pixelmatch(
    expected.data, actual.data, diff.data, actual.width, actual.height, { threshold: 0.1 },
  );
  const diffPath = join(options.out, "status-page.diff.png");
  if (mismatched > 0) writeFileSync(diffPath, PNG.sync.write(diff));
  return { ...base, mismatched, diff: mismatched > 0 ? diffPath : null };
}
