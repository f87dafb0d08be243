#!/usr/bin/env bash
# write_behind benchmark: starts a throwaway PostgreSQL and Redis, builds with -c opt,
# runs bench/write_behind_benchmark.cc and prints the ratio table that
# docs/benchmarks.md quotes. Sizes: see the benchmark's header comment.
#   bench/write_behind.sh [--benchmark_filter=...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/pg.sh
source scripts/redis.sh
trap 'redis_stop; pg_stop' EXIT
pg_start >/dev/null
redis_start >/dev/null
bazel build -c opt //bench:write_behind_benchmark >/dev/null 2>&1
out="$(mktemp)"
./bazel-bin/bench/write_behind_benchmark --benchmark_format=json --benchmark_out="$out" \
  --benchmark_out_format=json "$@" >/dev/null
python3 - "$out" <<'PY'
import json, sys
runs = {b["name"]: b for b in json.load(open(sys.argv[1]))["benchmarks"]}
def get(prefix, counter):
    for name, b in runs.items():
        if name.startswith(prefix):
            return b.get(counter)
    return None
print("| measurement | value |")
print("|---|---|")
for name, slow in (("BM_PutLatency", "PostgreSQL"), ("BM_PutLatencyMemorySlowStore", "memory (control)")):
    for threads in (1, 2):
        p = f"{name}/iterations:1/real_time/threads:{threads}"
        if p in runs:
            b = runs[p]
            print(f"| put, {threads} producer(s), draining to {slow}: p50 / p99 | {b['p50_us']:.1f} us / {b['p99_us']:.1f} us |")
            print(f"| put, {threads} producer(s), draining to {slow}: throughput | {b['puts_per_s']:,.0f} puts/s |")
drain = get("BM_DrainDistinctKeys", "rows_per_s")
direct = get("BM_PostgresStoreDirect", "rows_per_s")
single = get("BM_AutocommitInsertPerPut", "rows_per_s")
if drain: print(f"| drain of distinct keys, put to PostgreSQL | {drain:,.0f} rows/s |")
if direct: print(f"| postgres_store batch write | {direct:,.0f} rows/s |")
if single: print(f"| one autocommit INSERT per put | {single:,.0f} rows/s |")
if drain and direct: print(f"| drain / store batch write (target >= 0.8) | {drain / direct:.2f} |")
if drain and single: print(f"| drain / INSERT per put (target >= 20) | {drain / single:.1f} |")
for name, journal in (("BM_DrainBacklogFileJournal", "file journal, memory fast store"),
                      ("BM_DrainBacklogRedisStream", "Redis stream journal, Redis fast store")):
    rate = get(name, "rows_per_s")
    if rate:
        print(f"| drain of an owed backlog, {journal} | {rate:,.0f} rows/s |")
        if direct: print(f"| that / store batch write | {rate / direct:.2f} |")
hot = get("BM_HotSetCoalescing", "rows_per_put")
if hot is not None: print(f"| hot set (10 updates per key): rows written per put (target <= 0.11) | {hot:.3f} |")
PY
