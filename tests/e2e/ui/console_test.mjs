#!/usr/bin/env node
// Browser test of the operator console (GET /ui) against a running reference
// server, in a real headless browser driven by puppeteer-core (which downloads
// no browser): Chromium over the DevTools protocol ($CHROMIUM or
// /usr/bin/chromium), or Firefox over WebDriver BiDi ($FIREFOX or
// /usr/bin/firefox-esr). The same checks run in either; only the launch
// differs.
//
//   node console_test.mjs [--browser chromium|firefox] BASE_URL ADMIN_TOKEN [SQLITE_DB]
//
// The server: write-behind mode (the default) on SQLite, started with
// --admin-token ADMIN_TOKEN. SQLITE_DB (or $STORESYNC_DB) is its durable
// SQLite file (default <data-dir>/storesync.db): the test makes a dead letter
// by adding a trigger there that refuses one key, and removes it again
// before "Retry all". $API_TOKEN is sent on the writes when the server has
// --api-token. Everything else the test needs it creates itself through the
// API. Screenshots go to $TEST_UNDECLARED_OUTPUTS_DIR when set, named
// console-<browser>-<moment>.png.
//
// Checks: (1) no console errors, page errors (uncaught exceptions and
// unhandled rejections, also caught in the page itself), failed loads or CSP
// violations (a securitypolicyviolation listener installed before any page
// script); (2) the
// numbers shown match /v1/status; (3) a hostile key shows as text, and no
// script or <img> comes of it (also with the CSP header taken off /ui, which
// is checked to have taken effect); (4) the token prompt,
// a refused token, flush with the token, the token in no storage; (5) Retry
// all re-drives the dead letter; (6) a 360 px window does not overflow;
// (7) the CSP header of /ui; (8) the unreachable banner appears and goes;
// (9) the throughput charts draw rates. Prints "N passed, M failed"; exit
// status 1 on any failure, 2 on bad usage.
//
// Firefox reports over BiDi what the page logs (console.*), uncaught
// exceptions and CSP violations, but not a failed load: Chromium's "status of
// 401" console errors have no Firefox counterpart. So loads are watched on the
// network in both browsers: the 401 that makes the page ask for the token is
// seen there, and any other error status or failed request is an error.

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import process from 'node:process';

import { BROWSERS, launch } from './browsers.mjs';

const USAGE = 'usage: node console_test.mjs [--browser chromium|firefox] BASE_URL ADMIN_TOKEN [SQLITE_DB]';
const argv = process.argv.slice(2);
let browserName = 'chromium';
for (let i = argv.indexOf('--browser'); i >= 0; i = argv.indexOf('--browser')) {
  browserName = argv[i + 1];
  argv.splice(i, 2);
}
const [baseArg, adminToken = '', dbArg] = argv;
if (!BROWSERS[browserName] || !baseArg || !/^https?:\/\//.test(baseArg)) {
  console.error(USAGE);
  process.exit(2);
}
const base = baseArg.replace(/\/+$/, '');
const db = dbArg || process.env.STORESYNC_DB || '';
const apiToken = process.env.API_TOKEN || '';
const timeoutMs = Number(process.env.UI_TEST_TIMEOUT_MS || 30000);
const shots = process.env.TEST_UNDECLARED_OUTPUTS_DIR || '';

// A key that is markup: it must only ever show as text. The trigger below
// refuses keys holding "onerror", which makes this one a dead letter.
const XSS_KEY = '<img src=x onerror="window.__xss=1">';
const ADMIN_PATHS = ['/v1/flush', '/v1/dead-letters', '/v1/inconsistencies', '/v1/reconcile', '/v1/write-back/runs'];
const EXPECTED_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// --- Reporting -------------------------------------------------------------------

let passed = 0;
let failed = 0;

class Failure extends Error {}
function expect(ok, message) {
  if (!ok) throw new Failure(message);
}

