#!/usr/bin/env bash
# Typed tables against the JSON table, on a throwaway server:
#   bash bench/postgres_typed.sh [RUNS]     (RUNS: 3 by default)
# Each run writes the same STORESYNC_BENCH_ROWS entries (1,000,000 by default,
# six value fields of five types, batches of STORESYNC_BENCH_BATCH, 10,000)
#   (t)  through postgres_store into a typed table keyed by one text column
#   (j)  through postgres_store into its JSON table
#   (c)  by plain COPY, rows converted beforehand, into the same typed table
#   (t2) through postgres_store into a typed table with a (bigint, bigint) key
# and prints, over the runs, the median and range of t/j (target >= 0.9),
# t/c and t2/t.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/runs.sh"
repeat_benchmark postgres_typed_benchmark "${1:-3}"

python3 - "$runs_dir"/run*.json <<'PY'
import os, statistics, sys

sys.path.insert(0, os.environ["bench_dir"])
from runs import load_runs, spread

runs, ctx = load_runs(sys.argv[1:])

def column(name):
    return [r[name]["rows_per_s"] for r in runs]

rate = lambda v: f"{v:,.0f}"
ratio = lambda v: f"{v:.2f}"
t, j, c, t2 = (column(n) for n in ("BM_TypedWrite", "BM_JsonWrite", "BM_PlainCopyTypedTable",
                                   "BM_TypedCompositeWrite"))
print(f"Run: {ctx.get('date', '')}, {ctx.get('num_cpus')} CPUs; {len(runs)} runs of "
      f"{os.environ['STORESYNC_BENCH_ROWS']} entries, batches of {os.environ.get('STORESYNC_BENCH_BATCH', '10000')}; "
      "median (min - max).")
print()
print("| measurement | rows/s |")
print("|---|---:|")
print(f"| (t) postgres_store, typed table, text key | {spread(t, rate)} |")
print(f"| (j) postgres_store, JSON table | {spread(j, rate)} |")
print(f"| (c) plain COPY into the typed table | {spread(c, rate)} |")
print(f"| (t2) postgres_store, typed table, (bigint, bigint) key | {spread(t2, rate)} |")
print()
tj = [a / b for a, b in zip(t, j)]
tc = [a / b for a, b in zip(t, c)]
t2t = [a / b for a, b in zip(t2, t)]
ok = "met" if statistics.median(tj) >= 0.9 else "**not met**"
print("| ratio (per run) | median (min - max) | |")
print("|---|---:|---|")
print(f"| t / j, target >= 0.9 | {spread(tj, ratio)} | {ok} |")
print(f"| t / c | {spread(tc, ratio)} | |")
print(f"| t2 / t | {spread(t2t, ratio)} | |")
PY
