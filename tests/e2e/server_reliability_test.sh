#!/usr/bin/env bash
# The reference server in write-behind mode over the real PostgreSQL of
# scripts/test.sh: nothing acknowledged is lost when
#   1. the server is killed with SIGKILL under load (several kill points),
#   2. PostgreSQL is stopped for 10 s under load (readyz says so, writes
#      continue up to the bound, then 429/503),
#   3. the server gets SIGTERM under load (it exits 0).
# "Acknowledged" means a 200 the loader (put_load.py, ~2k PUTs/s) saw; after
# recovery and POST /v1/flush, PostgreSQL must hold each such key at (at
# least) that version.
# It stops PostgreSQL, so it starts a private one (scripts/pg.sh).
set -uo pipefail

source "$(dirname "$0")/lib.sh"
server="$1"
loader_py="$2"
: "${STORESYNC_TEST_PG_SCRIPT:?run scripts/test.sh}"
work="$(mktemp -d /tmp/storesync-e2e.XXXXXX)"
pid=""
pgdir="$(bash "$STORESYNC_TEST_PG_SCRIPT" start)" || { echo "could not start PostgreSQL"; exit 1; }
trap '[[ -n "$pid" ]] && kill -9 $pid 2>/dev/null; bash "$STORESYNC_TEST_PG_SCRIPT" stop "$pgdir"; rm -rf "$work"' EXIT
url="$(cat "$pgdir/url")"
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

start_server_pg() {  # start_server_pg LOGFILE [flags...]: on the data dir and PostgreSQL
  local log="$1"
  shift
  start_server "$server" "$log" --data-dir "$work/data" --durable "$url" "$@"
}

# load PREFIX COUNT ACKFILE [CONNECTIONS [KEYS]]: keep-alive PUTs (put_load.py,
# 4 connections, 300 keys by default); each 200 appends "key version" to
# ACKFILE, other codes go to ACKFILE.rejected.
load() {
  exec python3 "$loader_py" "$base" "$@"
}

# verify ACKFILE: every acknowledged key is in PostgreSQL at >= its last acked version.
verify() {
  local acks="$1" missing
  sort -k1,1 -k2,2n "$acks" | awk '{last[$1] = $2} END {for (k in last) print k, last[k]}' >"$acks.last"
  psql -qAt -F ' ' "$url" -c "SELECT key, version FROM storesync_entries" >"$acks.pg"
  missing="$(awk 'NR == FNR {pg[$1] = $2; next} !($1 in pg) || pg[$1] + 0 < $2 + 0 {print}' "$acks.pg" "$acks.last" | head -5)"
  [[ -z "$missing" ]] || fail "acknowledged writes missing from PostgreSQL ($acks): $missing"
  echo "verified $(wc -l <"$acks.last") keys from $(wc -l <"$acks") acknowledged PUTs"
}

flush() {
  local out
  out="$(curl -s -m 130 -X POST "$base/v1/flush?timeout_ms=120000")"
  [[ "$out" == *'"complete":true'* ]] || fail "flush did not complete: $out"
}

# 1. SIGKILL under load, three kill points, then restart on the same data dir.
for kill_after in 0.5 1.5 3; do
  acks="$work/acks-kill-$kill_after"
  : >"$acks"
  start_server_pg "$work/kill-$kill_after.log"
  load "kill$kill_after-" 100000 "$acks" &
  loader=$!
  sleep "$kill_after"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null
  kill "$loader" 2>/dev/null
  wait "$loader" 2>/dev/null
  [[ -s "$acks" ]] || fail "no PUT was acknowledged before the kill at ${kill_after}s"
  start_server_pg "$work/restart-$kill_after.log"
  flush
  verify "$acks"
  kill -TERM "$pid"
  wait "$pid"
done

# 2. PostgreSQL down for 10 s under load, with a pending bound the load fills
# in a few seconds of the outage: distinct keys, so nothing coalesces.
acks="$work/acks-outage"
: >"$acks"
start_server_pg "$work/outage.log" --max-pending 5000 --backpressure-timeout-ms 20
load outage- 1000000 "$acks" 4 1000000 &
loader=$!
sleep 1
before_outage="$(wc -l <"$acks")"
bash "$STORESYNC_TEST_PG_SCRIPT" pause "$pgdir" || fail "could not stop PostgreSQL"
sleep 2
ready_code="$(curl -s -o "$work/readyz" -w '%{http_code}' "$base/readyz")"
[[ "$ready_code" == 503 ]] || fail "readyz answered $ready_code while PostgreSQL was down"
grep -q '"postgresql":{"error"' "$work/readyz" || grep -q '"state":"down"' "$work/readyz" || fail "readyz does not name the store: $(cat "$work/readyz")"
sleep 8
during="$(( $(wc -l <"$acks") - before_outage ))"
echo "while PostgreSQL was down: $during PUTs acknowledged, $(wc -l <"$acks.rejected" 2>/dev/null || echo 0) answered 429/503 in all"
bash "$STORESYNC_TEST_PG_SCRIPT" resume "$pgdir" || fail "could not restart PostgreSQL"
sleep 1
kill "$loader" 2>/dev/null
wait "$loader" 2>/dev/null
((during > 0)) || fail "no write was acknowledged while PostgreSQL was down"
grep -qE '^(429|503)$' "$acks.rejected" 2>/dev/null || fail "the pending bound never answered 429/503"
flush
verify "$acks"
[[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")" == 200 ]] || fail "readyz not 200 after PostgreSQL returned"
kill -TERM "$pid"
wait "$pid"

# 3. SIGTERM under load: exit 0, and everything acknowledged is durable.
acks="$work/acks-term"
: >"$acks"
start_server_pg "$work/term.log"
load term- 100000 "$acks" &
loader=$!
sleep 1.5
kill -TERM "$pid"
wait "$pid"
rc=$?
kill "$loader" 2>/dev/null
wait "$loader" 2>/dev/null
((rc == 0)) || fail "exit status $rc after SIGTERM under load"
grep -q "everything flushed" "$work/term.log" || fail "shutdown did not flush: $(tail -2 "$work/term.log")"
verify "$acks"
pid=""

((failures == 0)) && echo "all reliability checks passed"
exit $failures