async function check(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`PASS ${name} (${Date.now() - t0} ms)`);
    return true;
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e instanceof Failure ? e.message : (e && e.stack) || e}`);
    return false;
  }
}

// --- The API -------------------------------------------------------------------------

async function api(method, route, opts = {}) {
  const headers = {};
  if (opts.admin && adminToken) headers.Authorization = `Bearer ${adminToken}`;
  if (opts.api && apiToken) headers.Authorization = `Bearer ${apiToken}`;
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(base + route, { method, headers, body: opts.body });
  const text = await res.text();
  let body = null;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, body };
}

async function status() {
  const r = await api('GET', '/v1/status');
  if (r.status !== 200 || !r.body) throw new Failure(`GET /v1/status answered ${r.status}: ${r.text.slice(0, 200)}`);
  return r.body;
}

async function put(key, value) {
  const r = await api('PUT', '/v1/records/' + encodeURIComponent(key), { api: true, body: JSON.stringify(value) });
  if (r.status !== 200) throw new Failure(`PUT ${JSON.stringify(key)} answered ${r.status}: ${r.text.slice(0, 200)}`);
  return r.body;
}

async function flushAll() {
  for (let i = 0; i < 10; i++) {
    const r = await api('POST', '/v1/flush?timeout_ms=20000', { admin: true });
    if (r.status === 200 && r.body && r.body.complete) return;
    if (r.status === 401) throw new Failure(`POST /v1/flush refused ADMIN_TOKEN: ${r.text}`);
  }
  throw new Failure('POST /v1/flush never reported complete');
}

/// Polls `fn` until it returns a truthy value (returned), or fails naming `what`.
async function waitFor(what, fn, ms = timeoutMs) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e && e.message;
    }
    if (Date.now() > end) throw new Failure(`${what}: not within ${ms} ms${last !== undefined && last !== false ? ` (last: ${JSON.stringify(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// --- The SQLite file (python3's sqlite3: node 20 has no SQLite) -------------------

function sqlite(sql) {
  execFileSync('python3', ['-c', `import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=60)
c.executescript(sys.argv[2])
c.commit()
c.close()`, db, sql], { stdio: ['ignore', 'inherit', 'inherit'] });
}

const refuseKeys = `
CREATE TRIGGER IF NOT EXISTS storesync_ui_test_refuse_insert BEFORE INSERT ON storesync_entries
  WHEN instr(NEW.key, 'onerror') > 0 BEGIN SELECT RAISE(ABORT, 'refused by the console test'); END;
CREATE TRIGGER IF NOT EXISTS storesync_ui_test_refuse_update BEFORE UPDATE ON storesync_entries
  WHEN instr(NEW.key, 'onerror') > 0 BEGIN SELECT RAISE(ABORT, 'refused by the console test'); END;`;
const acceptKeys = `
DROP TRIGGER IF EXISTS storesync_ui_test_refuse_insert;
DROP TRIGGER IF EXISTS storesync_ui_test_refuse_update;`;

// --- The page ---------------------------------------------------------------------

const isAdminPath = (url) => ADMIN_PATHS.some((p) => url.includes(p));

/// Errors the page reports: console errors and uncaught exceptions (from the
/// browser), failed loads (from the network, but for the 401s of admin reads
/// before the token, kept apart, and the /v1/status requests check 8 aborts
/// while `seen.statusAborted` is set).
function watch(page) {
  const seen = { errors: [], expected401: [], statusAborted: false };
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const url = (msg.location() && msg.location().url) || '';
    // The 401 of an admin read before the token is given is how the page
    // learns that it needs one; Chromium logs it as a failed load (Firefox
    // does not report such loads over BiDi).
    if (/status of 401/.test(msg.text()) && isAdminPath(url)) return;
    seen.errors.push(`console: ${msg.text()}${url ? ` (${url})` : ''}`);
  });
  page.on('pageerror', (e) => seen.errors.push(`pageerror: ${e.message}`));
  page.on('response', (res) => {
    if (res.status() === 401 && isAdminPath(res.url())) seen.expected401.push(res.url());
    else if (res.status() >= 400) seen.errors.push(`load: ${res.status()} for ${res.request().method()} ${res.url()}`);
  });
  page.on('requestfailed', (req) => {
    if (seen.statusAborted && new URL(req.url()).pathname === '/v1/status') return;
    seen.errors.push(`load failed: ${req.method()} ${req.url()}: ${(req.failure() && req.failure().errorText) || '?'}`);
  });
  return seen;
}

/// Errors and CSP violations the page itself saw (listeners installed before
/// any page script), the same way in every browser.
const pageFacts = (page) => page.evaluate(() => ({ csp: window.__cspViolations, errors: window.__pageErrors }));

async function expectClean(page, seen, label = '') {
  const f = await pageFacts(page);
  const found = [
    ...f.csp.map((v) => `CSP violation: ${v}`),
    ...f.errors.map((e) => `in the page: ${e}`),
    ...seen.errors,
  ];
  expect(found.length === 0, label + found.join('; '));
}

async function newPage(context) {
  const page = await context.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  await page.evaluateOnNewDocument(() => {
    window.__cspViolations = [];
    window.__pageErrors = [];
    window.addEventListener('error', (e) => {
      if (e instanceof ErrorEvent) window.__pageErrors.push(`${e.message} at ${e.filename}:${e.lineno}`);
    });
    window.addEventListener('unhandledrejection', (e) => {
      window.__pageErrors.push(`unhandled rejection: ${e.reason && e.reason.message ? e.reason.message : e.reason}`);
    });
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber}`);
    }, true);
    window.__imgsCreated = 0;
    new MutationObserver((records) => {
      for (const r of records) {
        for (const n of r.addedNodes) {
          if (n.nodeType === 1 && (n.tagName === 'IMG' || n.querySelector('img'))) window.__imgsCreated++;
        }
      }
    }).observe(document, { childList: true, subtree: true });
  });
  return page;
}

