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
# ACKFILE, other codes (and Retry-After) go to ACKFILE.rejected.
load() {
  exec python3 "$loader_py" "$base" "$@"
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
  rejected="$(tail -n "+$((rejected_at_pause + 1))" "$acks.rejected" 2>/dev/null | grep -cE '^(429|503) ')"
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
