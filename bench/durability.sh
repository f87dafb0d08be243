#!/usr/bin/env bash
# What each --journal-durability mode costs the reference server, side by
# side in one run: write-behind into PostgreSQL, keep-alive PUTs of ~200-byte
# values to distinct keys (bench/server_put.lua), for each mode
#   process | interval (--fsync-interval-ms 10) | interval (100) | always
# (c32) requests/s and latency with 32 connections, then (c1) latency with
# one connection. After each measurement: POST /v1/flush, and the table must
# hold at least as many rows as wrk saw 2xx answers. Prints the median and range over
# RUNS runs (3 by default) and each mode's ratios to `process`.
#   bash bench/durability.sh [RUNS] [SECONDS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
runs="${1:-3}"
seconds="${2:-10}"
source scripts/pg.sh
work="$(mktemp -d)"
trap 'pg_stop; rm -rf "$work"' EXIT
pg_start >/dev/null
bazel build -c opt //reference_server >/dev/null 2>&1
modes=("process" "interval 10" "interval 100" "always")

# measure NAME DURABILITY INTERVAL CONNECTIONS: one wrk run on a fresh server
# and database; appends "NAME CONNECTIONS rps p50 p99" to $work/results.
measure() {
  local name="$1" durability="$2" interval="$3" connections="$4"
  local db="bench_durability_$RANDOM$RANDOM"
  psql -q "$STORESYNC_TEST_PG_URL" -c "CREATE DATABASE $db"
  local url="${STORESYNC_TEST_PG_URL%/*}/$db" dir="$work/$db"
  ./bazel-bin/reference_server/reference_server --listen 127.0.0.1:0 --data-dir "$dir" --durable "$url" \
    --journal-durability "$durability" --fsync-interval-ms "$interval" --workers 8 \
    --max-pending 1000000 --max-pending-bytes 1073741824 >"$dir.log" 2>&1 &
  local server=$!
  for _ in $(seq 300); do grep -q "serving on" "$dir.log" 2>/dev/null && break; sleep 0.1; done
  local base line
  base="$(grep -o 'http://[0-9.:]*' "$dir.log" | head -1)"
  line="$(wrk -t"$((connections < 2 ? 1 : 2))" -c"$connections" -d"${seconds}s" --latency -s bench/server_put.lua "$base" | grep '^RESULT')"
  curl -s -X POST "$base/v1/flush?timeout_ms=600000" >/dev/null
  kill -TERM "$server"
  wait "$server" || true
  local requests non2xx rows
  requests=$(sed 's/.*requests=\([0-9]*\).*/\1/' <<<"$line")
  non2xx=$(sed 's/.*non2xx=\([0-9]*\).*/\1/' <<<"$line")
  rows=$(psql -qAt "$url" -c "SELECT count(*) FROM storesync_entries")
  # Requests in flight when wrk stops may land without wrk counting them.
  if ((rows < requests - non2xx)); then
    echo "$name c$connections: $((requests - non2xx)) acknowledged, only $rows rows after the flush" >&2
    exit 1
  fi
  echo "$name $connections $(sed 's/.*rps=\([0-9]*\).*p50_ms=\([0-9.]*\).*p99_ms=\([0-9.]*\).*/\1 \2 \3/' <<<"$line")" \
    >>"$work/results"
  psql -q "$STORESYNC_TEST_PG_URL" -c "DROP DATABASE $db"
}

for run in $(seq 1 "$runs"); do
  echo "run $run of $runs" >&2
  for m in "${modes[@]}"; do
    read -r durability interval <<<"$m"
    name="$durability${interval:+-$interval}"
    for c in 32 1; do measure "$name" "$durability" "${interval:-100}" "$c"; done
  done
done

python3 - "$work/results" "$runs" <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, c, rps, p50, p99 = line.split()
    rows[(name, int(c))].append((float(rps), float(p50), float(p99)))
names = list(dict.fromkeys(n for n, _ in rows))
def spread(values, fmt):
    return f"{fmt(statistics.median(values))} ({fmt(min(values))} - {fmt(max(values))})"
num = lambda v: f"{v:,.0f}"
ms = lambda v: f"{v:.3f}"
ratio = lambda v: f"{v:.2f}"
print(f"{sys.argv[2]} runs, median (min - max).")
print()
print("| mode | c32 requests/s | c32 p99 ms | c1 requests/s | c1 p50 ms | c1 p99 ms |")
print("|---|---:|---:|---:|---:|---:|")
for n in names:
    a, b = rows[(n, 32)], rows[(n, 1)]
    print(f"| {n} | {spread([r[0] for r in a], num)} | {spread([r[2] for r in a], ms)} | "
          f"{spread([r[0] for r in b], num)} | {spread([r[1] for r in b], ms)} | {spread([r[2] for r in b], ms)} |")
print()
print("Per run, each mode against `process` of the same run:")
print()
print("| mode | c32 requests/s | c1 requests/s | c1 p50 latency |")
print("|---|---:|---:|---:|")
base32, base1 = rows[("process", 32)], rows[("process", 1)]
for n in names:
    a, b = rows[(n, 32)], rows[(n, 1)]
    print(f"| {n} | {spread([x[0] / y[0] for x, y in zip(a, base32)], ratio)} | "
          f"{spread([x[0] / y[0] for x, y in zip(b, base1)], ratio)} | "
          f"{spread([x[1] / y[1] for x, y in zip(b, base1)], ratio)} |")
PY
