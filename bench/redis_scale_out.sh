#!/usr/bin/env bash
# What sharing Redis costs the reference server, side by side in one run:
# write-behind into PostgreSQL (a throwaway one, scripts/pg.sh), keep-alive
# PUTs of ~200-byte values to distinct keys (bench/server_put.lua), with
#   file            the memory fast store and the file journal (interval, 10 ms): the baseline
#   redis-fast      a Redis fast store (appendfsync everysec), the file journal
#   stream-everysec a Redis fast store and journal stream, Redis appendfsync everysec
#   stream-always   the same, appendfsync always
#   stream-everysec x2, x3: two and three servers sharing that Redis
# (a throwaway Redis, scripts/redis.sh, AOF on). (c32) 32 connections in all,
# split evenly over the servers, each server's share from its own wrk; (c1)
# one connection, for the single-server setups. Also the CPU seconds Redis
# and the servers used per 10,000 requests (/proc), to say where the time
# goes on this 2-core machine. After each measurement every server flushes,
# and PostgreSQL must hold at least as many rows as wrk counted 2xx answers.
#   bash bench/redis_scale_out.sh [RUNS] [SECONDS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
runs="${1:-3}"
seconds="${2:-10}"
source scripts/pg.sh
source scripts/redis.sh
work="$(mktemp -d)"
trap 'redis_pause; pg_stop; rm -rf "$work"' EXIT
pg_start >/dev/null
redis_start >/dev/null
bazel build -c opt //reference_server >/dev/null 2>&1
redis="$STORESYNC_TEST_REDIS_URL/0"
rcli() { redis-cli -p "$STORESYNC_TEST_REDIS_PORT" "$@" >/dev/null; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# measure NAME SERVERS CONNECTIONS FLAGS...: one measurement on fresh
# servers, database and Redis; appends "NAME CONNECTIONS rps p50 p99
# redis_cpu server_cpu" (CPU seconds per 10,000 requests) to $work/results.
measure() {
  local name="$1" servers="$2" connections="$3"
  shift 3
  local db="bench_scale_$RANDOM$RANDOM" i
  psql -q "$STORESYNC_TEST_PG_URL" -c "CREATE DATABASE $db"
  rcli FLUSHALL
  local url="${STORESYNC_TEST_PG_URL%/*}/$db" pids=() bases=()
  for i in $(seq "$servers"); do
    ./bazel-bin/reference_server/reference_server --listen 127.0.0.1:0 --data-dir "$work/$db-$i" --durable "$url" \
      --workers 8 --max-pending 1000000 --max-pending-bytes 1073741824 \
      "${@//@ID@/s$i}" >"$work/$db-$i.log" 2>&1 &
    pids+=($!)
  done
  for i in $(seq "$servers"); do
    for _ in $(seq 600); do grep -q "serving on" "$work/$db-$i.log" 2>/dev/null && break; sleep 0.1; done
    bases+=("$(grep -o 'http://[0-9.:]*' "$work/$db-$i.log" | head -1)")
  done
  local redis_pid cpu_redis0 cpu_servers0=0 cpu_servers1=0
  redis_pid="$(cat "$STORESYNC_TEST_REDIS_DIR/redis.pid")"
  cpu_redis0="$(cpu_ticks "$redis_pid")"
  for p in "${pids[@]}"; do cpu_servers0=$((cpu_servers0 + $(cpu_ticks "$p"))); done
  local per=$((connections / servers)) wrks=()
  ((per >= 1)) || per=1
  for i in $(seq "$servers"); do
    wrk -t1 -c"$per" -d"${seconds}s" --latency -s bench/server_put.lua "${bases[$i - 1]}" -- "w$i-" \
      >"$work/$db-$i.wrk" &
    wrks+=($!)
  done
  wait "${wrks[@]}"
  local cpu_redis1
  cpu_redis1="$(cpu_ticks "$redis_pid")"
  for p in "${pids[@]}"; do cpu_servers1=$((cpu_servers1 + $(cpu_ticks "$p"))); done
  for b in "${bases[@]}"; do curl -s -X POST "$b/v1/flush?timeout_ms=600000" >/dev/null; done
  for p in "${pids[@]}"; do kill -TERM "$p"; done
  for p in "${pids[@]}"; do wait "$p" || true; done
  local requests=0 acked=0 rps=0 p50=0 p99=0 line rows
  for i in $(seq "$servers"); do
    line="$(grep '^RESULT' "$work/$db-$i.wrk")"
    read -r r n x a b <<<"$(sed 's/.*requests=\([0-9]*\) non2xx=\([0-9]*\) rps=\([0-9]*\) p50_ms=\([0-9.]*\) p99_ms=\([0-9.]*\).*/\1 \2 \3 \4 \5/' <<<"$line")"
    requests=$((requests + r))
    acked=$((acked + r - n))
    rps=$((rps + x))
    p50="$(python3 -c "print(max($p50, $a))")"
    p99="$(python3 -c "print(max($p99, $b))")"
  done
  rows=$(psql -qAt "$url" -c "SELECT count(*) FROM storesync_entries")
  if ((rows < acked)); then
    echo "$name c$connections: $acked acknowledged, only $rows rows after the flush" >&2
    exit 1
  fi
  local hz
  hz="$(getconf CLK_TCK)"
  echo "$name $connections $rps $p50 $p99 $(python3 -c "
r = $requests or 1
print(f'{($cpu_redis1 - $cpu_redis0) / $hz / r * 1e4:.3f} {($cpu_servers1 - $cpu_servers0) / $hz / r * 1e4:.3f}')")" \
    >>"$work/results"
  psql -q "$STORESYNC_TEST_PG_URL" -c "DROP DATABASE $db"
}

shared=(--fast "$redis" --journal "$redis/wb" --server-id @ID@)
for run in $(seq 1 "$runs"); do
  echo "run $run of $runs" >&2
  for c in 32 1; do
    measure file 1 "$c"
    rcli CONFIG SET appendfsync everysec
    measure redis-fast 1 "$c" --fast "$redis"
    measure stream-everysec 1 "$c" "${shared[@]}"
    rcli CONFIG SET appendfsync always
    measure stream-always 1 "$c" "${shared[@]}"
    rcli CONFIG SET appendfsync everysec
  done
  measure "stream-everysec x2" 2 32 "${shared[@]}"
  measure "stream-everysec x3" 3 32 "${shared[@]}"
done

python3 - "$work/results" "$runs" <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    *name, c, rps, p50, p99, cpu_redis, cpu_server = line.split()
    rows[(" ".join(name), int(c))].append(tuple(map(float, (rps, p50, p99, cpu_redis, cpu_server))))
names = list(dict.fromkeys(n for n, _ in rows))
def spread(values, fmt):
    return f"{fmt(statistics.median(values))} ({fmt(min(values))} - {fmt(max(values))})"
num = lambda v: f"{v:,.0f}"
ms = lambda v: f"{v:.3f}"
ratio = lambda v: f"{v:.2f}"
cell = lambda key, i, fmt: spread([r[i] for r in rows[key]], fmt) if key in rows else "-"
print(f"{sys.argv[2]} runs, median (min - max).")
print()
print("| setup | c32 requests/s | c32 p99 ms | c1 p50 ms | c1 p99 ms | CPU s per 10k requests (c32): Redis | servers |")
print("|---|---:|---:|---:|---:|---:|---:|")
for n in names:
    print(f"| {n} | {cell((n, 32), 0, num)} | {cell((n, 32), 2, ms)} | {cell((n, 1), 1, ms)} | "
          f"{cell((n, 1), 2, ms)} | {cell((n, 32), 3, ms)} | {cell((n, 32), 4, ms)} |")
print()
print("Per run, against `file` of the same run:")
print()
print("| setup | c32 requests/s | c1 p50 latency |")
print("|---|---:|---:|")
base32, base1 = rows[("file", 32)], rows[("file", 1)]
for n in names:
    a = spread([x[0] / y[0] for x, y in zip(rows[(n, 32)], base32)], ratio)
    b = spread([x[1] / y[1] for x, y in zip(rows[(n, 1)], base1)], ratio) if (n, 1) in rows else "-"
    print(f"| {n} | {a} | {b} |")
PY