/// Intercepts the page's requests: `decide(request)` answers "abort", a
/// response for respond(), or nothing to let the request go on.
async function intercept(page, decide) {
  await page.setRequestInterception(true);
  const handler = async (req) => {
    if (req.isInterceptResolutionHandled()) return;
    try {
      const d = await decide(req);
      if (d === 'abort') await req.abort('connectionrefused');
      else if (d) await req.respond(d);
      else await req.continue();
    } catch (e) {
      console.log(`note: intercepting ${req.url()}: ${e.message}`);
    }
  };
  page.on('request', handler);
  return async () => {
    page.off('request', handler);
    await page.setRequestInterception(false);
  };
}

// --- Elements (by selector; visible: a non-empty box without
// visibility:hidden) -------------------------------------------------------------------

const tid = (id) => `[data-testid="${id}"]`;

const isVisible = (page, sel) => page.evaluate((s) => {
  const el = document.querySelector(s);
  if (!el) return false;
  const r = el.getBoundingClientRect();
  return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden';
}, sel);
const textOf = (page, sel) => page.evaluate((s) => { const el = document.querySelector(s); return el ? el.textContent : null; }, sel);
const textsOf = (page, sel) => page.evaluate((s) => [...document.querySelectorAll(s)].map((e) => e.textContent), sel);
const countOf = (page, sel) => page.evaluate((s) => document.querySelectorAll(s).length, sel);
const waitVisible = (page, sel) => page.waitForSelector(sel, { visible: true, timeout: timeoutMs });
const waitHidden = (page, sel) => page.waitForSelector(sel, { hidden: true, timeout: timeoutMs });
const waitAttached = (page, sel) => page.waitForSelector(sel, { timeout: timeoutMs });

const polls = (page) => page.evaluate(() => Number(document.body.getAttribute('data-polls') || 0));

/// Waits until the page has finished `n` more polls.
async function nextPolls(page, n = 2) {
  const start = await polls(page);
  await waitFor(`${n} more polls of the page`, async () => (await polls(page)) >= start + n);
}

async function shot(page, name) {
  if (!shots) return;
  await page.screenshot({ path: path.join(shots, `console-${browserName}-${name}.png`), fullPage: true })
    .catch((e) => console.log(`note: screenshot ${name}: ${e.message}`));
}

/// The value a data-testid element shows: its data-value when set, a
/// meter's bound (its max), else its text.
function shown(page, testid) {
  return page.evaluate((id) => {
    const el = document.querySelector(`[data-testid="${id}"]`);
    if (!el) return null;
    if (el.hasAttribute('data-value')) return el.getAttribute('data-value');
    return el.tagName === 'METER' ? String(el.max) : el.textContent;
  }, testid);
}

const digits = (text) => (text === null || text === undefined ? null : String(text).replace(/[^0-9]/g, ''));

