#!/usr/bin/env bash
# A typed durable table through the real server binary, on SQLite: the
# mapping comes from STORESYNC_DURABLE_MAPPING (the twin of
# --durable-mapping), what the table cannot hold is 400 invalid_input naming
# the field and column before it is acknowledged, a flush lands the record in
# typed columns, and after a restart GET answers the canonical form from the
# table. A mapping file with an unknown member, a "schema" on SQLite, odd
# values, truncation, invalid UTF-8, deep nesting or a 4 MiB name stops the
# server at start with a message naming the problem.
set -uo pipefail

source "$(dirname "$0")/lib.sh"
server="$1"
work="$(mktemp -d "${TEST_TMPDIR:-/tmp}/typed_table.XXXXXX")"
trap '[[ -n "${pid:-}" ]] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"' EXIT

cat >"$work/scores.json" <<'JSON'
{
  "table": "scores",
  "key": [{"column": "community_id", "type": "bigint"},
          {"column": "profile_id", "type": "bigint"}],
  "fields": [
    {"field": "score", "type": "integer", "required": true, "from_string": true},
    {"field": "tier", "type": "text", "default": "free"},
    {"field": "seen_at", "type": "timestamptz"}
  ]
}
JSON
db="$work/records.db"
flags=(--mode write-behind --data-dir "$work/data" --durable "sqlite:$db")
key='0000000000000000007%200000000000000000042'
json=(-H 'Content-Type: application/json')

STORESYNC_DURABLE_MAPPING="$work/scores.json" start_server "$server" "$work/server.log" "${flags[@]}"
expect PUT "/v1/records/$key?version=3" 200 '"outcome":"applied"' "${json[@]}" \
  -d '{"score":"17","seen_at":"2026-01-02T03:04:05+01:00"}'
expect PUT "/v1/records/$key?version=4" 400 'field \"score\" (column \"score\", integer)' "${json[@]}" \
  -d '{"score":"high"}'
expect PUT "/v1/records/$key?version=4" 400 'has a fraction' "${json[@]}" -d '{"score":1.5}'
expect PUT "/v1/records/$key?version=4" 400 'is missing; the field is required' "${json[@]}" -d '{"tier":"gold"}'
expect PUT "/v1/records/$key?version=4" 400 'field \"rank\" has no column' "${json[@]}" -d '{"score":1,"rank":2}'
expect PUT "/v1/records/not-two-integers?version=4" 400 'invalid_input' "${json[@]}" -d '{"score":1}'
# Nothing refused was acknowledged: memory still answers version 3.
expect GET "/v1/records/$key" 200 '"version":3'
flush_all
stop_server

row="$(python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(c.execute("SELECT community_id, profile_id, score, tier, seen_at, version, storesync_deleted FROM scores").fetchall())' "$db")"
[[ "$row" == "[(7, 42, 17, 'free', '2026-01-02T02:04:05.000000Z', 3, 0)]" ]] ||
  fail "the scores table holds $row"

# After a restart the fast store is cold: GET reads the table's canonical form.
start_server "$server" "$work/server.log" "${flags[@]}" --durable-mapping "$work/scores.json"
expect GET "/v1/records/$key" 200 '"value":{"score":17,"tier":"free","seen_at":"2026-01-02T02:04:05Z"}'
stop_server

# Bad and hostile mapping files stop the server at start, naming the problem.
refused_at_start() {  # WANT: a substring of the refusal; the file is $work/bad.json
  local out rc
  out="$("$server" --listen 127.0.0.1:0 "${flags[@]}" --durable-mapping "$work/bad.json" 2>&1)"
  rc=$?
  ((rc != 0)) || fail "the server started with $(head -c 200 "$work/bad.json")"
  [[ "$out" == *"$1"* ]] || fail "refusal without '$1': $(head -c 300 <<<"$out")"
}
echo '{"table":"scores","key":[{"column":"id","type":"bigint"}],"colour":"red"}' >"$work/bad.json"
refused_at_start 'colour'
echo '{"schema":"public","table":"scores","key":[{"column":"id","type":"bigint"}]}' >"$work/bad.json"
refused_at_start '"schema" applies to PostgreSQL'
echo '{"table":"scores","key":[{"column":"id","type":"bigint"}],"fields":[{"field":"a","required":1}]}' >"$work/bad.json"
refused_at_start 'required'
echo '{"table":"scores","key":[{"column":"id","type":"bigint"}],"fields":[{"field":"a","type":"money"}]}' >"$work/bad.json"
refused_at_start 'money'
printf '{"table":"scores","key":[{"column":"id","type":"bigint"}' >"$work/bad.json"  # truncated
refused_at_start 'durable-mapping'
printf '{"table":"sc\xff\xfeores","key":[{"column":"id","type":"bigint"}]}' >"$work/bad.json"  # invalid UTF-8
refused_at_start 'durable-mapping'
python3 -c 'import sys; sys.stdout.write("{\"table\":\"s\",\"key\":[{\"column\":\"id\",\"type\":\"bigint\"}],\"fields\":[{\"field\":\"a\",\"type\":\"jsonb\",\"default\":" + "[" * 200000 + "]" * 200000 + "}]}")' >"$work/bad.json"
refused_at_start 'nesting deeper than'
python3 -c 'import sys; sys.stdout.write("{\"table\":\"" + "t" * (1 << 19) + "\",\"key\":[{\"column\":\"id\",\"type\":\"bigint\"}],\"zz\":1}")' >"$work/bad.json"
refused_at_start 'zz'
python3 -c 'import sys; sys.stdout.write("{\"table\":\"" + "t" * (1 << 22) + "\",\"key\":[{\"column\":\"id\",\"type\":\"bigint\"}]}")' >"$work/bad.json"
refused_at_start 'more than 1048576 bytes; the limit is 1048576'
ln -sf /dev/zero "$work/bad.json"  # endless
refused_at_start 'more than 1048576 bytes'

((failures == 0)) || { echo "$failures failure(s)"; exit 1; }
echo "PASS"
