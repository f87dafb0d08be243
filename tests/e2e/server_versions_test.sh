#!/usr/bin/env bash
# Versions across restarts, in write-behind mode, on the embedded SQLite
# store (the default) and on a private PostgreSQL (--durable):
#   a. a client-supplied version below what the durable store holds, on a
#      key the restarted server never saw: PUT k?version=5 (applied), SIGTERM
#      (exit 0), restart on the same data dir, PUT k?version=3 must be
#      "accepted" (never "applied"); after POST /v1/flush, GET k returns
#      version 5 again, /v1/status stale_at_flush >= 1, /metrics
#      storesync_write_behind_stale_at_flush_total >= 1, no dead letters.
#   b. the clock stepped back one hour: PUT c (server-assigned version),
#      flush, SIGTERM; restart under libfaketime (FAKETIME=-1h); PUT c again
#      must be "applied" with a version above the first; after a flush GET c
#      returns the new value, and still does after another restart on the
#      normal clock.
# Every wait is for a condition (a log line, a status field, a complete
# flush); $hang_guard_s (lib.sh) only guards against a hang.
set -uo pipefail

source "$(dirname "$0")/lib.sh"
server="$1"
faketime_lib=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
start_private_postgres

# The server under libfaketime, one hour behind: a wrapper that execs the
# server, so $pid (start_server) is the server itself. Under AddressSanitizer
# (scripts/sanitize.sh) the preload comes before ASan's runtime, which ASan
# refuses unless told that is intended.
asan_options="${ASAN_OPTIONS:+$ASAN_OPTIONS:verify_asan_link_order=0}"
cat >"$work/server-1h-behind" <<EOF
#!/bin/sh
${asan_options:+ASAN_OPTIONS="$asan_options"} LD_PRELOAD="$faketime_lib" FAKETIME=-1h exec "$server" "\$@"
EOF
chmod +x "$work/server-1h-behind"

json=(-H 'Content-Type: application/json')

# put KEY QUERY BODY: PUT /v1/records/KEY?QUERY; sets $put_code and $put_body.
put() {
  put_body="$(curl -s -w '\n%{http_code}' -X PUT "${json[@]}" -d "$3" "$base/v1/records/$1${2:+?$2}")"
  put_code="${put_body##*$'\n'}"
  put_body="${put_body%$'\n'*}"
  put_body="${put_body%$'\n'}"
}

# get KEY: GET /v1/records/KEY; sets $get_code and $get_body.
get() {
  get_body="$(curl -s -w '\n%{http_code}' "$base/v1/records/$1")"
  get_code="${get_body##*$'\n'}"
  get_body="${get_body%$'\n'*}"
  get_body="${get_body%$'\n'}"
}

# value_is BODY JSON: the "value" of the GET answer BODY equals JSON as a JSON
# value (PostgreSQL's jsonb gives values read back from it its own spacing
# and key order, as docs/server-api.md says).
value_is() {
  python3 -c 'import json, sys
sys.exit(0 if json.loads(sys.argv[1]).get("value") == json.loads(sys.argv[2]) else 1)' "$1" "$2" 2>/dev/null
}

# durable_version NAME DATA KEY: the version the durable store (of backend
# NAME, data dir DATA) holds for KEY; empty when it holds none.
durable_version() {
  if [[ "$1" == sqlite ]]; then
    python3 -c 'import sqlite3, sys
row = sqlite3.connect(sys.argv[1]).execute("SELECT version FROM storesync_entries WHERE key = ?", (sys.argv[2],)).fetchone()
print(row[0] if row else "")' "$2/storesync.db" "$3"
  else
    # From "/": psql must not start in a directory it cannot enter (runfiles).
    (cd / && psql -qAt "$url" -c "SELECT version FROM storesync_entries WHERE key = '$3'")
  fi
}

# no_dead_letters: /v1/dead-letters is empty and status counts none.
no_dead_letters() {
  local letters
  letters="$(curl -s "$base/v1/dead-letters")"
  [[ "$letters" == *'"dead_letters":[]'* ]] || fail "$1: dead letters: ${letters:0:300}"
  [[ "$(status_value dead_letters)" == 0 ]] || fail "$1: /v1/status dead_letters is $(status_value dead_letters)"
}

