#!/usr/bin/env bash
# Write-back, DuckDB -> PostgreSQL, against plain COPY, on a throwaway server:
#   bash bench/write_back.sh [RUNS]     (RUNS: 3 by default)
# STORESYNC_BENCH_ROWS rows (1,000,000 by default) of the memories example
# (id, category, strength numeric, created_at and updated_at timestamptz,
# content) in a DuckDB file. Each run, on fresh tables:
#   (w)  storesync-writeback lands them in a typed table (a first run)
#   (n)  storesync-writeback again, nothing changed
#   (c)  psql \copy of the same rows (a CSV DuckDB wrote beforehand, not
#        timed) into a table of the same columns and primary key
#   (t)  psql \copy of the rows (w) landed, storesync's columns included,
#        into an empty table with the same columns and indexes: what that
#        layout costs PostgreSQL alone
#   (s)  storesync-writeback of the first tenth of the rows, for its memory
# and prints the median and range of w/c in rows/s (target >= 0.5), w/t,
# n/w in time (target <= 0.05) and the peak RSS of w over s (target <= 1.2).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/pg.sh
trap pg_stop EXIT
pg_start >&2
bazel build -c opt //reference_server:storesync-writeback //bench:duckdb_exec >&2
export STORESYNC_BENCH_ROWS="${STORESYNC_BENCH_ROWS:-1000000}"
python3 bench/write_back.py "${1:-3}" "$root/bazel-out/k8-opt/bin"
