#!/usr/bin/env node
// A screenshot of the operator console of a running server, for the docs:
//
//   node capture.mjs [--browser chromium|firefox] BASE_URL ADMIN_TOKEN OUT.png [SECONDS]
//
// Opens BASE_URL/ui in a 1280 px window, gives the admin token when the
// page asks for it, lets the page poll for SECONDS (default 60, so the
// charts hold a minute of history) and saves the whole page to OUT.png.
// docs/operations.md ("The operator console") says how the one there was made.

import process from 'node:process';

import { BROWSERS, launch } from './browsers.mjs';

const argv = process.argv.slice(2);
let browserName = 'chromium';
const at = argv.indexOf('--browser');
if (at >= 0) browserName = argv.splice(at, 2)[1];
const [base, token, out, seconds = '60'] = argv;
if (!BROWSERS[browserName] || !/^https?:\/\//.test(base || '') || !out || !(Number(seconds) > 0)) {
  console.error('usage: node capture.mjs [--browser chromium|firefox] BASE_URL ADMIN_TOKEN OUT.png [SECONDS]');
  process.exit(2);
}

const browser = await launch(browserName);
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  await page.goto(base.replace(/\/+$/, '') + '/ui', { waitUntil: 'load' });
  if (token) {
    const input = await page.waitForSelector('[data-testid="token-input"]', { visible: true, timeout: 10000 });
    await input.type(token);
    await input.press('Enter');
  }
  await new Promise((resolve) => setTimeout(resolve, Number(seconds) * 1000));
  await page.screenshot({ path: out, fullPage: true });
  console.log(`saved ${out}`);
} finally {
  await browser.close();
}
