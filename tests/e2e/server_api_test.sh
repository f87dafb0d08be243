#!/usr/bin/env bash
# The reference server's error surface: 40 malformed requests (after which
# the server still answers and no stored value changed), bearer-token auth on
# data and admin routes, and the body size limit. Clients that send half a
# request are in server_hostile_clients_test.
set -uo pipefail

source "$(dirname "$0")/lib.sh"
server="$1"
pid=""
trap '[[ -n "$pid" ]] && kill $pid 2>/dev/null || true' EXIT
log="$TEST_TMPDIR/api.log"
start_server "$server" "$log" --data-dir "$TEST_TMPDIR/data" --admin-token admin-secret \
  --api-token api-secret --max-body-bytes 4096

api=(-H 'Authorization: Bearer api-secret')
admin=(-H 'Authorization: Bearer admin-secret')
json=(-H 'Content-Type: application/json')

# Known state.
expect PUT '/v1/records/keep?version=10' 200 '"version":10' "${api[@]}" "${json[@]}" -d '{"v":"original"}'
expect PUT '/v1/records/other?version=5' 200 '"version":5' "${api[@]}" "${json[@]}" -d '[1,2]'

# --- auth -------------------------------------------------------------------
expect GET /v1/records/keep 401 'missing bearer token'
expect GET /v1/records/keep 401 'wrong bearer token' -H 'Authorization: Bearer api-secreT'
expect GET /v1/records/keep 401 'wrong bearer token' -H 'Authorization: Bearer api-secret-longer'
expect GET /v1/records/keep 401 'wrong bearer token' -H 'Authorization: Basic api-secret'
expect GET /v1/records/keep 200 '"original"' "${api[@]}"
expect POST /v1/flush 401 'missing bearer token'
expect POST /v1/flush 401 'wrong bearer token' "${api[@]}"
expect GET /v1/dead-letters 401 'unauthorized'
expect POST /v1/dead-letters/retry 401 'unauthorized' "${api[@]}"
expect POST /v1/flush 200 '"complete":true' "${admin[@]}"
expect GET /healthz 200 'ok'
grep -q 'secret' "$log" && { echo "FAIL: a token reached the log"; failures=$((failures + 1)); }

