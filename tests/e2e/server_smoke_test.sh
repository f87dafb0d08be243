#!/usr/bin/env bash
# Starts the real reference server binary on a free port, in the mode given
# as $2 (embedded SQLite durable store), and drives every route with curl:
# statuses, bodies, errors.
set -euo pipefail

source "$(dirname "$0")/lib.sh"
server="$1"
mode="$2"
pid=""
trap '[[ -n "$pid" ]] && kill $pid 2>/dev/null || true' EXIT
log="$TEST_TMPDIR/server.log"
start_server "$server" "$log" --mode "$mode" --data-dir "$TEST_TMPDIR/data"

json=(-H 'Content-Type: application/json')

expect GET /healthz 200 '"status":"ok"'
expect POST /healthz 405 'method_not_allowed'
expect GET /v1/records/missing 404 '"not_found"'
expect PUT /v1/records/user%3A1 200 '"key":"user:1"' "${json[@]}" -d '{"name":"Ada"}'
expect GET /v1/records/user%3A1 200 '"value":{"name":"Ada"}'
expect PUT /v1/records/user%3A1 200 '"version"' "${json[@]}" -d '[1,2,3]'
expect GET /v1/records/user%3A1 200 '"value":[1,2,3]'
expect DELETE /v1/records/user%3A1 200 '"deleted":true'
expect GET /v1/records/user%3A1 404 'not_found'
expect PUT /v1/records/bad 400 'not valid JSON' "${json[@]}" -d '{oops'
expect PUT /v1/records/bad 415 'unsupported_media_type' -H 'Content-Type: text/plain' -d '1'
expect PUT /v1/records/a%00b 400 'control character' "${json[@]}" -d '1'
expect PUT /v1/records/a%zz 400 'percent-escape' "${json[@]}" -d '1'
expect PUT "/v1/records/$(printf 'k%.0s' $(seq 513))" 400 'the limit is 512' "${json[@]}" -d '1'
expect PATCH /v1/records/x 405 'method_not_allowed'
expect GET /nope 404 'no route'
expect GET /v1/records/bad 404 'not_found'   # nothing above stored a bad record

expect PUT '/v1/records/pinned?version=7' 200 '"version":7' "${json[@]}" -d '"seven"'
expect PUT '/v1/records/pinned?version=6' 200 '"outcome":"stale"' "${json[@]}" -d '"six"'
expect GET /v1/records/pinned 200 '"value":"seven"'
expect PUT '/v1/records/pinned?version=-1' 400 'version must be an integer from 1 to' "${json[@]}" -d '1'
expect POST '/v1/records:batch' 200 '"applied":2' "${json[@]}" \
  -d '{"records":[{"key":"b1","value":{"x":1}},{"key":"b2","value":2,"version":3},{"key":"","value":1}]}'
expect POST '/v1/records:batch' 200 '"deleted":true' "${json[@]}" -d '{"records":[{"key":"b1","value":null}]}'
expect GET /v1/records/b1 404 'not_found'
expect GET /v1/records/b2 200 '"version":3'
expect POST '/v1/records:batch' 400 'body is not valid JSON' "${json[@]}" -d '{"records":'
expect POST '/v1/records:batch' 400 'body must be' "${json[@]}" -d '{"rows":[]}'
expect GET '/v1/records:batch' 405 'allowed: POST'
expect GET /readyz 200 '"ready":true'
expect GET /readyz 200 '"sqlite":{"latency_ms":'  # the durable store's probe, timed
expect GET /v1/status 200 "\"mode\":\"$mode\""
expect GET /metrics 200 'storesync_'
expect POST /v1/flush 200 '"complete":true'
expect GET /v1/dead-letters 200 '"dead_letters":[]'
expect POST /v1/dead-letters/retry 200 '"retried":0'

# After the flush, the durable SQLite file holds what was acknowledged.
[[ "$(sqlite3 "$TEST_TMPDIR/data/storesync.db" "select value from storesync_entries where key = 'pinned'")" == '"seven"' ]] ||
  { echo "FAIL: pinned not durable in SQLite after flush"; failures=$((failures + 1)); }

# Versions grow with every write.
v1="$(curl -s -X PUT "${json[@]}" -d 1 "$base/v1/records/v" | grep -o '"version":[0-9]*' | cut -d: -f2)"
v2="$(curl -s -X PUT "${json[@]}" -d 2 "$base/v1/records/v" | grep -o '"version":[0-9]*' | cut -d: -f2)"
((v2 > v1)) || { echo "FAIL: versions did not grow ($v1, $v2)"; failures=$((failures + 1)); }

# SIGTERM: clean exit with status 0.
kill -TERM $pid
wait $pid
rc=$?
((rc == 0)) || { echo "FAIL: exit status $rc after SIGTERM"; failures=$((failures + 1)); }
grep -q "stopped" "$log" || { echo "FAIL: no shutdown line"; failures=$((failures + 1)); }

((failures == 0)) && echo "all checks passed"
exit $failures
