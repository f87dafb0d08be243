#!/usr/bin/env bash
# PostgreSQL ingest comparison for postgres_store, on a throwaway server:
#   bash bench/postgres_ingest.sh
# Measures on the same run and the same entries (STORESYNC_BENCH_ROWS, default
# 1,000,000 of ~200 bytes; batches of STORESYNC_BENCH_BATCH, default 10,000):
#   (a) postgres_store batch write of new keys
#   (b) one plain COPY into a bare table with the same columns
#   (c) one autocommit INSERT per row (a sample of STORESYNC_BENCH_SINGLE rows)
#   (d) postgres_store re-writing the same entries (nothing to apply), and
#       the same keys at an older version (all stale)
#   (e) for reference, plain COPY in the same batches, sorted by key, into a
#       table with the store's primary key and (version, key) index: what
#       those two indexes cost with no storesync code involved
# then the writer's peak RSS after N and 2N batches (its own process), and
# prints a markdown table with the ratios and targets.
# STORESYNC_BENCH_KEYS=scrambled writes keys in a scrambled order instead of
# ascending.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/pg.sh
trap pg_stop EXIT
pg_start >&2

bazel build -c opt //bench:postgres_benchmark >&2
bin="$root/bazel-out/k8-opt/bin/bench/postgres_benchmark"

out="$(mktemp -d)"
"$bin" --benchmark_format=json \
  --benchmark_filter='^BM_(PostgresStoreWriteNewKeys|PostgresStoreRewriteSame|PostgresStoreRewriteOlder|PlainCopyBareTable|PlainCopyIndexedTable|AutocommitInsertPerRow)/' \
  >"$out/ingest.json"
"$bin" --benchmark_format=json --benchmark_filter='^BM_PostgresStoreWriterMemory/' >"$out/memory.json"

python3 - "$out/ingest.json" "$out/memory.json" <<'PY'
import json, os, sys

def load(path):
    with open(path) as f:
        data = json.load(f)
    return {b["name"].split("/")[0]: b for b in data["benchmarks"]}, data["context"]

ingest, ctx = load(sys.argv[1])
memory, _ = load(sys.argv[2])

def rate(name):
    b = ingest[name]
    if b.get("error_occurred"):
        sys.exit(f"{name} failed: {b.get('error_message')}")
    return b["rows_per_s"], int(b["rows"])

a, na = rate("BM_PostgresStoreWriteNewKeys")
b, nb = rate("BM_PlainCopyBareTable")
c, nc = rate("BM_AutocommitInsertPerRow")
d, nd = rate("BM_PostgresStoreRewriteSame")
d2, nd2 = rate("BM_PostgresStoreRewriteOlder")
e, ne = rate("BM_PlainCopyIndexedTable")
m = memory["BM_PostgresStoreWriterMemory"]
ok = lambda cond: "met" if cond else "**not met**"

print(f"Run: {ctx.get('date', '')}, {ctx.get('num_cpus')} CPUs; "
      f"keys {os.environ.get('STORESYNC_BENCH_KEYS', 'ascending')}, "
      f"batches of {os.environ.get('STORESYNC_BENCH_BATCH', '10000')}.")
print()
print("| measurement | rows | rows/s | ratio |")
print("|---|---:|---:|---:|")
print(f"| (a) postgres_store write, new keys | {na:,} | {a:,.0f} | 1.00 |")
print(f"| (b) plain COPY into a bare table | {nb:,} | {b:,.0f} | a/b = {a / b:.2f} |")
print(f"| (c) autocommit INSERT per row (sample) | {nc:,} | {c:,.0f} | a/c = {a / c:.1f} |")
print(f"| (d) postgres_store re-write, same entries (all unchanged) | {nd:,} | {d:,.0f} | d/a = {d / a:.2f} |")
print(f"| (d') postgres_store re-write, older versions (all stale) | {nd2:,} | {d2:,.0f} | d'/a = {d2 / a:.2f} |")
print(f"| (e) plain COPY in the same batches into a table with the store's two indexes | {ne:,} | {e:,.0f} | a/e = {a / e:.2f}, e/b = {e / b:.2f} |")
print()
print("| target | value | |")
print("|---|---:|---|")
print(f"| (a) >= 0.5 x (b) | {a / b:.2f} x | {ok(a >= 0.5 * b)} |")
print(f"| (a) >= 20 x (c) | {a / c:.1f} x | {ok(a >= 20 * c)} |")
print(f"| (d) >= (a) | {d / a:.2f} x (stale: {d2 / a:.2f} x) | {ok(d >= a and d2 >= a)} |")
n = int(m["batches_n"])
r1, r2 = m["peak_rss_kib_after_n"], m["peak_rss_kib_after_2n"]
print(f"| writer peak RSS flat in batches | {n} batches: {r1 / 1024:.1f} MiB; "
      f"{2 * n} batches: {r2 / 1024:.1f} MiB | {ok(r2 <= r1 * 1.05)} |")
PY