/// Gives the token prompt `token`.
async function enterToken(page, token) {
  const input = await waitVisible(page, tid('token-input'));
  await input.evaluate((el) => { el.value = ''; });
  await input.type(token);
  await input.press('Enter');
  await input.dispose();
}

async function xssChecks(page, label) {
  const facts = () => page.evaluate(() => ({
    xss: typeof window.__xss,
    imgs: document.querySelectorAll('img').length,
    created: window.__imgsCreated,
    keys: [...document.querySelectorAll('[data-testid="dead-letter-key"]')].map((e) => ({ text: e.textContent, children: e.children.length })),
  }));
  let f = null;
  await waitFor(`${label}: a dead-letter row whose key reads ${XSS_KEY}`, async () => {
    f = await facts();
    return f.keys.some((k) => k.text === XSS_KEY);
  }).catch((e) => { throw new Failure(`${e.message}; the page: ${JSON.stringify(f)}`); });
  const cell = f.keys.find((k) => k.text === XSS_KEY);
  expect(cell.children === 0, `${label}: the key cell holds elements, not text: ${JSON.stringify(f.keys)}`);
  expect(f.xss === 'undefined', `${label}: window.__xss is ${f.xss}: the key ran as markup`);
  expect(f.imgs === 0, `${label}: ${f.imgs} <img> element(s) in the page`);
  expect(f.created === 0, `${label}: ${f.created} <img> element(s) were created`);
}

// --- The run -------------------------------------------------------------------------