# run_backend NAME DURABLE_FLAGS...: both scenarios on one durable store.
run_backend() {
  local name="$1" v c1 c2 stale metric
  shift
  local durable=("$@")
  local data="$work/$name"
  echo "=== $name: ${durable[*]:-embedded SQLite (default)}"

  # --- a. a stale client version after a restart -------------------------
  start_server "$server" "$work/$name-a1.log" --data-dir "$data" "${durable[@]}"
  put k version=5 '{"v":5}'
  [[ "$put_code" == 200 && "$(json_field outcome <<<"$put_body")" == applied ]] ||
    fail "$name a: PUT k?version=5 -> $put_code $put_body (wanted 200, applied)"
  stop_server
  start_server "$server" "$work/$name-a2.log" --data-dir "$data" "${durable[@]}"
  put k version=3 '{"v":3}'
  echo "$name a: after a restart, PUT k?version=3 -> $put_code $put_body"
  [[ "$put_code" == 200 ]] || fail "$name a: PUT k?version=3 -> $put_code $put_body (wanted 200)"
  [[ "$(json_field outcome <<<"$put_body")" == accepted ]] ||
    fail "$name a: PUT k?version=3 below the durable version 5 answered $put_body (wanted outcome accepted, never applied)"
  get k
  [[ "$get_code" == 200 ]] || fail "$name a: GET k after the accepted PUT -> $get_code $get_body (wanted 200: journalled and readable)"
  flush_all
  get k
  echo "$name a: after the flush, GET k -> $get_code $get_body"
  [[ "$get_code" == 200 && "$(json_field version <<<"$get_body")" == 5 ]] && value_is "$get_body" '{"v":5}' ||
    fail "$name a: GET k after the flush -> $get_code $get_body (wanted version 5, value {\"v\":5})"
  v="$(durable_version "$name" "$data" k)"
  [[ "$v" == 5 ]] || fail "$name a: the durable store holds k at version '$v' (wanted 5)"
  stale="$(status_value stale_at_flush)"
  [[ -n "$stale" ]] && ((stale >= 1)) || fail "$name a: /v1/status stale_at_flush is '$stale' (wanted >= 1)"
  metric="$(curl -s "$base/metrics" | awk '$1 == "storesync_write_behind_stale_at_flush_total" {print $2}')"
  [[ -n "$metric" ]] && awk -v m="$metric" 'BEGIN {exit !(m + 0 >= 1)}' ||
    fail "$name a: /metrics storesync_write_behind_stale_at_flush_total is '$metric' (wanted >= 1)"
  echo "$name a: stale_at_flush $stale, storesync_write_behind_stale_at_flush_total $metric"
  no_dead_letters "$name a"
  stop_server

  # --- b. the clock one hour behind ----------------------------------------
  start_server "$server" "$work/$name-b1.log" --data-dir "$data" "${durable[@]}"
  put c "" '{"v":"first"}'
  c1="$(json_field version <<<"$put_body")"
  [[ "$put_code" == 200 && "$(json_field outcome <<<"$put_body")" == applied && -n "$c1" ]] ||
    fail "$name b: PUT c -> $put_code $put_body (wanted 200, applied)"
  flush_all
  stop_server
  if [[ ! -f "$faketime_lib" ]]; then
    fail "$name b: $faketime_lib is missing: install the Debian package faketime (scripts/setup.sh does); the clock-behind check did not run"
    return
  fi
  start_server "$work/server-1h-behind" "$work/$name-b2.log" --data-dir "$data" "${durable[@]}"
  # The server really runs one hour behind: libfaketime is loaded into it.
  grep -q libfaketime "/proc/$pid/maps" || fail "$name b: libfaketime is not loaded into the server (pid $pid)"
  put c "" '{"v":"second"}'
  c2="$(json_field version <<<"$put_body")"
  echo "$name b: PUT c before: version $c1; on a clock 1 h behind: $put_code $put_body"
  [[ "$put_code" == 200 && "$(json_field outcome <<<"$put_body")" == applied ]] ||
    fail "$name b: PUT c with the clock 1 h behind -> $put_code $put_body (wanted 200, applied)"
  [[ -n "$c2" && -n "$c1" ]] && ((c2 > c1)) ||
    fail "$name b: the version assigned with the clock 1 h behind ($c2) is not above the first ($c1)"
  flush_all
  get c
  [[ "$get_code" == 200 ]] && value_is "$get_body" '{"v":"second"}' ||
    fail "$name b: GET c after the flush (clock 1 h behind) -> $get_code $get_body (wanted the new value)"
  v="$(durable_version "$name" "$data" c)"
  [[ "$v" == "$c2" ]] || fail "$name b: the durable store holds c at version '$v' (wanted $c2)"
  no_dead_letters "$name b"
  stop_server
  if [[ "$name" == sqlite ]]; then
    # The store stamped the row with the server's clock (ms): proof that the
    # clock was an hour behind when c was written.
    local stamped now_ms
    stamped="$(python3 -c 'import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT updated_at FROM storesync_entries WHERE key = ?", ("c",)).fetchone()[0])' "$data/storesync.db")"
    now_ms="$(($(date +%s) * 1000))"
    echo "$name b: SQLite updated_at of c: $stamped, now $now_ms ($(((now_ms - stamped) / 60000)) min behind)"
    ((now_ms - stamped >= 50 * 60 * 1000)) || fail "$name b: c was not written by a clock 1 h behind (updated_at $stamped, now $now_ms)"
  fi
  start_server "$server" "$work/$name-b3.log" --data-dir "$data" "${durable[@]}"
  get c
  echo "$name b: after a restart on the normal clock, GET c -> $get_code $get_body"
  [[ "$get_code" == 200 && "$(json_field version <<<"$get_body")" == "$c2" ]] && value_is "$get_body" '{"v":"second"}' ||
    fail "$name b: GET c after a restart on the normal clock -> $get_code $get_body (wanted version $c2, the new value)"
  stop_server
}

# libfaketime itself works here (the same preload, on date(1)).
if [[ -f "$faketime_lib" ]]; then
  behind=$(($(date +%s) - $(LD_PRELOAD="$faketime_lib" FAKETIME=-1h date +%s)))
  echo "libfaketime: date(1) under FAKETIME=-1h is ${behind}s behind"
  ((behind >= 3500 && behind <= 3700)) || fail "libfaketime does not set the clock 1 h back (date is ${behind}s behind)"
fi

run_backend sqlite
run_backend postgresql --durable "$url"

((failures == 0)) && echo "all version checks passed"
exit $failures
