#!/usr/bin/env bash
# The real reference server binary with --write-back-config: a bad config
# stops it at start-up naming the member; a run started over HTTP lands a
# DuckDB query in SQLite; status, metrics and the run log show it; a
# scheduled run that is interrupted by SIGTERM finishes its batch, and the
# next start resumes.
set -euo pipefail

source "$(dirname "$0")/lib.sh"
server="$1"
pid=""
trap '[[ -n "$pid" ]] && kill $pid 2>/dev/null || true' EXIT
work="$TEST_TMPDIR/wb"
mkdir -p "$work"
log="$work/server.log"
auth=(-H 'Authorization: Bearer admin-secret')
json=(-H 'Content-Type: application/json')

config() {  # config ROWS: DuckDB range(ROWS) -> SQLite table "scores"
  cat >"$work/writeback.json" <<JSON
{"source": "duckdb:$work/analytics.duckdb", "sink": "sqlite:$work/app.db",
 "batch": {"initial_size": 1000, "max_size": 1000},
 "stages": [{"name": "scores",
             "source": {"query": "SELECT 'user:' || i AS key, to_json({'score': i}) AS value, 1 + i AS version FROM range($1) t(i)"},
             "sink": {"table": "scores"}}]}
JSON
}

# status_field PATH: a field of /v1/status (python path like ["write_back"]["last_run"]["status"]).
status_field() {
  curl -s "$base/v1/status" | python3 -c "import json,sys; print(json.load(sys.stdin)$1)"
}

# wait_job LOCATION: until the job is no longer running; prints its state.
wait_job() {
  local start=$SECONDS state
  while :; do
    state="$(curl -s "${auth[@]}" "$base$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')"
    [[ "$state" != running ]] && { echo "$state"; return; }
    ((SECONDS - start < hang_guard_s)) || { echo "hang"; return; }
    sleep 0.05
  done
}

# 1. A bad config: exit 2, the member named, nothing served.
echo '{"source": "duckdb:x", "sink": "sqlite:y", "stages": [{"name": "a b", "source": {"query": "SELECT 1"}, "sink": {"table": "t"}}]}' \
  >"$work/bad.json"
set +e
"$server" --listen 127.0.0.1:0 --data-dir "$work/data" --write-back-config "$work/bad.json" >"$work/bad.log" 2>&1
code=$?
set -e
if [[ $code != 2 ]] || ! grep -q 'stages\[0\].name' "$work/bad.log"; then
  echo "FAIL: a bad --write-back-config: exit $code, $(cat "$work/bad.log")"
  failures=$((failures + 1))
fi

# 2. A run over HTTP.
config 5000
start_server "$server" "$log" --data-dir "$work/data" --admin-token admin-secret --write-back-config "$work/writeback.json"
expect POST /v1/write-back/runs 401 'unauthorized' "${json[@]}" -d '{}'
location="$(curl -s -D - -o /dev/null -X POST "${auth[@]}" "${json[@]}" -d '{}' "$base/v1/write-back/runs" |
  tr -d '\r' | sed -n 's/^[Ll]ocation: //p')"
[[ "$location" == /v1/write-back/runs/* ]] || { echo "FAIL: no Location: '$location'"; failures=$((failures + 1)); }
state="$(wait_job "$location")"
[[ "$state" == done ]] || { echo "FAIL: the run ended $state"; failures=$((failures + 1)); }
expect GET "$location" 200 '"written":5000' "${auth[@]}"
expect GET '/v1/write-back/runs?limit=1' 200 '"status":"succeeded"' "${auth[@]}"
expect POST /v1/write-back/runs 400 'no stage' "${auth[@]}" "${json[@]}" -d '{"stages":["nope"]}'
expect GET /metrics 200 'storesync_write_back_watermark_lag{stage="scores"} 0'
[[ "$(status_field '["write_back"]["last_run"]["status"]')" == succeeded ]] ||
  { echo "FAIL: status write_back.last_run"; failures=$((failures + 1)); }

# 3. More rows, a run every second; SIGTERM once a scheduled run has written
# some: the server stops after the batch in flight, the next start resumes.
kill -TERM "$pid"
wait "$pid" || true
config 400000
start_server "$server" "$log" --data-dir "$work/data" --admin-token admin-secret \
  --write-back-config "$work/writeback.json" --write-back-interval-s 1
start=$SECONDS
until [[ "$(curl -s "${auth[@]}" "$base/v1/status" | python3 -c '
import json,sys
s = json.load(sys.stdin)["write_back"]
print("yes" if s["running"] is not None else "no")')" == yes ]]; do
  ((SECONDS - start < hang_guard_s)) || { echo "FAIL: no scheduled run started"; failures=$((failures + 1)); break; }
  sleep 0.05
done
kill -TERM "$pid"
wait "$pid" || true
grep -q "storesync: stopped" "$log" || { echo "FAIL: no clean stop: $(cat "$log")"; failures=$((failures + 1)); }
start_server "$server" "$log" --data-dir "$work/data" --admin-token admin-secret --write-back-config "$work/writeback.json"
location="$(curl -s -D - -o /dev/null -X POST "${auth[@]}" "${json[@]}" -d '{}' "$base/v1/write-back/runs" |
  tr -d '\r' | sed -n 's/^[Ll]ocation: //p')"
state="$(wait_job "$location")"
[[ "$state" == done ]] || { echo "FAIL: the resumed run ended $state"; failures=$((failures + 1)); }
rows="$(python3 -c "import sqlite3; print(sqlite3.connect('$work/app.db').execute('select count(*) from scores').fetchone()[0])")"
[[ "$rows" == 400000 ]] || { echo "FAIL: $rows rows landed, not 400000"; failures=$((failures + 1)); }

kill -TERM "$pid"
wait "$pid" || true
pid=""
echo "$failures failure(s)"
((failures == 0))
