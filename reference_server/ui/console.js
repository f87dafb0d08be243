// storesync operator console: polls the reference server and shows its state.
//
// Served at /ui under a strict Content-Security-Policy (no inline script or
// style, same-origin only), so everything here builds DOM nodes and sets
// text: server data (keys, error messages) only ever goes into textContent.
// Styles are in console.css; the only styling from here is CSSOM (uPlot).
//
// The core (header, stores, throughput charts, flush) works in every mode.
// What a mode adds comes from its /v1/status JSON: `sections` below maps a
// status field to a card, and a card is shown while the status has its
// field. A new mode, or a new status field, adds an entry there.
'use strict';

(function () {
  const POLL_MS = 1000;
  const HISTORY_S = 300;
  const FETCH_TIMEOUT_MS = 5000;
  const ACTION_TIMEOUT_MS = 20000;
  const FLUSH_TIMEOUT_MS = 10000;
  const LIST_LIMIT = 50;

  // --- DOM -------------------------------------------------------------------

  const byId = (id) => document.getElementById(id);

  /// An element: `props` sets text (`text`), class, data-*/aria-*/role/colspan
  /// attributes, `on<event>` listeners and other properties; children are
  /// nodes or strings (added as text nodes).
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'text') el.textContent = String(v);
        else if (k === 'class') el.className = v;
        else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role' || k === 'colspan') el.setAttribute(k, String(v));
        else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
        else el[k] = v;
      }
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : String(c));
    }
    return el;
  }

  function setText(el, text) {
    const t = text === null || text === undefined ? '' : String(text);
    if (el.textContent !== t) el.textContent = t;
  }

  /// A label/value row in `grid`; returns a setter for its value.
  function field(grid, label, testid, help) {
    const value = h('span', { class: 'value', 'data-testid': testid });
    const hint = h('span', { class: 'hint' });
    grid.append(h('div', { class: 'label', title: help || '' }, label), h('div', { class: 'cell' }, value, hint));
    return function set(text, opts) {
      const o = opts || {};
      setText(value, text);
      setText(hint, o.hint || '');
      if (o.raw !== undefined) value.setAttribute('data-value', String(o.raw));
      else value.removeAttribute('data-value');
      value.className = 'value' + (o.cls ? ' ' + o.cls : '');
      return value;
    };
  }

  function fieldGrid() {
    return h('div', { class: 'fields' });
  }

  /// A table in a horizontally scrolling wrapper; `columns` are headings.
  function table(columns, testid) {
    const body = h('tbody');
    const wrap = h('div', { class: 'table-wrap' },
      h('table', { 'data-testid': testid || null }, h('thead', null, h('tr', null, columns.map((c) => h('th', { text: c })))), body));
    return { wrap, body };
  }

  // --- Formatting ------------------------------------------------------------

  const nf = new Intl.NumberFormat();
  const nf1 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
  const nf2 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

  const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

  /// A count; big integers that came as strings (parseJsonExact) as they are.
  function count(v) {
    if (v === null || v === undefined) return '–';
    if (typeof v === 'string') return v;
    return isNum(v) ? nf.format(v) : String(v);
  }

  function bytesHint(n) {
    if (!isNum(n) || n < 1024) return '';
    const units = ['KiB', 'MiB', 'GiB', 'TiB'];
    let v = n, i = -1;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return '(' + nf1.format(v) + ' ' + units[i] + ')';
  }

  function duration(ms) {
    if (!isNum(ms)) return '–';
    if (ms < 1000) return nf.format(Math.round(ms)) + ' ms';
    if (ms < 60000) return nf1.format(ms / 1000) + ' s';
    const s = Math.floor(ms / 1000);
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
    return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
  }

  function latency(ms) {
    if (!isNum(ms)) return '–';
    return ms < 10 ? nf2.format(ms) + ' ms' : nf.format(Math.round(ms)) + ' ms';
  }

  const pad = (n, w) => String(n).padStart(w || 2, '0');

  /// Local wall-clock time of epoch milliseconds.
  function clock(ms) {
    if (!isNum(ms)) return '–';
    const d = new Date(ms);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }

  function timeCell(ms) {
    const cell = h('td', { class: 'nowrap', text: clock(ms) });
    if (isNum(ms)) cell.title = new Date(ms).toISOString();
    return cell;
  }

  function rate(v) {
    if (!isNum(v)) return '–';
    return (v < 10 ? nf1.format(v) : nf.format(Math.round(v))) + '/s';
  }

  const yesNo = (v) => (v === true ? 'yes' : v === false ? 'no' : '–');

  // --- HTTP ------------------------------------------------------------------

  /// JSON.parse, but integers too large for a double's exact range (versions
  /// are up to 2^62) come back as strings holding their digits.
  function parseJsonExact(text) {
    let out = '';
    let last = 0;
    const n = text.length;
    let i = 0;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 34) { // a string: skip it, escapes included
        i++;
        while (i < n) {
          const d = text.charCodeAt(i);
          if (d === 92) i += 2;
          else { i++; if (d === 34) break; }
        }
      } else if (c === 45 || (c >= 48 && c <= 57)) {
        const start = i;
        i++;
        while (i < n) {
          const d = text.charCodeAt(i);
          if ((d >= 48 && d <= 57) || d === 46 || d === 101 || d === 69 || d === 43 || d === 45) i++;
          else break;
        }
        const token = text.slice(start, i);
        if (token.length > 15 && /^-?\d+$/.test(token) && !Number.isSafeInteger(Number(token))) {
          out += text.slice(last, start) + '"' + token + '"';
          last = i;
        }
      } else {
        i++;
      }
    }
    return JSON.parse(last === 0 ? text : out + text.slice(last));
  }

  /// One request: {ok, status, body (parsed JSON or null), text, error}.
  /// Never throws; a network failure or a timeout is status 0.
  async function request(method, path, opts) {
    const o = opts || {};
    const headers = { Accept: o.text ? 'text/plain' : 'application/json' };
    if (o.admin && auth.token) headers.Authorization = 'Bearer ' + auth.token;
    if (o.body !== undefined) headers['Content-Type'] = 'application/json';
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), o.timeout || FETCH_TIMEOUT_MS);
    try {
      const res = await fetch(path, {
        method, headers, body: o.body, signal: controller.signal,
        cache: 'no-store', credentials: 'omit', redirect: 'error',
      });
      const text = await res.text();
      let body = null;
      if (!o.text && text) {
        try { body = parseJsonExact(text); } catch (e) { body = null; }
      }
      return { ok: res.ok, status: res.status, body, text };
    } catch (e) {
      const error = e && e.name === 'AbortError' ? 'no answer within ' + ((o.timeout || FETCH_TIMEOUT_MS) / 1000) + ' s'
        : (e && e.message) || String(e);
      return { ok: false, status: 0, body: null, text: '', error };
    } finally {
      clearTimeout(timer);
    }
  }

  /// What went wrong with a response, as text for the page.
  function problem(r) {
    if (r.skipped) return 'needs the admin token';
    if (r.status === 0) return 'server unreachable: ' + r.error;
    const e = r.body && r.body.error;
    if (e && typeof e === 'object') return 'HTTP ' + r.status + ' ' + (e.code || '') + ': ' + (e.message || '');
    return 'HTTP ' + r.status + (r.text ? ': ' + r.text.slice(0, 200) : '');
  }

  // --- Admin token -------------------------------------------------------------
  //
  // Only in this variable: never in storage or cookies. A 401 from an admin
  // route shows the token form and holds admin calls until a token is given.

  const auth = { token: '', blocked: false, pending: null };

  async function admin(method, path, opts) {
    if (auth.blocked) return { ok: false, status: 401, skipped: true, body: null, text: '' };
    const r = await request(method, path, Object.assign({}, opts, { admin: true }));
    if (r.status === 401) askForToken(r);
    return r;
  }

  function askForToken(r) {
    const refused = auth.token !== '';
    auth.token = '';
    auth.blocked = true;
    byId('forget-token').hidden = true;
    const e = r && r.body && r.body.error;
    const detail = e && e.message ? ' (' + e.message + ')' : '';
    setText(byId('token-why'), refused
      ? 'The server refused that token' + detail + '. Enter the admin token again.'
      : 'This server has an admin token (--admin-token): flush, dead letters, inconsistencies and jobs need it' + detail + '.');
    const form = byId('token-form');
    const wasHidden = form.hidden;
    form.hidden = false;
    if (wasHidden) byId('token-input').focus();
  }

  /// Runs `action` now, or once a token is given when one is needed.
  function withAdmin(action, waiting) {
    if (auth.blocked) {
      auth.pending = action;
      waiting('Enter the admin token above; this runs once it is given.');
      byId('token-input').focus();
      return;
    }
    action();
  }

  function initTokenForm() {
    byId('token-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const input = byId('token-input');
      const token = input.value.trim();
      input.value = '';
      if (!token) return;
      auth.token = token;
      auth.blocked = false;
      byId('token-form').hidden = true;
      byId('forget-token').hidden = false;
      const pending = auth.pending;
      auth.pending = null;
      if (pending) pending();
      pollNow();
    });
    byId('forget-token').addEventListener('click', () => {
      auth.token = '';
      auth.blocked = false;
      byId('forget-token').hidden = true;
      pollNow();
    });
  }

  // --- Metrics (only fetched when a shown section asks) --------------------------

  /// Prometheus text as a map from `name{labels}` to its value.
  function parseMetrics(text) {
    const m = new Map();
    for (const line of text.split('\n')) {
      if (!line || line[0] === '#') continue;
      const sp = line.lastIndexOf(' ');
      if (sp <= 0) continue;
      m.set(line.slice(0, sp), Number(line.slice(sp + 1)));
    }
    return m;
  }

  /// Mean of histogram `name` (with `labels`, e.g. '{journal="main"}') over
  /// the last poll interval, in ms; null when no observation was added.
  function meanSincePrevious(ctx, name, labels) {
    const m = ctx.metrics, p = ctx.prevMetrics;
    if (!m || !p) return null;
    const l = labels || '';
    const sum = m.get(name + '_sum' + l), n = m.get(name + '_count' + l);
    const psum = p.get(name + '_sum' + l), pn = p.get(name + '_count' + l);
    if (![sum, n, psum, pn].every(isNum) || n <= pn || sum < psum) return null;
    return ((sum - psum) / (n - pn)) * 1000;
  }

  /// `value`, or when it is null the last non-null one given under `key`;
  /// `fresh` says which.
  const remembered = new Map();
  function sticky(key, value) {
    if (value !== null && value !== undefined) {
      remembered.set(key, value);
      return { value, fresh: true };
    }
    return { value: remembered.has(key) ? remembered.get(key) : null, fresh: false };
  }

  // --- Sections: what a mode adds, keyed by a field of its /v1/status ---------
  //
  // key: the status field whose presence shows the card; `when` may narrow
  // it; `metrics: true` makes the poll fetch /metrics while it is shown;
  // `wide` spans the grid. build(card) fills the card once and returns
  // update(ctx), called after every poll (it may be async, e.g. admin reads).

  const sections = {
    pending_bytes: { title: 'Backlog', build: buildBacklog },
    journal_bytes: { title: 'Journal', build: buildJournal, metrics: true },
    flushed: { title: 'Delivery', build: buildDelivery, metrics: true },
    written: { title: 'Direct writes', build: buildDirect },
    consistency: { title: 'Dual-write', build: buildDualWrite },
    dead_letters: {
      title: 'Dead letters', wide: true, build: buildDeadLetters,
      // every status has the count; the log exists where entries are flushed later
      when: (s) => 'flushed' in s || Number(s.dead_letters) > 0,
    },
    open_inconsistencies: { title: 'Open inconsistencies', wide: true, build: buildInconsistencies },
    reconcile: { title: 'Reconcile jobs', wide: true, build: buildReconcile },
    write_back: { title: 'Write-back runs', wide: true, build: buildWriteBack },
  };

  function buildBacklog(card) {
    const g = fieldGrid();
    card.append(g);
    const pending = field(g, 'Pending entries', 'pending', 'Acknowledged, not yet in the durable store');
    const pendingMeter = h('meter', { class: 'bound', 'data-testid': 'pending-bound', min: 0, max: 1, value: 0, hidden: true });
    const pendingBytes = field(g, 'Pending bytes', 'pending-bytes', 'Memory the pending entries hold');
    const bytesMeter = h('meter', { class: 'bound', 'data-testid': 'pending-bytes-bound', min: 0, max: 1, value: 0, hidden: true });
    const inFlight = field(g, 'In flight', 'in-flight', 'Entries in batches on their way to the durable store');
    const lag = field(g, 'Oldest pending (lag)', 'lag', 'Age of the oldest acknowledged entry not yet durable');
    const batch = field(g, 'Batch size (sizer)', 'batch-size', 'The batch size the flusher uses now');
    const accepting = field(g, 'Accepting writes', 'accepting');
    pending(null).parentElement.append(pendingMeter);
    pendingBytes(null).parentElement.append(bytesMeter);

    /// `v` pending, `owed` pending and in flight: what the bound holds.
    function bounded(set, meter, v, owed, bound, asBytes) {
      const hasBound = isNum(bound) && bound > 0;
      let hint = asBytes ? bytesHint(v) : '';
      if (hasBound) hint = (hint ? hint + ' ' : '') + (owed > v ? 'with in flight ' + count(owed) + ' ' : '') + 'of ' + count(bound) + (asBytes ? ' B' : '') + ' (' + nf1.format((100 * owed) / bound) + '%)';
      else hint = (hint ? hint + ' ' : '') + '· bound not reported';
      const cls = hasBound && owed >= bound ? 'bad' : hasBound && owed >= bound / 2 ? 'warn' : '';
      set(count(v), { raw: v, hint, cls });
      meter.hidden = !hasBound;
      if (hasBound) {
        meter.max = bound;
        meter.value = Math.min(owed, bound);
        meter.low = bound / 2;
        meter.high = bound * 0.9;
        meter.optimum = 0;
      }
    }

    return (ctx) => {
      const s = ctx.status;
      bounded(pending, pendingMeter, s.pending, s.pending + (s.in_flight || 0), s.max_pending, false);
      bounded(pendingBytes, bytesMeter, s.pending_bytes, s.pending_bytes + (s.in_flight_bytes || 0), s.max_pending_bytes, true);
      inFlight(count(s.in_flight), { raw: s.in_flight });
      lag(duration(s.lag_ms), { raw: s.lag_ms, cls: s.lag_ms >= 60000 ? 'bad' : s.lag_ms >= 5000 ? 'warn' : '' });
      batch(count(s.batch_size), { raw: s.batch_size, hint: 'entries' });
      accepting(yesNo(s.accepting), { cls: s.accepting === false ? 'bad' : '' });
    };
  }

  function buildJournal(card) {
    const g = fieldGrid();
    card.append(g);
    const size = field(g, 'Journal size', 'journal-bytes', 'The journal on disk');
    const checkpoint = field(g, 'Checkpoint', 'checkpoint', 'Journal records up to this lsn are in the durable store');
    const after = field(g, 'Records after it', 'journal-owed', 'Replayed at a restart');
    const segments = field(g, 'Segments', 'journal-segments');
    const fsync = field(g, 'fsync (avg)', 'journal-fsync');
    const dead = field(g, 'Dead-letter journal', 'dead-letter-journal-bytes');
    return (ctx) => {
      const s = ctx.status, m = ctx.metrics;
      size(count(s.journal_bytes), { raw: s.journal_bytes, hint: 'bytes ' + bytesHint(s.journal_bytes) });
      const get = (name, journal) => (m ? m.get(name + '{journal="' + journal + '"}') : undefined);
      const cp = get('storesync_journal_checkpoint_lsn', 'main');
      const last = get('storesync_journal_last_lsn', 'main');
      checkpoint(isNum(cp) ? 'lsn ' + count(cp) : '–', { raw: isNum(cp) ? cp : undefined, hint: isNum(last) ? 'last lsn ' + count(last) : '' });
      after(isNum(cp) && isNum(last) ? count(Math.max(0, last - cp)) : '–');
      segments(count(get('storesync_journal_segments', 'main')));
      const fs = sticky('fsync-main', meanSincePrevious(ctx, 'storesync_journal_fsync_seconds', '{journal="main"}'));
      fsync(latency(fs.value), { hint: fs.value === null ? '' : fs.fresh ? '' : '(idle)' });
      const d = get('storesync_journal_size_bytes', 'dead_letters');
      dead(isNum(d) ? count(d) : '–', { hint: isNum(d) ? 'bytes ' + bytesHint(d) : '' });
    };
  }

  function buildDelivery(card) {
    const g = fieldGrid();
    card.append(g);
    const acked = field(g, 'Acknowledged', 'acknowledged', 'Writes acknowledged since start');
    const flushed = field(g, 'Flushed', 'flushed', 'Entries delivered to the durable store since start');
    const coalesced = field(g, 'Coalesced', 'coalesced', 'Writes merged into a pending write of the same key');
    const stale = field(g, 'Stale at flush', 'stale-at-flush', 'The durable store held a newer version');
    const retries = field(g, 'Retries', 'retries', 'Write attempts to the durable store repeated after a retryable failure, since start');
    const budget = field(g, 'Retry budget', 'retry-budget', 'Failed attempts of the batch being written now, against --retry-max-attempts; at the limit the batch is put back and tried after a pause');
    const outages = field(g, 'Retries exhausted', 'outages', 'Batches put back because the durable store stayed unreachable through all their attempts, since start');
    const ack = field(g, 'Acknowledge (avg)', 'ack-latency', 'Time to acknowledge a write, over the last poll');
    const fast = field(g, 'Fast store', 'fast-bytes', 'The store acknowledgements come from; a memory one keeps at most --fast-max-bytes of values already durable');
    const floor = field(g, 'Version floor known', 'floor-known', 'False after a start during an outage, until the durable store answers');
    const lastError = h('p', { class: 'last-error', 'data-testid': 'last-error', hidden: true });
    card.append(lastError);
    return (ctx) => {
      const s = ctx.status;
      acked(count(s.acknowledged), { raw: s.acknowledged });
      flushed(count(s.flushed), { raw: s.flushed });
      coalesced(count(s.coalesced), { raw: s.coalesced });
      stale(count(s.stale_at_flush), { raw: s.stale_at_flush });
      const r = s.retry || {};
      retries(count(r.retries_total), { raw: r.retries_total });
      if (isNum(r.failing_attempts) && isNum(r.max_attempts)) {
        const failing = r.failing_attempts;
        budget(failing > 0 ? count(failing) + ' of ' + count(r.max_attempts) + ' failed' : 'idle',
               { raw: failing, hint: failing > 0 ? 'retrying the batch now' : count(r.max_attempts) + ' attempts a batch', cls: failing > 0 ? 'warn' : '' });
      } else {
        budget('–');
      }
      outages(count(r.outages_total), { raw: r.outages_total, cls: r.outages_total > 0 ? 'warn' : '' });
      const a = sticky('ack', meanSincePrevious(ctx, 'storesync_write_behind_put_seconds'));
      ack(latency(a.value), { hint: a.value === null ? '' : a.fresh ? '' : '(idle)' });
      const fastName = s.fast !== undefined ? String(s.fast) : '';
      if (isNum(s.fast_bytes)) {
        fast(count(s.fast_bytes), { raw: s.fast_bytes, hint: 'bytes ' + bytesHint(s.fast_bytes) + (s.fast_evicted ? ' · ' + count(s.fast_evicted) + ' evicted' : '') + (fastName ? ' · ' + fastName : '') });
      } else {
        fast(fastName || '–');
      }
      floor(yesNo(s.version_floor_known), { cls: s.version_floor_known === false ? 'warn' : '' });
      if (s.last_error) {
        lastError.hidden = false;
        setText(lastError, 'Last error' + (isNum(s.last_error_at_ms) ? ' at ' + clock(s.last_error_at_ms) : '') + ': ' + s.last_error);
      } else {
        lastError.hidden = true;
        setText(lastError, '');
      }
    };
  }

  function buildDirect(card) {
    const g = fieldGrid();
    card.append(g);
    const written = field(g, 'Written', 'written', 'Entries written to the durable store since start');
    const failed = field(g, 'Failed writes', 'failed-writes', 'Write calls the durable store refused since start');
    const inFlight = field(g, 'In flight', 'in-flight');
    return (ctx) => {
      const s = ctx.status;
      written(count(s.written), { raw: s.written });
      failed(count(s.failed_writes), { raw: s.failed_writes, cls: s.failed_writes > 0 ? 'warn' : '' });
      inFlight(count(s.in_flight), { raw: s.in_flight });
    };
  }

  function buildDualWrite(card) {
    const g = fieldGrid();
    card.append(g);
    const stores = field(g, 'Primary → secondary', 'dual-write-stores');
    const consistency = field(g, 'Consistency', 'consistency');
    const writes = field(g, 'Write calls', 'writes', 'Batches the primary took since start');
    const partial = field(g, 'Partial failures', 'partial-failures', 'The primary took it, the secondary failed');
    const comp = field(g, 'Compensations', 'compensations', 'Entries undone on the primary (strict)');
    const recorded = field(g, 'Inconsistencies recorded', 'inconsistencies-recorded');
    const intents = field(g, 'Open intents', 'open-intents');
    const recovered = field(g, 'Recovered intents', 'recovered-intents', 'Open intents replayed at this start');
    return (ctx) => {
      const s = ctx.status;
      stores(String(s.primary) + ' → ' + String(s.secondary));
      consistency(String(s.consistency));
      writes(count(s.writes), { raw: s.writes });
      partial(count(s.partial_failures), { raw: s.partial_failures, cls: s.partial_failures > 0 ? 'warn' : '' });
      comp(count(s.compensations), { raw: s.compensations });
      recorded(count(s.inconsistencies_recorded), { raw: s.inconsistencies_recorded });
      intents(count(s.open_intents), { raw: s.open_intents });
      recovered(count(s.recovered_intents), { raw: s.recovered_intents });
    };
  }

  /// A list an admin route gives, refreshed while it may have changed: each
  /// poll while `count` is above zero or changed, and once at the start (which
  /// is also how the page learns that the server wants the admin token).
  function adminList() {
    return { fetched: false, count: null, token: null };
  }
  function listDue(state, n) {
    return !state.fetched || n !== state.count || (isNum(n) && n > 0) || state.token !== auth.token;
  }

  function buildDeadLetters(card) {
    const head = h('div', { class: 'row' });
    const total = h('strong', { 'data-testid': 'dead-letters-count', text: '–' });
    const retryAll = h('button', { type: 'button', 'data-testid': 'retry-all', text: 'Retry all' });
    const result = h('span', { class: 'result', 'data-testid': 'retry-result', 'aria-live': 'polite' });
    head.append(h('span', null, total, ' waiting'), retryAll, result);
    const note = h('p', { class: 'muted small', 'data-testid': 'dead-letters-note' });
    const t = table(['Key', 'Version', 'Error', 'Failed at'], 'dead-letters');
    card.append(head, note, t.wrap,
      h('p', { class: 'muted small', text: 'Retry all re-drives every dead letter through the write path (POST /v1/dead-letters/retry); the version guard drops any a newer write superseded. The API has no per-letter retry.' }));
    const state = adminList();
    let latest = null;

    retryAll.addEventListener('click', () => {
      const waiting = (msg) => setText(result, msg);
      withAdmin(async () => {
        retryAll.disabled = true;
        setText(result, 'Retrying…');
        const r = await admin('POST', '/v1/dead-letters/retry', { timeout: ACTION_TIMEOUT_MS });
        retryAll.disabled = false;
        if (r.ok && r.body) setText(result, 'Re-driven: ' + count(r.body.retried) + '.');
        else if (r.status === 401) { auth.pending = retryAll.click.bind(retryAll); setText(result, 'Enter the admin token above; the retry runs once it is given.'); }
        else setText(result, 'Retry failed: ' + problem(r));
        state.fetched = false;
        pollNow();
      }, waiting);
    });

    function render(letters) {
      t.body.replaceChildren(...letters.map((d) => h('tr', { 'data-testid': 'dead-letter-row' },
        h('td', { class: 'key', 'data-testid': 'dead-letter-key', text: String(d.key) }),
        h('td', { class: 'nowrap', text: String(d.version) + (d.deleted ? ' (delete)' : '') }),
        h('td', { class: 'message', 'data-testid': 'dead-letter-error', text: String(d.error) }),
        timeCell(d.failed_at_ms))));
      t.wrap.hidden = letters.length === 0;
    }

    return async (ctx) => {
      const n = ctx.status.dead_letters;
      setText(total, count(n));
      total.className = n > 0 ? 'bad' : '';
      retryAll.disabled = !(n > 0);
      if (auth.blocked) {
        state.fetched = false;
        render([]);
        setText(note, 'Enter the admin token to list them.');
        return;
      }
      if (listDue(state, n)) {
        const r = await admin('GET', '/v1/dead-letters?limit=' + LIST_LIMIT);
        if (r.ok && r.body && Array.isArray(r.body.dead_letters)) {
          state.fetched = true;
          state.count = n;
          state.token = auth.token;
          latest = r.body.dead_letters;
          render(latest);
          setText(note, latest.length < n ? 'The oldest ' + latest.length + ' of ' + count(n) + ' are listed.' : latest.length ? '' : 'None.');
        } else if (!r.skipped) {
          setText(note, 'Could not list them: ' + problem(r));
        }
      }
    };
  }

  function buildInconsistencies(card) {
    const head = h('p', null, h('strong', { 'data-testid': 'open-inconsistencies', text: '–' }), ' open (records in the inconsistency log)');
    const note = h('p', { class: 'muted small', 'data-testid': 'inconsistencies-note' });
    const t = table(['Key', 'Failing', 'Primary version', 'Secondary version', 'Error', 'At'], 'inconsistencies');
    card.append(head, note, t.wrap,
      h('p', { class: 'muted small', text: 'A reconcile repair (POST /v1/reconcile with operation "repair") settles them.' }));
    const state = adminList();
    return async (ctx) => {
      const n = ctx.status.open_inconsistencies;
      setText(head.firstChild, n === null ? 'unknown' : count(n));
      head.firstChild.className = n > 0 ? 'warn' : '';
      if (auth.blocked) {
        state.fetched = false;
        t.body.replaceChildren();
        setText(note, 'Enter the admin token to list them.');
        return;
      }
      if (!listDue(state, n)) return;
      const r = await admin('GET', '/v1/inconsistencies?limit=' + LIST_LIMIT);
      if (r.ok && r.body && Array.isArray(r.body.inconsistencies)) {
        state.fetched = true;
        state.count = n;
        state.token = auth.token;
        const items = r.body.inconsistencies;
        t.body.replaceChildren(...items.map((i) => h('tr', { 'data-testid': 'inconsistency-row' },
          h('td', { class: 'key', 'data-testid': 'inconsistency-key', text: String(i.key) }),
          h('td', { class: 'nowrap', text: String(i.failing) }),
          h('td', { class: 'nowrap', text: String(i.primary_version) }),
          h('td', { class: 'nowrap', text: i.secondary_version === null ? '–' : String(i.secondary_version) }),
          h('td', { class: 'message', text: String(i.error) }),
          timeCell(i.at_ms))));
        t.wrap.hidden = items.length === 0;
        setText(note, r.body.next_after !== null && r.body.next_after !== undefined ? 'The first ' + items.length + ' by key are listed.' : items.length ? '' : 'None.');
      } else if (!r.skipped) {
        setText(note, 'Could not list them: ' + problem(r));
      }
    };
  }

  function stateCell(state) {
    const cls = state === 'done' || state === 'succeeded' ? 'ok' : state === 'running' ? 'info' : state === 'cancelled' || state === 'partial' || state === 'interrupted' ? 'warn' : 'bad';
    return h('td', null, h('span', { class: 'pill ' + cls, text: String(state) }));
  }

  function schedule(summary) {
    const parts = [];
    parts.push(summary.interval_s > 0 ? 'Scheduled every ' + duration(summary.interval_s * 1000) + ' (' + count(summary.scheduled_runs) + ' started so far)' : 'No schedule');
    parts.push(summary.running !== null && summary.running !== undefined ? 'job ' + summary.running + ' running' : 'none running');
    return parts.join(' · ');
  }

  function buildReconcile(card) {
    const info = h('p', { 'data-testid': 'reconcile-schedule' });
    const note = h('p', { class: 'muted small' });
    const t = table(['Job', 'Operation', 'State', 'Started', 'Finished', 'Rows read', 'Differences', 'Repaired', 'Detail'], 'reconcile-jobs');
    card.append(info, note, t.wrap);
    return async (ctx) => {
      const summary = ctx.status.reconcile || {};
      setText(info, schedule(summary) + (summary.repair ? ' · scheduled jobs repair (the primary wins)' : ''));
      if (auth.blocked) {
        setText(note, 'Enter the admin token to see job progress.');
        return;
      }
      const r = await admin('GET', '/v1/reconcile');
      if (!r.ok || !r.body || !Array.isArray(r.body.jobs)) {
        if (!r.skipped) setText(note, 'Could not list the jobs: ' + problem(r));
        return;
      }
      const jobs = r.body.jobs;
      setText(note, jobs.length ? '' : 'No job since the server started.');
      t.body.replaceChildren(...jobs.map((j) => {
        const p = j.progress || {};
        const rep = j.report || {};
        let detail = '';
        if (j.error) detail = (j.error.code || '') + ': ' + (j.error.message || '');
        else if (j.report) detail = (rep.complete === false ? 'incomplete' : 'complete') + (rep.stopped && rep.stopped !== 'none' ? ', stopped: ' + rep.stopped : '') + (isNum(rep.difference_count) ? ', ' + count(rep.difference_count) + ' differences' : '') + (j.request && j.request.dry_run ? ' (dry run)' : '');
        else if (j.state === 'running') detail = count(p.ranges) + ' ranges, ' + count(p.checksums) + ' checksums';
        const stateTd = stateCell(j.state);
        if (j.state === 'running') stateTd.append(h('progress', { class: 'inline' }));
        return h('tr', { 'data-testid': 'reconcile-row' },
          h('td', { text: String(j.id) + (j.scheduled ? ' (scheduled)' : '') }),
          h('td', { text: String(j.operation) }),
          stateTd,
          timeCell(j.started_at_ms), timeCell(j.finished_at_ms),
          h('td', { class: 'num', text: count(p.rows_read) }),
          h('td', { class: 'num', text: count(p.differences) }),
          h('td', { class: 'num', text: count(p.repaired) }),
          h('td', { class: 'message', text: detail }));
      }));
    };
  }

  function buildWriteBack(card) {
    const info = h('p', { 'data-testid': 'write-back-schedule' });
    const running = h('div', { class: 'running', hidden: true, 'data-testid': 'write-back-running' });
    const stagesTitle = h('h3', { text: 'Last run: stages' });
    const stages = table(['Stage', 'Watermark', 'Lag (versions)'], 'write-back-stages');
    const runsTitle = h('h3', { text: 'Recent runs (run log)' });
    const note = h('p', { class: 'muted small' });
    const runs = table(['Run', 'Status', 'Stages', 'Read', 'Written', 'Dead-lettered', 'Started', 'Took'], 'write-back-runs');
    card.append(info, running, stagesTitle, stages.wrap, runsTitle, note, runs.wrap);
    let lastSeen = null, listedAt = 0, listToken = null;

    async function showRunning(id) {
      if (id === null || id === undefined) {
        running.hidden = true;
        running.replaceChildren();
        return;
      }
      const r = await admin('GET', '/v1/write-back/runs/' + encodeURIComponent(id));
      if (!r.ok || !r.body) {
        running.hidden = false;
        running.replaceChildren(h('p', { text: 'Run ' + id + ' running; its progress could not be read: ' + problem(r) }));
        return;
      }
      const p = r.body.progress || {};
      const bar = h('progress', { class: 'wide', max: 1 });
      if (isNum(p.total) && p.total > 0 && isNum(p.read)) { bar.max = p.total; bar.value = Math.min(p.read, p.total); } else bar.removeAttribute('value');
      running.hidden = false;
      running.replaceChildren(
        h('p', null, h('strong', { text: 'Run ' + id + ' running' }), p.stage ? ' · stage ' + p.stage : '', p.run ? ' · ' + p.run : ''),
        bar,
        h('p', { class: 'small', text: count(p.read) + (isNum(p.total) ? ' of ' + count(p.total) : '') + ' read, ' + count(p.written) + ' written, ' + count(p.unchanged) + ' unchanged, ' + count(p.stale) + ' stale, ' + count(p.dead_lettered) + ' dead-lettered · ' + count(p.batches) + ' batches · ' + rate(p.rows_per_s) }),
        p.watermark ? h('p', { class: 'muted small key', text: 'watermark ' + p.watermark }) : null);
    }

    return async (ctx) => {
      const wb = ctx.status.write_back || {};
      const last = wb.last_run;
      setText(info, schedule(wb) + (last ? ' · last run ' + (last.status || 'without stages') : ''));
      const st = last && Array.isArray(last.stages) ? last.stages : [];
      stagesTitle.hidden = stages.wrap.hidden = st.length === 0;
      stages.body.replaceChildren(...st.map((s) => h('tr', null,
        h('td', { text: String(s.stage) }), h('td', { class: 'key', text: String(s.watermark) }),
        h('td', { class: 'num', text: s.lag === null ? '–' : count(s.lag) }))));
      if (auth.blocked) {
        setText(note, 'Enter the admin token to see runs and their progress.');
        running.hidden = true;
        return;
      }
      await showRunning(wb.running);
      const lastId = wb.last ? wb.last.id : null;
      const now = Date.now();
      if (lastId === lastSeen && now - listedAt < 30000 && listToken === auth.token) return;
      const r = await admin('GET', '/v1/write-back/runs?limit=10');
      if (r.ok && r.body && Array.isArray(r.body.runs)) {
        lastSeen = lastId;
        listedAt = now;
        listToken = auth.token;
        setText(note, r.body.runs.length ? '' : 'No run in the run log yet.');
        runs.wrap.hidden = r.body.runs.length === 0;
        runs.body.replaceChildren(...r.body.runs.map((run) => {
          if (run.unreadable !== undefined) return h('tr', null, h('td', { text: String(run.run) }), h('td', { colspan: 7, class: 'message', text: 'unreadable record' }));
          const ss = Array.isArray(run.stages) ? run.stages : [];
          const sum = (k) => ss.reduce((a, s) => a + (isNum(s[k]) ? s[k] : 0), 0);
          const took = isNum(run.finished_ms) && isNum(run.started_ms) ? duration(run.finished_ms - run.started_ms) : '–';
          return h('tr', { 'data-testid': 'write-back-run-row' },
            h('td', { class: 'nowrap', text: String(run.run) + (run.dry_run ? ' (dry run)' : '') }),
            stateCell(run.status),
            h('td', { text: ss.map((s) => s.stage).join(', ') }),
            h('td', { class: 'num', text: count(sum('read')) }),
            h('td', { class: 'num', text: count(sum('written')) }),
            h('td', { class: 'num', text: count(sum('dead_lettered')) }),
            timeCell(run.started_ms),
            h('td', { class: 'nowrap', text: took }));
        }));
      } else if (!r.skipped) {
        // e.g. 503 busy while a DuckDB sink is held open by the running job
        setText(note, 'Could not list the run log: ' + problem(r));
      }
    };
  }

  const live = new Map(); // section key -> { card, update }

  function syncSections(status) {
    const grid = byId('grid');
    const keys = Object.keys(sections);
    for (const key of keys) {
      const def = sections[key];
      const on = Object.prototype.hasOwnProperty.call(status, key) && (!def.when || def.when(status));
      const have = live.get(key);
      if (on && !have) {
        const card = h('section', { class: 'card' + (def.wide ? ' wide' : ''), 'data-section': key, 'data-testid': 'section-' + key.replace(/_/g, '-') },
          h('h2', { text: def.title }));
        const update = def.build(card);
        const next = keys.slice(keys.indexOf(key) + 1).map((k) => live.get(k)).find(Boolean);
        grid.insertBefore(card, next ? next.card : null);
        live.set(key, { card, update, def });
      } else if (!on && have) {
        have.card.remove();
        live.delete(key);
      }
    }
    return [...live.values()];
  }

  // --- Throughput charts --------------------------------------------------------

  const rateDefs = [
    { id: 'puts', fields: [['acknowledged', 'puts/s (acknowledged)'], ['written', 'puts/s (written)'], ['writes', 'write calls/s']] },
    { id: 'flushed', fields: [['flushed', 'rows flushed/s'], ['written', 'rows written/s']] },
  ];
  const history = { x: [], puts: [], flushed: [] };
  const charts = {};
  let previousSample = null;

  function cssVar(name, fallback) {
    const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return v || fallback;
  }

  function ensureCharts() {
    if (typeof window.uPlot !== 'function') return false;
    for (const def of rateDefs) {
      if (charts[def.id]) continue;
      const el = byId(def.id + '-chart');
      const stroke = cssVar(def.id === 'puts' ? '--chart-1' : '--chart-2', '#2563eb');
      const axis = { stroke: cssVar('--muted', '#666'), grid: { stroke: cssVar('--grid', '#ddd'), width: 1 }, ticks: { stroke: cssVar('--grid', '#ddd'), width: 1 } };
      const xAxis = Object.assign({}, axis, {
        space: 70,
        values: (u, splits) => splits.map((t) => {
          const d = new Date(t * 1000);
          return pad(d.getHours()) + ':' + pad(d.getMinutes()) + (d.getSeconds() ? ':' + pad(d.getSeconds()) : '');
        }),
      });
      const opts = {
        width: Math.max(160, el.clientWidth),
        height: 160,
        legend: { show: false },
        cursor: { drag: { x: false, y: false }, points: { show: false } },
        scales: { x: { time: true, range: (u, min, max) => [max - HISTORY_S, max] }, y: { range: (u, min, max) => [0, Math.max(1, (max || 0) * 1.15)] } },
        series: [{}, { label: def.id, stroke, width: 2, points: { show: false } }],
        axes: [xAxis, Object.assign({ size: 52 }, axis, { values: (u, vals) => vals.map((v) => (v >= 1000 ? nf1.format(v / 1000) + 'k' : nf.format(v))) })],
      };
      charts[def.id] = new window.uPlot(opts, [history.x, history[def.id]], el);
      if (typeof ResizeObserver === 'function') {
        new ResizeObserver(() => {
          const w = Math.max(160, el.clientWidth);
          const c = charts[def.id];
          if (c && c.width !== w) c.setSize({ width: w, height: 160 });
        }).observe(el);
      }
    }
    return true;
  }

  /// Adds a sample: rates from counters since the previous one (null after a
  /// gap, a restart, or when the mode has no such counter).
  function sample(status) {
    const t = performance.now();
    const values = {};
    const labels = {};
    for (const def of rateDefs) {
      const f = def.fields.find(([k]) => isNum(status && status[k]));
      values[def.id] = f ? status[f[0]] : null;
      labels[def.id] = f ? f[1] : null;
    }
    const rates = {};
    for (const def of rateDefs) {
      const v = values[def.id];
      const p = previousSample && previousSample.values[def.id];
      const dt = previousSample ? (t - previousSample.t) / 1000 : 0;
      rates[def.id] = status && isNum(v) && isNum(p) && v >= p && dt > 0.05 ? (v - p) / dt : null;
    }
    previousSample = status ? { t, values } : null;
    history.x.push(Date.now() / 1000);
    for (const def of rateDefs) history[def.id].push(rates[def.id]);
    const cut = Date.now() / 1000 - HISTORY_S;
    while (history.x.length && history.x[0] < cut) {
      history.x.shift();
      for (const def of rateDefs) history[def.id].shift();
    }
    for (const def of rateDefs) {
      const out = byId(def.id + '-rate');
      if (status) {
        // A mode without the counter has no chart for it.
        byId(def.id + '-chart').closest('figure').hidden = !labels[def.id];
        setText(byId(def.id + '-label'), labels[def.id] || (def.id === 'puts' ? 'puts/s' : 'rows flushed/s'));
        setText(out, labels[def.id] ? rate(rates[def.id]) : 'not in this mode');
        out.setAttribute('data-value', isNum(rates[def.id]) ? String(rates[def.id]) : '');
      }
    }
    if (ensureCharts()) for (const def of rateDefs) charts[def.id].setData([history.x, history[def.id]]);
  }

  // --- Core cards -----------------------------------------------------------------

  function renderHeader(status, ready) {
    const mode = byId('mode');
    setText(mode, status.mode || 'unknown');
    document.title = 'storesync · ' + (status.mode || 'console');
    const r = byId('ready');
    if (ready && typeof ready.body === 'object' && ready.body && 'ready' in ready.body) {
      setText(r, ready.body.ready ? 'ready' : 'not ready');
      r.className = 'pill ' + (ready.body.ready ? 'ok' : 'bad');
    } else {
      setText(r, 'readiness unknown');
      r.className = 'pill warn';
    }
    setText(byId('updated'), 'updated ' + clock(Date.now()).slice(11));
  }

  function renderStores(ctx) {
    const body = byId('stores-body');
    const r = ctx.ready;
    if (!r || !r.body || typeof r.body.stores !== 'object' || r.body.stores === null) {
      body.replaceChildren(h('tr', null, h('td', { colspan: 4, class: 'message', text: '/readyz: ' + problem(r || { status: 0, error: 'no answer' }) })));
      return;
    }
    const durableMean = meanSincePrevious(ctx, 'storesync_write_behind_batch_seconds');
    const rows = Object.entries(r.body.stores).map(([name, s]) => {
      const state = s && s.state ? String(s.state) : 'unknown';
      let lat = '–';
      let latHint = '';
      if (s && isNum(s.latency_ms)) {
        lat = latency(s.latency_ms);
        latHint = 'readiness probe';
      } else if (name === ctx.status.durable) {
        const d = sticky('durable-batch', durableMean);
        if (d.value !== null) {
          lat = latency(d.value);
          latHint = 'batch write, average' + (d.fresh ? '' : ' (idle)');
        } else if (ctx.metrics) {
          latHint = 'no batch written yet';
        }
      }
      const detail = [];
      if (s && s.store) detail.push(String(s.store));
      if (s && isNum(s.bytes)) detail.push(count(s.bytes) + ' bytes');
      if (s && s.error) detail.push(String(s.error));
      const cls = state === 'up' ? 'ok' : state === 'down' ? 'bad' : 'warn';
      return h('tr', { 'data-testid': 'store-row', 'data-store': name },
        h('td', { class: 'key', text: name }),
        h('td', null, h('span', { class: 'pill ' + cls, 'data-testid': 'store-state', text: state })),
        h('td', { class: 'nowrap', title: latHint, text: lat }),
        h('td', { class: 'message', text: detail.join(' · ') }));
    });
    body.replaceChildren(...rows);
  }

  function renderRaw(status) {
    const rows = Object.keys(status).sort().map((k) => {
      const v = status[k];
      return h('tr', null, h('th', { text: k }), h('td', { class: 'message', text: typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v) }));
    });
    byId('raw-body').replaceChildren(...rows);
  }

  // --- Banner -----------------------------------------------------------------------

  let failingSince = null;
  let lastGood = null;

  function unreachable(r) {
    if (failingSince === null) failingSince = Date.now();
    const banner = byId('banner');
    const why = r.status === 0 ? 'cannot reach the server (' + r.error + ')' : 'GET /v1/status failed: ' + problem(r);
    setText(banner, 'Server unavailable since ' + clock(failingSince).slice(11) + ': ' + why + '. Retrying every second' +
      (lastGood ? '; the figures below are from ' + clock(lastGood).slice(11) + '.' : '.'));
    banner.hidden = false;
    document.body.classList.add('stale');
    const r2 = byId('ready');
    setText(r2, 'unreachable');
    r2.className = 'pill bad';
  }

  function reachable() {
    failingSince = null;
    lastGood = Date.now();
    byId('banner').hidden = true;
    document.body.classList.remove('stale');
  }

  // --- Polling ----------------------------------------------------------------------

  let prevMetrics = null;
  let polls = 0;
  let timer = null;
  let polling = false;
  let again = false;

  async function pollOnce() {
    const st = await request('GET', '/v1/status');
    if (!st.ok || !st.body || typeof st.body !== 'object' || Array.isArray(st.body)) {
      unreachable(st);
      sample(null);
      prevMetrics = null;
      return;
    }
    reachable();
    const status = st.body;
    const active = syncSections(status);
    const wantMetrics = active.some((s) => s.def.metrics);
    const [ready, metricsRes] = await Promise.all([
      request('GET', '/readyz'),
      wantMetrics ? request('GET', '/metrics', { text: true }) : Promise.resolve(null),
    ]);
    const metrics = metricsRes && metricsRes.ok ? parseMetrics(metricsRes.text) : null;
    const ctx = { status, ready, metrics, prevMetrics };
    renderHeader(status, ready);
    renderStores(ctx);
    sample(status);
    renderRaw(status);
    await Promise.all(active.map(async (s) => {
      try {
        await s.update(ctx);
        s.card.classList.remove('failed');
      } catch (e) {
        s.card.classList.add('failed');
        let err = s.card.querySelector('.section-error');
        if (!err) { err = h('p', { class: 'section-error' }); s.card.append(err); }
        setText(err, 'This card failed to update: ' + ((e && e.message) || String(e)));
        return;
      }
      const err = s.card.querySelector('.section-error');
      if (err) err.remove();
    }));
    prevMetrics = metrics;
  }

  async function runPoll() {
    polling = true;
    const started = performance.now();
    try {
      await pollOnce();
    } finally {
      polling = false;
      polls++;
      document.body.setAttribute('data-polls', String(polls));
    }
    const wait = again ? 0 : Math.max(100, POLL_MS - (performance.now() - started));
    again = false;
    timer = setTimeout(runPoll, wait);
  }

  function pollNow() {
    if (polling) { again = true; return; }
    clearTimeout(timer);
    timer = setTimeout(runPoll, 0);
  }

  // --- Flush ------------------------------------------------------------------------

  function initFlush() {
    const button = byId('flush');
    const out = byId('flush-result');
    const run = async () => {
      button.disabled = true;
      setText(out, 'Flushing…');
      out.className = 'result';
      const r = await admin('POST', '/v1/flush?timeout_ms=' + FLUSH_TIMEOUT_MS, { timeout: ACTION_TIMEOUT_MS });
      button.disabled = false;
      if (r.status === 401) {
        auth.pending = run;
        setText(out, 'Enter the admin token above; the flush runs once it is given.');
        return;
      }
      const b = r.body;
      if (b && typeof b.complete === 'boolean') {
        const parts = [b.complete ? 'Flush complete' : 'Flush incomplete'];
        if (isNum(b.remaining)) parts.push(count(b.remaining) + ' remaining');
        if (isNum(b.pending)) parts.push(count(b.pending) + ' pending');
        if (b.last_error) parts.push('last error: ' + b.last_error);
        setText(out, parts.join(' · ') + ' (' + clock(Date.now()).slice(11) + ')');
        out.className = 'result ' + (b.complete ? 'ok' : 'warn');
        out.setAttribute('data-complete', String(b.complete));
      } else {
        setText(out, 'Flush failed: ' + problem(r));
        out.className = 'result bad';
        out.setAttribute('data-complete', 'false');
      }
      pollNow();
    };
    button.addEventListener('click', () => withAdmin(run, (msg) => setText(out, msg)));
  }

  function start() {
    initTokenForm();
    initFlush();
    runPoll();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
