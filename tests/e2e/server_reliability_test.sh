#!/usr/bin/env bash
# The reference server in write-behind mode over the real PostgreSQL of
# scripts/test.sh: nothing acknowledged is lost when
#   1. the server is killed with SIGKILL under load (three kill points, each
#      after a number of acknowledged PUTs: 200, then random in 1000-3000,
#      then random in 4000-8000),
#   2. PostgreSQL is stopped under load (readyz says so, writes continue up
#      to the bound, then 429/503) and started again,
#   3. the server gets SIGTERM under load (it exits 0).
# "Acknowledged" means a 200 the loader (put_load.py) saw; after recovery and
# POST /v1/flush, PostgreSQL must hold each such key at (at least) that
# version.
# Every step waits for progress (acknowledged PUTs, rejections, a status
# field), never for wall-clock time, so a slow or loaded machine only makes
# the test take longer. Waits fail early when the server or the loader exits
# first; $hang_guard_s (lib.sh) only guards against a hang.
# It stops PostgreSQL, so it starts a private one (scripts/pg.sh).
set -uo pipefail

source "$(dirname "$0")/lib.sh"
server="$1"
loader_py="$2"
start_private_postgres

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

lines() { wc -l 2>/dev/null <"$1" || echo 0; }  # lines FILE: 0 when FILE is missing

# stop_loader: ends the loader of the current step (if it still runs).
stop_loader() {
  [[ -n "$loader" ]] || return 0
  kill "$loader" 2>/dev/null
  wait "$loader" 2>/dev/null
  loader=""
}

# wait_until WHAT CHECK [ARGS...]: polls CHECK until it returns 0. When CHECK
# returns 2 (it explains why in $why), when the server ($pid) or the loader
# ($loader) exits first, or after the hang guard, it records a failure naming
# WHAT and the PUTs acknowledged so far (in $acks), and returns 1.
wait_until() {
  local what="$1" start=$SECONDS rc
  shift
  while :; do
    why=""
    "$@"
    rc=$?
    ((rc == 0)) && return 0
    if ((rc >= 2)); then fail "$what: $why ($(so_far))"; return 1; fi
    if ! alive "$pid"; then fail "$what: the server exited first ($(so_far))"; return 1; fi
    if [[ -n "$loader" ]] && ! alive "$loader"; then fail "$what: the loader exited first ($(so_far))"; return 1; fi
    if ((SECONDS - start >= hang_guard_s)); then
      fail "$what: not reached after ${hang_guard_s}s, a hang ($(so_far))"
      return 1
    fi
    sleep 0.02
  done
}

so_far() { echo "$(lines "$acks") PUTs acknowledged, $(lines "$acks.rejected") rejected so far"; }
acked_at_least() { (($(lines "$acks") >= $1)); }  # acked_at_least N: $acks has N lines


# verify ACKFILE: every acknowledged key is in PostgreSQL at >= its last acked version.
verify() {
  local acks="$1" missing
  sort -k1,1 -k2,2n "$acks" | awk '{last[$1] = $2} END {for (k in last) print k, last[k]}' >"$acks.last"
  # From "/": psql must not start in a directory it cannot enter (runfiles).
  (cd / && psql -qAt -F ' ' "$url" -c "SELECT key, version FROM storesync_entries") >"$acks.pg" ||
    fail "psql could not read storesync_entries"
  missing="$(awk 'NR == FNR {pg[$1] = $2; next} !($1 in pg) || pg[$1] + 0 < $2 + 0 {print}' "$acks.pg" "$acks.last" | head -5)"
  [[ -z "$missing" ]] || fail "acknowledged writes missing from PostgreSQL ($acks): $missing"
  echo "verified $(wc -l <"$acks.last") keys from $(wc -l <"$acks") acknowledged PUTs"
}


# 1. SIGKILL under load at three kill points, each a number of acknowledged
# PUTs, then restart on the same data dir.
kill_points=(200 $((1000 + RANDOM % 2001)) $((4000 + RANDOM % 4001)))
echo "kill points (acknowledged PUTs): ${kill_points[*]}"
for kill_at in "${kill_points[@]}"; do
  acks="$work/acks-kill-$kill_at"
  : >"$acks"
  start_server_pg "$work/kill-$kill_at.log"
  load "kill$kill_at-" 1000000 "$acks" &
  loader=$!
  wait_until "kill -9 after $kill_at acknowledged PUTs" acked_at_least "$kill_at"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null
  stop_loader
  echo "killed the server under load after $(lines "$acks") acknowledged PUTs (kill point $kill_at)"
  start_server_pg "$work/restart-$kill_at.log"
  flush_all
  verify "$acks"
  kill -TERM "$pid"
  wait "$pid"
