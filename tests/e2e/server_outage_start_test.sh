#!/usr/bin/env bash
# Starting while PostgreSQL is down. A private PostgreSQL is started (no
# table created in it) and stopped again; then:
#   1. direct mode (--mode direct) refuses to start: a non-zero exit, never
#      "serving on", and a message naming the durable store (its URL, with
#      the password redacted: the password never reaches the output);
#   2. write-behind starts anyway: it logs that postgresql "is unreachable
#      ... starting anyway", serves, /readyz is 503 naming postgresql as
#      down, /v1/status version_floor_known is false; 300 distinct keys PUT
#      are each answered 200 with outcome "accepted" and read back exactly;
#      a flush cannot complete;
#   3. PostgreSQL is started again: /readyz turns 200, POST /v1/flush
#      completes, version_floor_known turns true, and psql finds every key
#      in storesync_entries at the version its PUT was answered with (and
#      nothing else); the keys still read back; no dead letters; SIGTERM
#      exits 0.
# Every wait is for a condition; $hang_guard_s (lib.sh) only guards against
# a hang.
set -uo pipefail

source "$(dirname "$0")/lib.sh"
server="$1"
kv_py="$2"
start_private_postgres
port="$(cat "$pgdir/port")"
# The server gets a password in its URL (trust auth ignores it) to show it
# is never printed.
secret="pw-$RANDOM$RANDOM"
server_url="postgresql://postgres:$secret@127.0.0.1:$port/postgres"
redacted="postgresql://postgres:***@127.0.0.1:$port/postgres"
bash "$STORESYNC_TEST_PG_SCRIPT" pause "$pgdir" || { echo "could not stop PostgreSQL"; exit 1; }
echo "PostgreSQL at 127.0.0.1:$port is stopped"
keys=300

# --- 1. direct mode refuses to start -----------------------------------------
log="$work/direct.log"
"$server" --listen 127.0.0.1:0 --mode direct --durable "$server_url" --data-dir "$work/direct" >"$log" 2>&1 &
pid=$!
start=$SECONDS
until ! alive "$pid" || grep -q "serving on" "$log"; do
  ((SECONDS - start < hang_guard_s)) || { echo "direct mode neither exited nor served after ${hang_guard_s}s (hang guard)"; exit 1; }
  sleep 0.05
done
if grep -q "serving on" "$log"; then
  fail "direct mode started while PostgreSQL was down: $(cat "$log")"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null
else
  wait "$pid"
  rc=$?
  echo "direct mode while PostgreSQL is down: exit $rc: $(cat "$log")"
  ((rc != 0)) || fail "direct mode exited 0 while PostgreSQL was down"
  grep -qF "$redacted" "$log" && grep -qi "connect" "$log" ||
    fail "direct mode's message does not name the durable store ($redacted) and the failed connection: $(cat "$log")"
fi
pid=""
grep -qF "$secret" "$log" && fail "the password reached direct mode's output"

# --- 2. write-behind starts anyway --------------------------------------------
log="$work/outage.log"
start_server "$server" "$log" --data-dir "$work/data" --durable "$server_url"
grep -q "postgresql is unreachable.*starting anyway" "$log" ||
  fail "no 'postgresql is unreachable ... starting anyway' line: $(cat "$log")"
ready_code="$(curl -s -o "$work/readyz" -w '%{http_code}' "$base/readyz")"
echo "readyz while PostgreSQL is down: $ready_code $(cat "$work/readyz")"
[[ "$ready_code" == 503 ]] || fail "readyz answered $ready_code while PostgreSQL was down (wanted 503)"
[[ "$(json_field stores <"$work/readyz" | json_field postgresql | json_field state)" == down ]] ||
  fail "readyz does not name postgresql as down: $(cat "$work/readyz")"
[[ "$(status_value version_floor_known)" == false ]] ||
  fail "version_floor_known is '$(status_value version_floor_known)' while PostgreSQL was never reached (wanted false)"

acks="$work/acks"
python3 "$kv_py" put "$base" outage- "$keys" 200 "$acks" --outcome accepted ||
  fail "PUTs while PostgreSQL is down were not all 200 with outcome accepted"
[[ "$(wc -l <"$acks")" == "$keys" ]] || fail "$(wc -l <"$acks") of $keys PUTs acknowledged"
python3 "$kv_py" check "$base" outage- "$keys" 200 || fail "keys written while PostgreSQL is down do not read back"
out="$(curl -s -X POST "$base/v1/flush?timeout_ms=200")"
[[ "$out" == *'"complete":false'* ]] || fail "a flush reported '$out' while PostgreSQL was down (wanted complete:false)"
grep -qF "$secret" "$log" "$work/readyz" && fail "the password reached the log or readyz"

# --- 3. PostgreSQL is back ----------------------------------------------------
bash "$STORESYNC_TEST_PG_SCRIPT" resume "$pgdir" || fail "could not start PostgreSQL again"
ready_200() { [[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")" == 200 ]]; }
wait_for "readyz 200 after PostgreSQL started" ready_200 && echo "readyz: $(curl -s "$base/readyz")"
flush_all
[[ "$(status_value version_floor_known)" == true ]] ||
  fail "version_floor_known is '$(status_value version_floor_known)' after PostgreSQL started (wanted true)"
# From "/": psql must not start in a directory it cannot enter (runfiles).
(cd / && psql -qAt -F ' ' "$url" -c "SELECT key, version FROM storesync_entries ORDER BY key") >"$work/pg" ||
  fail "psql could not read storesync_entries"
sort "$acks" >"$work/acks.sorted"
sort "$work/pg" >"$work/pg.sorted"
if cmp -s "$work/acks.sorted" "$work/pg.sorted"; then
  echo "PostgreSQL holds all $keys keys, each at the version its PUT was answered with"
else
  fail "storesync_entries differs from the acknowledged PUTs (< acknowledged, > PostgreSQL): $(diff "$work/acks.sorted" "$work/pg.sorted" | head -6)"
fi
python3 "$kv_py" check "$base" outage- "$keys" 200 || fail "keys do not read back after the flush"
letters="$(curl -s "$base/v1/dead-letters")"
[[ "$letters" == *'"dead_letters":[]'* ]] || fail "dead letters: ${letters:0:300}"
echo "status: $(curl -s "$base/v1/status")"
stop_server

((failures == 0)) && echo "all outage-start checks passed"
exit $failures
