// The browsers the console is driven in, by puppeteer-core (which downloads
// no browser): Chromium over the DevTools protocol ($CHROMIUM or
// /usr/bin/chromium), Firefox over WebDriver BiDi ($FIREFOX or
// /usr/bin/firefox-esr). Shared by console_test.mjs and capture.mjs.

import { createRequire } from 'node:module';
import process from 'node:process';

// Resolved the CommonJS way, so NODE_PATH works too (ESM imports ignore it).
const require = createRequire(import.meta.url);
const puppeteer = require('puppeteer-core');

export const BROWSERS = {
  chromium: { executable: process.env.CHROMIUM || '/usr/bin/chromium' },
  firefox: { executable: process.env.FIREFOX || '/usr/bin/firefox-esr' },
};

/// Launches `name` ("chromium" or "firefox") headless, with no default viewport.
export async function launch(name) {
  const { executable } = BROWSERS[name];
  if (name === 'firefox') {
    return puppeteer.launch({
      browser: 'firefox',
      executablePath: executable,
      headless: true,
      defaultViewport: null,
      extraPrefsFirefox: {
        // No calls home on a closed network.
        'network.captive-portal-service.enabled': false,
        'network.connectivity-service.enabled': false,
        'browser.safebrowsing.update.enabled': false,
      },
    });
  }
  return puppeteer.launch({
    browser: 'chrome',
    executablePath: executable,
    headless: true,
    defaultViewport: null,
    args: [
      // Chromium's sandbox cannot run as root (containers, CI).
      ...(process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : []),
      '--disable-gpu', '--disable-quic', '--disable-component-update', '--no-first-run',
    ],
  });
}