done

# 2. PostgreSQL down under load, with a pending bound the load fills during
# the outage: distinct keys, so nothing coalesces. The outage lasts until
# the bound has answered 429/503, however long the load takes to get there.
max_pending=5000
acks="$work/acks-outage"
: >"$acks"
start_server_pg "$work/outage.log" --max-pending "$max_pending" --backpressure-timeout-ms 20
load outage- 100000000 "$acks" 4 100000000 &
loader=$!
# Before the outage: writes reach PostgreSQL, and the flusher keeps up (the
# pending set is well below the bound, so the outage has room to fill).
flusher_keeps_up() {
  acked_at_least 500 || return 1
  local pending in_flight
  pending="$(status_value pending)"
  in_flight="$(status_value in_flight)"
  [[ -n "$pending" && -n "$in_flight" ]] && ((pending + in_flight < max_pending / 2))
}
wait_until "500 acknowledged PUTs with the flusher keeping up, before the outage" flusher_keeps_up
bash "$STORESYNC_TEST_PG_SCRIPT" pause "$pgdir" || fail "could not stop PostgreSQL"
acked_at_pause="$(lines "$acks")"
rejected_at_pause="$(lines "$acks.rejected")"
# During the outage: PUTs are acknowledged (into the journal) until the
# pending bound is reached, then answered 429/503.
during=0
outage_progress() {
  during=$(($(lines "$acks") - acked_at_pause))
  local rejected
  rejected="$(tail -n "+$((rejected_at_pause + 1))" "$acks.rejected" 2>/dev/null | grep -cE '^(429|503)$')"
  ((rejected > 0 && during > 0)) && return 0
  if ((during == 0 && rejected >= 2000)); then
    why="$rejected PUTs rejected and none acknowledged since PostgreSQL stopped"
    return 2
  fi
  return 1
}
wait_until "the pending bound answering 429/503 after PUTs acknowledged while PostgreSQL was down" outage_progress
ready_code="$(curl -s -o "$work/readyz" -w '%{http_code}' "$base/readyz")"
[[ "$ready_code" == 503 ]] || fail "readyz answered $ready_code while PostgreSQL was down"
grep -q '"postgresql":{"error"' "$work/readyz" || grep -q '"state":"down"' "$work/readyz" || fail "readyz does not name the store: $(cat "$work/readyz")"
echo "while PostgreSQL was down: $during PUTs acknowledged, then the bound answered 429/503 ($(lines "$acks.rejected") rejected in all); status: $(curl -s "$base/v1/status")"
bash "$STORESYNC_TEST_PG_SCRIPT" resume "$pgdir" || fail "could not restart PostgreSQL"
# After the outage: the pending set drains and PUTs are acknowledged again.
acked_at_resume="$(lines "$acks")"
wait_until "200 acknowledged PUTs after PostgreSQL returned" acked_at_least $((acked_at_resume + 200))
stop_loader
flush_all
verify "$acks"
ready_200() { [[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")" == 200 ]]; }
wait_until "readyz 200 after PostgreSQL returned" ready_200
kill -TERM "$pid"
wait "$pid"

# 3. SIGTERM under load (after 2000 acknowledged PUTs): exit 0, and
# everything acknowledged is durable. The shutdown flush may take as long as
# it needs on a loaded machine; its limit only guards against a hang.
acks="$work/acks-term"
: >"$acks"
start_server_pg "$work/term.log" --shutdown-timeout-ms $((hang_guard_s * 1000))
load term- 1000000 "$acks" &
loader=$!
wait_until "SIGTERM after 2000 acknowledged PUTs" acked_at_least 2000
kill -TERM "$pid"
wait "$pid"
rc=$?
stop_loader
((rc == 0)) || fail "exit status $rc after SIGTERM under load"
grep -q "everything flushed" "$work/term.log" || fail "shutdown did not flush: $(tail -2 "$work/term.log")"
verify "$acks"
pid=""

((failures == 0)) && echo "all reliability checks passed"
exit $failures
