#!/usr/bin/env bash
# The operator console (GET /ui) in a real headless Chromium, driven by
# playwright-core (tests/e2e/ui/console_test.mjs): no console errors or CSP
# violations, numbers that match /v1/status, keys shown as text, the admin
# token asked for and kept in memory only, flush and retry-all, a narrow
# window. Against the real server on SQLite with an admin token. Needs the
# node modules and chromium scripts/setup.sh installs (unsandboxed, "local").
set -uo pipefail

source "$(dirname "$0")/lib.sh"
server="$1"
console_js="$(readlink -f "$2")"
pid=""
trap '[[ -n "$pid" ]] && kill $pid 2>/dev/null || true' EXIT

modules="$(dirname "$console_js")/node_modules"
[[ -d "$modules/playwright-core" ]] || { echo "FAIL: $modules/playwright-core is missing: run scripts/setup.sh"; exit 1; }
[[ -x "${CHROMIUM:-/usr/bin/chromium}" ]] || { echo "FAIL: no chromium at ${CHROMIUM:-/usr/bin/chromium}: run scripts/setup.sh"; exit 1; }

data="$TEST_TMPDIR/console"
start_server "$server" "$TEST_TMPDIR/console.log" --data-dir "$data" --admin-token console-admin
node "$console_js" "$base" console-admin "$data/storesync.db" || fail "the console test failed"
stop_server

((failures == 0)) && echo "all checks passed"
exit $failures
