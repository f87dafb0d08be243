#!/usr/bin/env bash
# reference_server/openapi.yaml against a real validator and the real server:
#   1. @apidevtools/swagger-parser validates the file (tools/openapi);
#   2. in each mode (write-behind, direct, dual-write on SQLite, and the
#      write-back runs of a --write-back-config), every route is called, its
#      errors included, and each live response's status must be one the file
#      declares and its body must match that response's schema.
# Needs the node modules scripts/setup.sh installs under tools/openapi (the
# test runs unsandboxed, "local", and finds them beside the scripts).
set -uo pipefail

source "$(dirname "$0")/lib.sh"
server="$1"
spec="$(readlink -f "$2")"
validate_js="$(readlink -f "$3")"
check_js="$(readlink -f "$4")"
pid=""
trap '[[ -n "$pid" ]] && kill $pid 2>/dev/null || true' EXIT
work="$TEST_TMPDIR/openapi"
mkdir -p "$work"

modules="$(dirname "$validate_js")/node_modules"
[[ -d "$modules" ]] || { echo "FAIL: $modules is missing: run scripts/setup.sh"; exit 1; }

node "$validate_js" "$spec" || fail "openapi.yaml is not valid OpenAPI"

checked=0
# check METHOD PATH STATUS [curl args...]: the live response has STATUS, and
# openapi.yaml declares it for the route with a schema its body matches.
# Leaves the response's headers in $work/headers.
check() {
  local method="$1" path="$2" status="$3" code
  shift 3
  code="$(curl -s -g -D "$work/headers" -o "$work/body" -w '%{http_code}' -X "$method" "$@" "$base$path")"
  if [[ "$code" != "$status" ]]; then
    fail "$method $path -> $code (wanted $status): $(head -c 300 "$work/body")"
    return
  fi
  node "$check_js" "$spec" "$method" "$path" "$status" "$work/body" >"$work/check.out" 2>&1 ||
    fail "$method $path $status does not match openapi.yaml: $(head -c 2000 "$work/check.out")"
  checked=$((checked + 1))
}

# location: the Location header of the last response checked.
location() { tr -d '\r' <"$work/headers" | sed -n 's/^[Ll]ocation: //p'; }
# ended JOB_PATH: the job at JOB_PATH is no longer running.
ended() { ! curl -s -H 'Authorization: Bearer admin-secret' "$base$1" | grep -q '"state":"running"'; }

admin=(-H 'Authorization: Bearer admin-secret')
api=(-H 'Authorization: Bearer api-secret')
json=(-H 'Content-Type: application/json')

# Routes every mode serves.
common() {
  check GET /healthz 200
  check GET /readyz 200
  check GET /v1/status 200
  check GET /metrics 200
  check PUT '/v1/records/user%3A1?version=7' 200 "${api[@]}" "${json[@]}" -d '{"name":"Ada"}'
  check PUT '/v1/records/user%3A1?version=6' 200 "${api[@]}" "${json[@]}" -d '{"name":"old"}'
  check GET /v1/records/user%3A1 200 "${api[@]}"
  check GET /v1/records/missing 404 "${api[@]}"
  check GET /v1/records/user%3A1 401
  check PUT /v1/records/bad 400 "${api[@]}" "${json[@]}" -d '{oops'
  check PUT /v1/records/bad 415 "${api[@]}" -H 'Content-Type: text/plain' -d '1'
  check PUT /v1/records/big 413 "${api[@]}" "${json[@]}" -d "\"$(head -c 5000 /dev/zero | tr '\0' x)\""
  # No operation of the file can hold these two (info describes them).
  expect PATCH /v1/records/x 405 '"code":"method_not_allowed"' "${api[@]}"
  check POST '/v1/records:batch' 200 "${api[@]}" "${json[@]}" \
    -d '{"records":[{"key":"b1","value":{"x":1}},{"key":"b2","value":2,"version":3},{"key":"","value":1}]}'
  check POST '/v1/records:batch' 400 "${api[@]}" "${json[@]}" -d '{"records":'
  check DELETE /v1/records/b1 200 "${api[@]}"
  check POST /v1/flush 401
  check POST /v1/flush 200 "${admin[@]}"
  check GET /v1/dead-letters 200 "${admin[@]}"
  check POST /v1/dead-letters/retry 200 "${admin[@]}"
  expect GET /nope 404 '"code":"not_found"'
  expect POST /healthz 405 '"code":"method_not_allowed"'
  check GET /ui 200
  check GET /ui/nope 404
}

for mode in write-behind direct; do
  start_server "$server" "$work/$mode.log" --mode "$mode" --data-dir "$work/$mode" \
    --admin-token admin-secret --api-token api-secret --max-body-bytes 4096
  common
  check GET /v1/inconsistencies 404 "${admin[@]}"
  check GET /v1/reconcile 404 "${admin[@]}"
  check GET /v1/reconcile/1 404 "${admin[@]}"
  check GET /v1/write-back/runs 404 "${admin[@]}"
  stop_server
done

dual="$work/dual"
mkdir -p "$dual"
start_server "$server" "$work/dual.log" --mode dual-write --data-dir "$dual" \
  --primary "sqlite:$dual/p.db" --secondary "sqlite:$dual/s.db" \
  --admin-token admin-secret --api-token api-secret --max-body-bytes 4096
common
check GET /v1/inconsistencies 200 "${admin[@]}"
check POST /v1/reconcile 202 "${admin[@]}" "${json[@]}" -d '{"operation":"check"}'
job="$(location)"
check POST /v1/reconcile 400 "${admin[@]}" "${json[@]}" -d '{"operation":"nope"}'
wait_for "the reconcile job $job ends" ended "$job"
check GET "$job" 200 "${admin[@]}"
check GET /v1/reconcile 200 "${admin[@]}"
check DELETE "$job" 409 "${admin[@]}"
check POST /v1/reconcile 202 "${admin[@]}" "${json[@]}" -d '{"operation":"full"}'
full="$(location)"
wait_for "the reconcile job $full ends" ended "$full"
check GET "$full" 200 "${admin[@]}"
check GET /v1/reconcile 200 "${admin[@]}"
check GET /v1/reconcile/999999 404 "${admin[@]}"
stop_server

wb="$work/write-back"
mkdir -p "$wb"
cat >"$wb/writeback.json" <<JSON
{"source": "duckdb:$wb/analytics.duckdb", "sink": "sqlite:$wb/app.db",
 "stages": [{"name": "scores",
             "source": {"query": "SELECT 'user:' || i AS key, to_json({'score': i}) AS value, 1 + i AS version FROM range(100) t(i)"},
             "sink": {"table": "scores"}}]}
JSON
start_server "$server" "$work/wb.log" --data-dir "$wb/data" --admin-token admin-secret \
  --write-back-config "$wb/writeback.json"
check POST /v1/write-back/runs 202 "${admin[@]}" "${json[@]}" -d '{}'
run="$(location)"
wait_for "the write-back run $run ends" ended "$run"
check GET "$run" 200 "${admin[@]}"
check GET /v1/write-back/runs 200 "${admin[@]}"
check POST /v1/write-back/runs 400 "${admin[@]}" "${json[@]}" -d '{"stages":["nope"]}'
check GET /v1/status 200
stop_server

echo "$checked live responses matched openapi.yaml"
((checked > 0)) || fail "no response was checked"
((failures == 0)) && echo "all checks passed"
exit $failures