const runStart = Date.now();
let browser = null;
let triggerAdded = false;
try {
  const initial = await status();
  console.log(`server ${base}: mode ${initial.mode}; SQLite file ${db || '(none given)'}`);

  // 7. The CSP header (plain HTTP, no browser).
  await check('7. /ui and its files carry the Content-Security-Policy', async () => {
    for (const file of ['/ui', '/ui/console.js', '/ui/console.css', '/ui/uplot.js', '/ui/uplot.css']) {
      const r = await api('GET', file);
      expect(r.status === 200, `GET ${file} answered ${r.status}`);
      const csp = r.headers.get('content-security-policy');
      expect(csp, `GET ${file} has no Content-Security-Policy header`);
      expect(csp.includes("script-src 'self'"), `GET ${file}: CSP without script-src 'self': ${csp}`);
      expect(!csp.includes('unsafe-inline') && !csp.includes('unsafe-eval'), `GET ${file}: CSP allows unsafe-*: ${csp}`);
      expect(csp === EXPECTED_CSP, `GET ${file}: CSP is not the agreed one: ${csp}`);
    }
    const page = await api('GET', '/ui');
    expect((page.headers.get('content-type') || '').startsWith('text/html'), `/ui is ${page.headers.get('content-type')}`);
    expect(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(page.text), '/ui has an inline <script>');
    expect(!/<style/i.test(page.text) && !/\sstyle=/i.test(page.text), '/ui has inline style');
    expect(!/\son[a-z]+=/i.test(page.text), '/ui has an inline event handler');
  });

  // The server state: some records, one dead letter with a hostile key.
  for (let i = 0; i < 20; i++) await put(`console-test-${i}`, { n: i, note: 'written by console_test.mjs' });
  let deadLetter = false;
  const deadLetterWhy = initial.mode !== 'write-behind'
    ? `the server is in ${initial.mode} mode; dead letters need write-behind`
    : !db ? 'no SQLITE_DB argument (nor $STORESYNC_DB): cannot make a dead letter' : '';
  if (!deadLetterWhy) {
    sqlite(refuseKeys);
    triggerAdded = true;
    await put(XSS_KEY, { hostile: '<script>window.__xss=2</script>' });
    await waitFor('the hostile key dead-lettered (status dead_letters >= 1)', async () => (await status()).dead_letters >= 1);
    deadLetter = true;
  } else {
    console.log(`note: ${deadLetterWhy}`);
  }
  if (adminToken) await flushAll();

  const t0 = Date.now();
  browser = await launch(browserName);
  console.log(`browser: ${browserName} ${await browser.version()} (${BROWSERS[browserName].executable}), started in ${Date.now() - t0} ms`);
  const context = await browser.createBrowserContext();
  const page = await newPage(context);
  const seen = watch(page);

  // 1. Loads clean.
  await check('1. the page loads with no console errors, page errors or CSP violations', async () => {
    const res = await page.goto(base + '/ui', { waitUntil: 'load' });
    expect(res && res.status() === 200, `GET /ui answered ${res && res.status()}`);
    await waitFor('two polls of the page', async () => (await polls(page)) >= 2);
    await expectClean(page, seen);
    expect(await page.evaluate(() => typeof window.uPlot === 'function'), 'uPlot did not load');
    expect((await shown(page, 'mode')) === initial.mode, `mode shows ${await shown(page, 'mode')}`);
    await shot(page, 'loaded');
  });

  // 4. The token prompt, a refused token, flush with the token.
  await check('4. the token prompt appears, a wrong token is refused, flush works with the token, no storage holds it', async () => {
    if (!adminToken) {
      await nextPolls(page);
      expect(!(await isVisible(page, tid('token-input'))), 'a token prompt with no admin token configured');
    } else {
      await waitVisible(page, tid('token-input'))
        .catch(() => { throw new Failure('no token prompt, though the server has an admin token'); });
      expect(seen.expected401.length > 0, 'the prompt appeared without a 401');
      await enterToken(page, 'wrong-' + adminToken);
      await waitFor('the prompt back after a wrong token', async () =>
        /refused/.test(await textOf(page, tid('token-why'))) && (await isVisible(page, tid('token-input'))));
      await enterToken(page, adminToken);
      await waitHidden(page, tid('token-form'));
      expect((await page.$eval(tid('token-input'), (el) => el.value)) === '', 'the token stays in the input');
    }
    await page.click(tid('flush'));
    const result = await waitAttached(page, '[data-testid="flush-result"][data-complete]');
    const [text, complete] = await result.evaluate((el) => [el.textContent, el.getAttribute('data-complete')]);
    expect(complete === 'true' && /Flush complete/.test(text), `flush result: ${text}`);
    const stored = await page.evaluate(() => JSON.stringify({
      local: Object.entries(localStorage), session: Object.entries(sessionStorage), cookie: document.cookie,
    }));
    // And the context's cookies (web storage is read in the page above).
    const state = JSON.stringify(await context.cookies());
    if (adminToken) {
      expect(!stored.includes(adminToken), `the token is in web storage or cookies: ${stored}`);
      expect(!state.includes(adminToken), 'the token is in the context\'s cookies');
      expect(!(await page.content()).includes(adminToken), 'the token is in the DOM');
    }
  });

  // 3. The hostile key as text.
  await check('3. a key that is markup shows as literal text; no script runs, no <img> is made', async () => {
    expect(deadLetter, deadLetterWhy);
    await xssChecks(page, 'with CSP');
    const err = await textsOf(page, tid('dead-letter-error'));
    // The message quotes the key (escaping its quotes): its markup shows as text too.
    expect(err.some((t) => t.includes('<img src=x onerror=') && t.includes('refused by the console test')), `error cell: ${JSON.stringify(err)}`);
    // Again without CSP, so only the page's own rendering stands between
    // the key and the DOM. Page.setBypassCSP is Chromium's alone (not in
    // WebDriver BiDi), so in both browsers the /ui document is answered with
    // the server's own response minus its Content-Security-Policy header
    // (which is what governs the page; its scripts' headers do not).
    const bare = await browser.createBrowserContext();
    try {
      const p = await newPage(bare);
      const s = watch(p);
      let stripped = 0;
      await intercept(p, async (req) => {
        if (req.url() !== base + '/ui') return null;
        const r = await fetch(base + '/ui');
        const headers = {};
        const drop = ['content-security-policy', 'content-length', 'transfer-encoding', 'connection', 'keep-alive'];
        r.headers.forEach((v, k) => { if (!drop.includes(k)) headers[k] = v; });
        stripped++;
        return { status: r.status, headers, body: await r.text() };
      });
      await p.goto(base + '/ui');
      expect(stripped === 1, `the /ui document was answered without its CSP ${stripped} times`);
      // The bypass took: an inline script runs (the CSP would block it).
      expect(await p.evaluate(() => {
        const el = document.createElement('script');
        el.textContent = 'window.__inlineRan = 1';
        document.head.appendChild(el);
        el.remove();
        return window.__inlineRan === 1;
      }), 'without CSP: an inline script still did not run, so the CSP is still in force');
      if (adminToken) await enterToken(p, adminToken);
      await xssChecks(p, 'with CSP bypassed');
      await nextPolls(p, 1);
      expect(await p.evaluate(() => typeof window.__xss) === 'undefined', 'without CSP: window.__xss set');
      await expectClean(p, s, 'without CSP: ');
    } finally {
      await bare.close();
    }
    await shot(page, 'dead-letter');
  });

  // 2. The numbers match /v1/status (writes have stopped: they settle).
  await check('2. mode, pending against its bounds, batch size, journal bytes, dead letters, retries and counters match /v1/status', async () => {
    const fields = [
      ['mode', 'mode', (s) => String(s.mode), (v) => v],
      ['pending', 'pending', (s) => String(s.pending), digits],
      ['pending-bytes', 'pending_bytes', (s) => String(s.pending_bytes), digits],
      ['batch-size', 'batch_size', (s) => String(s.batch_size), digits],
      ['journal-bytes', 'journal_bytes', (s) => String(s.journal_bytes), digits],
      ['dead-letters-count', 'dead_letters', (s) => String(s.dead_letters), digits],
      ['acknowledged', 'acknowledged', (s) => String(s.acknowledged), digits],
      ['flushed', 'flushed', (s) => String(s.flushed), digits],
      ['lag', 'lag_ms', (s) => String(s.lag_ms), digits],
      ['pending-bound', 'max_pending', (s) => String(s.max_pending), digits],
      ['pending-bytes-bound', 'max_pending_bytes', (s) => String(s.max_pending_bytes), digits],
      ['retries', 'retry', (s) => String(s.retry.retries_total), digits],
      ['retry-budget', 'retry', (s) => String(s.retry.failing_attempts), digits],
      ['outages', 'retry', (s) => String(s.retry.outages_total), digits],
    ].filter(([, key]) => key in initial);
    expect(fields.length === 14 || initial.mode !== 'write-behind', `write-behind status lacks fields the page shows: ${JSON.stringify(Object.keys(initial))}`);
    let mismatch = 'never stable';
    await waitFor('the page showing the same numbers as /v1/status', async () => {
      const before = await status();
      await nextPolls(page, 2);
      const values = {};
      for (const [id] of fields) values[id] = await shown(page, id);
      const after = await status();
      const stable = fields.every(([, , want]) => want(before) === want(after));
      if (!stable) { mismatch = 'the status changed meanwhile'; return false; }
      const wrong = fields.filter(([id, , want, norm]) => norm(values[id]) !== want(after));
      mismatch = wrong.map(([id, key, want]) => `${id} shows ${JSON.stringify(values[id])}, ${key} is ${want(after)}`).join('; ');
      return wrong.length === 0;
    }).catch((e) => { throw new Failure(`${e.message}: ${mismatch}`); });
  });

  // 6. A narrow window.
  await check('6. at 360x740 nothing overflows horizontally and the key panels are visible', async () => {
    await page.setViewport({ width: 360, height: 740 });
    await nextPolls(page, 2);
    const m = await page.evaluate(() => {
      const ids = ['mode', 'pending', 'lag', 'batch-size', 'journal-bytes', 'flush', 'charts', 'stores', 'section-dead-letters', 'dead-letters-count'];
      const boxes = {};
      for (const id of ids) {
        const el = document.querySelector(`[data-testid="${id}"]`);
        if (!el) { boxes[id] = null; continue; }
        const r = el.getBoundingClientRect();
        const st = getComputedStyle(el);
        boxes[id] = { left: r.left, right: r.right, width: r.width, height: r.height, visible: st.visibility !== 'hidden' && st.display !== 'none' };
      }
      const canvases = [...document.querySelectorAll('.plot canvas')].map((c) => c.getBoundingClientRect().right);
      return { scrollWidth: document.scrollingElement.scrollWidth, innerWidth: window.innerWidth, boxes, canvases };
    });
    expect(m.innerWidth === 360, `the window is ${m.innerWidth} px wide, not 360`);
    expect(m.scrollWidth <= m.innerWidth + 1, `the page is ${m.scrollWidth} px wide in a ${m.innerWidth} px window`);
    for (const [id, b] of Object.entries(m.boxes)) {
      if (id === 'section-dead-letters' || id === 'dead-letters-count') { if (!deadLetter && !b) continue; }
      expect(b, `no [data-testid=${id}] at 360 px`);
      expect(b.visible && b.width > 0 && b.height > 0, `[data-testid=${id}] is not visible at 360 px`);
      expect(b.left >= -1 && b.right <= m.innerWidth + 1, `[data-testid=${id}] spans ${b.left}..${b.right} px of ${m.innerWidth}`);
    }
    for (const right of m.canvases) expect(right <= m.innerWidth + 1, `a chart reaches ${right} px of ${m.innerWidth}`);
    await shot(page, 'narrow');
    await page.setViewport({ width: 1280, height: 900 });
  });

  // 5. Retry all, once the store takes the key again.
  await check('5. "Retry all" re-drives the dead letter once the store takes it', async () => {
    expect(deadLetter, deadLetterWhy);
    sqlite(acceptKeys);
    triggerAdded = false;
    await page.click(tid('retry-all'));
    await waitFor('the retry result', async () => /Re-driven: [1-9]/.test(await textOf(page, tid('retry-result'))));
    await waitFor('the dead-letter row gone and the count 0', async () =>
      (await countOf(page, tid('dead-letter-row'))) === 0 &&
      digits(await shown(page, 'dead-letters-count')) === '0');
    const s = await status();
    expect(s.dead_letters === 0, `status dead_letters is ${s.dead_letters}`);
    const got = await api('GET', '/v1/records/' + encodeURIComponent(XSS_KEY), { api: true });
    expect(got.status === 200, `the re-driven key reads ${got.status}`);
  });

  // 9. Rates and charts from counters.
  await check('9. puts/s and rows flushed/s are drawn from the counters', async () => {
    const canvases = await countOf(page, '.plot canvas');
    expect(canvases >= 2, `${canvases} chart canvases`);
    // Idle first (no write for a poll), so what follows is these writes.
    await waitFor('puts/s and rows flushed/s at 0 while idle', async () =>
      Number(await shown(page, 'puts-rate')) === 0 && Number(await shown(page, 'flushed-rate')) === 0);
    let seenPuts = 0, seenFlushed = 0;
    const writer = (async () => {
      for (let i = 0; i < 400 && !(seenPuts > 0 && seenFlushed > 0); i++) {
        await put(`console-rate-${i}`, { i });
        if (i % 20 === 19) await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await waitFor('a positive puts/s and rows flushed/s', async () => {
      seenPuts = Math.max(seenPuts, Number(await shown(page, 'puts-rate')) || 0);
      seenFlushed = Math.max(seenFlushed, Number(await shown(page, 'flushed-rate')) || 0);
      return seenPuts > 0 && seenFlushed > 0;
    });
    await writer;
    if (adminToken) await flushAll();
  });

  await check('1b. no console errors, page errors or CSP violations during the session', async () => {
    await expectClean(page, seen);
  });

  // 8. Unreachable, then back (the page's own requests to /v1/status fail).
  await check('8. a failing poll shows the error banner, which goes when the server answers again', async () => {
    const banner = tid('error-banner');
    expect(!(await isVisible(page, banner)), 'the banner shows while the server answers');
    seen.statusAborted = true;
    const unroute = await intercept(page, (req) => (new URL(req.url()).pathname === '/v1/status' ? 'abort' : null));
    await waitVisible(page, banner);
    const text = await textOf(page, banner);
    expect(/unavailable/i.test(text), `banner: ${text}`);
    await shot(page, 'unreachable');
    await unroute();
    await waitHidden(page, banner);
    expect((await shown(page, 'mode')) === initial.mode, 'the mode is gone after recovery');
  });
} catch (e) {
  failed++;
  console.log(`FAIL (setup): ${e instanceof Failure ? e.message : (e && e.stack) || e}`);
} finally {
  if (triggerAdded) { try { sqlite(acceptKeys); } catch { /* reported above */ } }
  if (browser) await browser.close().catch(() => {});
}

console.log(`${passed} passed, ${failed} failed in ${browserName} (${((Date.now() - runStart) / 1000).toFixed(1)} s)`);
process.exit(failed > 0 ? 1 : 0);
