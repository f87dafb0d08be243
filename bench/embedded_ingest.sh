#!/usr/bin/env bash
# Embedded stores, same run: builds the SQLite and DuckDB benchmarks with
# -c opt, runs them on 1,000,000 entries of ~200 bytes and prints a markdown
# table of rows/s with the ratios against the hand-written baselines.
#   bench/embedded_ingest.sh            # table on stdout, raw CSV in $OUT_DIR
#   PASSES=3 bench/embedded_ingest.sh   # more passes on a noisy machine
# Databases go to $TMPDIR/storesync_bench (about 1 GB free space needed).
# Targets: sqlite_store write >= 0.8x a prepared INSERT loop in one
# transaction; duckdb_store write >= 0.5x a plain Appender into a bare table.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="${OUT_DIR:-$(mktemp -d)}"
mkdir -p "$out"

bazel build -c opt //bench:sqlite_benchmark //bench:duckdb_benchmark >&2
bin="$(bazel info -c opt bazel-bin 2>/dev/null)/bench"

# Two passes (each runs every store benchmark next to its baseline); the best rate of
# each benchmark counts (a shared machine only ever makes a run slower).
passes="${PASSES:-2}"
: >"$out/sqlite.csv"
: >"$out/duckdb.csv"
for ((pass = 1; pass <= passes; ++pass)); do
  echo "pass $pass/$passes: sqlite_benchmark ..." >&2
  "$bin/sqlite_benchmark" --benchmark_format=csv >>"$out/sqlite.csv" 2>>"$out/sqlite.log"
  echo "pass $pass/$passes: duckdb_benchmark ..." >&2
  "$bin/duckdb_benchmark" --benchmark_format=csv >>"$out/duckdb.csv" 2>>"$out/duckdb.log"
done

# Best rows/s of the benchmark named $2 (up to its "/iterations" suffix) in CSV $1.
rate() {
  awk -F, -v want="\"$2/iterations" \
    'index($1, want) == 1 && $7 + 0 > best { best = $7 + 0 } END { printf "%.0f", best }' "$1"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
met() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t ? "met" : "NOT met") }'; }

sq_store="$(rate "$out/sqlite.csv" "BM_SqliteStoreBatchWrite/1000000")"
sq_hand="$(rate "$out/sqlite.csv" "BM_SqliteHandWrittenInsert")"
dk_store="$(rate "$out/duckdb.csv" "BM_DuckdbStoreBatchWrite")"
dk_plain="$(rate "$out/duckdb.csv" "BM_DuckdbPlainAppender")"
dk_changes="$(rate "$out/duckdb.csv" "BM_DuckdbStoreChangesAfter")"
dk_query="$(rate "$out/duckdb.csv" "BM_DuckdbQuerySourceRead")"
dk_read="$(rate "$out/duckdb.csv" "BM_DuckdbStorePointRead")"
r_sq="$(ratio "$sq_store" "$sq_hand")"
r_dk="$(ratio "$dk_store" "$dk_plain")"

cat <<TABLE
| measurement (1,000,000 entries, ~200 B) | rows/s | baseline rows/s | ratio | target |
|---|---:|---:|---:|---|
| SQLite: sqlite_store::write, one batch (one transaction) | $sq_store | $sq_hand (prepared INSERT loop, one transaction) | $r_sq | >= 0.8: $(met "$r_sq" 0.8) |
| DuckDB: duckdb_store::write, one batch | $dk_store | $dk_plain (plain Appender, bare table) | $r_dk | >= 0.5: $(met "$r_dk" 0.5) |
| DuckDB: duckdb_store::changes_after, batches of 10,000 | $dk_changes | | | (information) |
| DuckDB: duckdb_query_source::changes_after, batches of 10,000 | $dk_query | | | (information) |
| DuckDB: duckdb_store::read, one key at a time (reads/s) | $dk_read | | | (information) |
TABLE
echo "raw results: $out" >&2