# --- 40 malformed requests ----------------------------------------------------
bad=0
malformed() { expect "$@"; bad=$((bad + 1)); }
malformed PUT /v1/records/keep 400 'not valid JSON' "${api[@]}" "${json[@]}" -d '{"v":'
malformed PUT /v1/records/keep 400 'not valid JSON' "${api[@]}" "${json[@]}" -d 'undefined'
malformed PUT /v1/records/keep 400 'not valid JSON' "${api[@]}" "${json[@]}" -d "{'single':1}"
malformed PUT /v1/records/keep 400 'not valid JSON' "${api[@]}" "${json[@]}" -d '[1,2,'
malformed PUT /v1/records/keep 400 'not valid JSON' "${api[@]}" "${json[@]}" -d '{"a":1}}'
malformed PUT /v1/records/keep 400 'not valid JSON' "${api[@]}" "${json[@]}" -d 'NaN'
malformed PUT /v1/records/keep 400 'not valid JSON' "${api[@]}" "${json[@]}" --data-binary ''
malformed PUT /v1/records/keep 400 'not valid JSON' "${api[@]}" "${json[@]}" --data-binary $'"\xff\xfe"'
malformed PUT /v1/records/keep 415 'unsupported_media_type' "${api[@]}" -H 'Content-Type: text/plain' -d '1'
malformed PUT /v1/records/keep 415 'unsupported_media_type' "${api[@]}" -H 'Content-Type: application/xml' -d '<a/>'
malformed PUT /v1/records/keep 415 'unsupported_media_type' "${api[@]}" -d 'x=1'
malformed PUT '/v1/records/keep?version=0' 400 'version must be an integer from 1 to' "${api[@]}" "${json[@]}" -d '1'
malformed PUT '/v1/records/keep?version=-3' 400 'version must be an integer from 1 to' "${api[@]}" "${json[@]}" -d '1'
malformed PUT '/v1/records/keep?version=abc' 400 'version must be an integer from 1 to' "${api[@]}" "${json[@]}" -d '1'
malformed PUT '/v1/records/keep?version=1.5' 400 'version must be an integer from 1 to' "${api[@]}" "${json[@]}" -d '1'
malformed PUT '/v1/records/keep?version=99999999999999999999' 400 'version must be an integer from 1 to' "${api[@]}" "${json[@]}" -d '1'
malformed PUT '/v1/records/keep?version=4611686018427387905' 400 'version must be an integer from 1 to' "${api[@]}" "${json[@]}" -d '1'
malformed PUT '/v1/records/keep?version=' 400 'version must be an integer from 1 to' "${api[@]}" "${json[@]}" -d '1'
malformed DELETE '/v1/records/keep?version=x' 400 'version must be an integer from 1 to' "${api[@]}"
malformed PUT /v1/records/ 400 'key is empty' "${api[@]}" "${json[@]}" -d '1'
malformed PUT /v1/records/a%00b 400 'control character' "${api[@]}" "${json[@]}" -d '1'
malformed PUT /v1/records/a%0Ab 400 'control character' "${api[@]}" "${json[@]}" -d '1'
malformed PUT /v1/records/a%7Fb 400 'control character' "${api[@]}" "${json[@]}" -d '1'
malformed PUT /v1/records/a%FFb 400 'invalid UTF-8' "${api[@]}" "${json[@]}" -d '1'
malformed PUT /v1/records/a%C3 400 'invalid UTF-8' "${api[@]}" "${json[@]}" -d '1'
malformed PUT /v1/records/a%ED%A0%80 400 'invalid UTF-8' "${api[@]}" "${json[@]}" -d '1'
malformed PUT /v1/records/a%zzb 400 'percent-escape' "${api[@]}" "${json[@]}" -d '1'
malformed PUT /v1/records/a%4 400 'percent-escape' "${api[@]}" "${json[@]}" -d '1'
malformed PUT "/v1/records/$(printf 'k%.0s' $(seq 513))" 400 'the limit is 512' "${api[@]}" "${json[@]}" -d '1'
malformed PATCH /v1/records/keep 405 'allowed' "${api[@]}"
malformed POST /v1/records/keep 405 'allowed' "${api[@]}"
malformed GET '/v1/records:batch' 405 'allowed: POST' "${api[@]}"
malformed DELETE /v1/flush 405 'allowed: POST' "${admin[@]}"
malformed POST '/v1/records:batch' 400 'body is not valid JSON' "${api[@]}" "${json[@]}" -d '{"records":['
malformed POST '/v1/records:batch' 400 'body must be' "${api[@]}" "${json[@]}" -d '[]'
malformed POST '/v1/records:batch' 400 'body must be' "${api[@]}" "${json[@]}" -d '{"records":{}}'
malformed POST '/v1/records:batch' 415 'unsupported_media_type' "${api[@]}" -H 'Content-Type: text/csv' -d 'a,b'
malformed POST /v1/flush 400 'timeout_ms' "${admin[@]}" -G -d 'timeout_ms=soon'
malformed POST /v1/flush 400 'from 1 to 3600000' "${admin[@]}" -G -d 'timeout_ms=3600001'
malformed POST /v1/flush 400 'from 1 to 3600000' "${admin[@]}" -G -d 'timeout_ms=4321666027710461723'
malformed GET /v1/dead-letters 400 'limit' "${admin[@]}" -G -d 'limit=-1'
malformed PUT /v1/records/keep 413 'body_too_large' "${api[@]}" "${json[@]}" -d "\"$(printf 'x%.0s' $(seq 5000))\""
malformed GET /v2/nothing 404 'no route'
# Batch items are rejected one by one, and nothing of theirs is stored.
expect POST '/v1/records:batch' 200 '"status":400' "${api[@]}" "${json[@]}" \
  -d '{"records":[{"key":"keep","value":1,"version":-1},{"key":"","value":1},{"value":1},{"key":"keep"},{"key":"k\u0001","value":1}]}'
((bad >= 40)) || { echo "FAIL: only $bad malformed requests"; failures=$((failures + 1)); }

# The server still answers, and nothing above changed a stored value.
expect GET /healthz 200 'ok'
expect GET /v1/records/keep 200 '"value":{"v":"original"}' "${api[@]}"
expect GET /v1/records/keep 200 '"version":10' "${api[@]}"
expect GET /v1/records/other 200 '"value":[1,2]' "${api[@]}"
expect GET /v1/records/k 404 'not_found' "${api[@]}"
expect GET /v1/status 200 '"acknowledged":2'

kill -TERM $pid
wait $pid || { echo "FAIL: non-zero exit after SIGTERM"; failures=$((failures + 1)); }
((failures == 0)) && echo "all $bad malformed requests and every check passed"
exit $failures
