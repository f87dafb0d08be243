#!/usr/bin/env bash
# The operator console (GET /ui) in real headless browsers, Chromium and
# Firefox, one after the other against the one server: the same
# tests/e2e/ui/console_test.mjs, driven by puppeteer-core (Chromium over the
# DevTools protocol, Firefox over WebDriver BiDi). No console errors, failed
# loads or CSP violations, numbers that match /v1/status, keys shown as text,
# the admin token asked for and kept in memory only, flush and retry-all, a
# narrow window, the unreachable banner, the charts. Against the real server
# on SQLite with an admin token. Needs the node modules, chromium and
# firefox-esr scripts/setup.sh installs (unsandboxed, "local"); $CHROMIUM and
# $FIREFOX name other binaries.
set -uo pipefail

source "$(dirname "$0")/lib.sh"
server="$1"
console_js="$(readlink -f "$2")"
pid=""
trap '[[ -n "$pid" ]] && kill $pid 2>/dev/null || true' EXIT

modules="$(dirname "$console_js")/node_modules"
[[ -d "$modules/puppeteer-core" ]] || { echo "FAIL: $modules/puppeteer-core is missing: run scripts/setup.sh"; exit 1; }
[[ -x "${CHROMIUM:-/usr/bin/chromium}" ]] || { echo "FAIL: no chromium at ${CHROMIUM:-/usr/bin/chromium}: run scripts/setup.sh"; exit 1; }
[[ -x "${FIREFOX:-/usr/bin/firefox-esr}" ]] || { echo "FAIL: no firefox at ${FIREFOX:-/usr/bin/firefox-esr}: run scripts/setup.sh"; exit 1; }

data="$TEST_TMPDIR/console"
start_server "$server" "$TEST_TMPDIR/console.log" --data-dir "$data" --admin-token console-admin
# Each browser runs whatever the other did: a failure in one is still a
# result for the other. Each run makes the state it needs itself (records, a
# dead letter through its own SQLite trigger, which it drops again), so the
# second starts from whatever the first left.
for browser in chromium firefox; do
  echo "--- $browser"
  node "$console_js" --browser "$browser" "$base" console-admin "$data/storesync.db" ||
    fail "the console test failed in $browser"
done
stop_server

((failures == 0)) && echo "all checks passed"
exit $failures
