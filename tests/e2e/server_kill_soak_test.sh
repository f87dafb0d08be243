#!/usr/bin/env bash
# The kill soak: write-behind under a fast loader (soak.py: 8 processes,
# PUTs and 10 % DELETEs, every acknowledgement recorded), killed with
# SIGKILL at $STORESYNC_SOAK_KILLS random moments (5 by default) and
# restarted each time on the same data directory, until at least
# $STORESYNC_SOAK_WRITES writes (20,000 by default) were acknowledged. Then
# a flush, and every key's last acknowledged operation must hold in the
# durable store: 0 lost, 0 at an older version, 0 deletes resurrected, 0
# wrong values. $1 is the server, $2 soak.py, $3 the durable store: sqlite
# (in the data directory) or postgres (a private one, scripts/pg.sh).
# scripts/reliability.sh soak runs 50 kills and 1,000,000 writes per store.
# The kill moments are numbers of acknowledged writes, never times; every
# wait is for a condition, and $hang_guard_s (lib.sh) only guards a hang.
set -uo pipefail

source "$(dirname "$0")/lib.sh"
server="$1"
soak_py="$2"
store="$3"
kills="${STORESYNC_SOAK_KILLS:-5}"
writes="${STORESYNC_SOAK_WRITES:-20000}"
if [[ "$store" == postgres ]]; then
  start_private_postgres
  durable="$url"
else
  work="$(mktemp -d "${TEST_TMPDIR:-/tmp}/storesync-soak.XXXXXX")"
  pid=""
  loader=""
  trap '[[ -n "$loader" ]] && kill $loader 2>/dev/null; [[ -n "$pid" ]] && kill -9 $pid 2>/dev/null; rm -rf "$work"' EXIT
  durable="sqlite:$work/data/storesync.db"
fi
acks="$work/log"  # so_far and acked_at_least count its lines
: >"$acks"
acked() { grep -c '^A ' "$acks"; }
acked_at_least() { (($(acked) >= $1)); }
so_far() { echo "$(acked) writes acknowledged so far"; }

start_server "$server" "$work/server-0.log" --data-dir "$work/data" --durable "$durable"
load_start=$SECONDS
python3 "$soak_py" load "$base" "$acks" 8 2000 0 &
loader=$!
echo "soak on $store: $kills kills, at least $writes acknowledged writes"
step=$((writes / (kills + 1)))
target=0
killed=0
for ((k = 1; k <= kills; k++)); do
  target=$((target + step / 2 + RANDOM * step / 32768))
  wait_until "kill $k after $target acknowledged writes" acked_at_least "$target" || break
  kill -9 "$pid"
  wait "$pid" 2>/dev/null
  killed=$k
  # The restarted server has a new port: a new loader (its requests in
  # flight at the kill stay unacknowledged in the log).
  stop_loader
  start_server "$server" "$work/server-$k.log" --data-dir "$work/data" --durable "$durable"
  python3 "$soak_py" load "$base" "$acks" 8 2000 "$k" &
  loader=$!
done
wait_until "$writes acknowledged writes" acked_at_least "$writes"
load_s=$((SECONDS - load_start > 0 ? SECONDS - load_start : 1))
stop_loader
flush_all
if [[ "$store" == postgres ]]; then
  (cd / && psql -qAt -F $'\t' "$url" -c "SELECT key, version, tombstone, value FROM storesync_entries") >"$work/rows"
else
  python3 -c 'import sqlite3, sys
for k, v, t, val in sqlite3.connect(sys.argv[1]).execute("SELECT key, version, tombstone, value FROM storesync_entries"):
    print(k, v, t, val if val is not None else "null", sep="\t")' "$work/data/storesync.db" >"$work/rows"
fi
echo "$store: $killed kills with SIGKILL; the load took $load_s s, restarts included" \
  "($(($(acked) / load_s)) acknowledged writes/s)"
python3 "$soak_py" verify "$acks" "$work/rows" || fail "acknowledged writes not as acknowledged in $store"
stop_server
((failures == 0)) && echo "all kill-soak checks passed"
exit $failures
