#!/usr/bin/env bash
# reconciler::check between PostgreSQL and SQLite, on a throwaway server:
#   bash bench/reconcile.sh [RUNS]     (RUNS: 3 by default)
# Both stores hold the same STORESYNC_BENCH_ROWS entries (1,000,000 by
# default) but for 10 scattered differences. Each run measures, in one
# process on the same data:
#   (c) reconciler::check of the whole key space
#   (s) both sides scanned in key order and compared row by row
#   (n) count(*) on both sides
# and prints, over the runs, the median and range of c/s (target <= 0.3),
# the rows c read as a share of the two tables (target <= 1 %), c/n, and
# whether the 10 differences were found exactly.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/runs.sh"
repeat_benchmark reconcile_benchmark "${1:-3}"

python3 - "$runs_dir"/run*.json <<'PY'
import os, statistics, sys

sys.path.insert(0, os.environ["bench_dir"])
from runs import load_runs, spread

runs, ctx = load_runs(sys.argv[1:])
rows = int(os.environ["STORESYNC_BENCH_ROWS"])

def ms(name):
    return [r[name]["real_time"] for r in runs]


c, s, n = ms("BM_ReconcilerCheck"), ms("BM_FullScanCompare"), ms("BM_CountBothSides")
share = [r["BM_ReconcilerCheck"]["rows_read"] / (2 * rows) for r in runs]
exact = all(r["BM_ReconcilerCheck"]["found_exactly"] == 1 for r in runs)
found = [int(r["BM_ReconcilerCheck"]["differences"]) for r in runs]
checksums = [int(r["BM_ReconcilerCheck"]["checksums"]) for r in runs]
t = lambda v: f"{v:,.0f} ms"
x = lambda v: f"{v:.3f}"
pct = lambda v: f"{100 * v:.3f} %"
print(f"Run: {ctx.get('date', '')}, {ctx.get('num_cpus')} CPUs; {len(runs)} runs, {rows:,} rows a side, "
      "10 differences; median (min - max).")
print()
print("| measurement | time |")
print("|---|---:|")
print(f"| (c) reconciler check | {spread(c, t)} |")
print(f"| (s) ordered scan of both sides, compared row by row | {spread(s, t)} |")
print(f"| (n) count(*) on both sides | {spread(n, t)} |")
print()
cs = [a / b for a, b in zip(c, s)]
cn = [a / b for a, b in zip(c, n)]
ok = lambda cond: "met" if cond else "**not met**"
print("| ratio (per run) | median (min - max) | target |")
print("|---|---:|---|")
print(f"| c / s | {spread(cs, x)} | <= 0.3: {ok(statistics.median(cs) <= 0.3)} |")
print(f"| rows c read / rows of both tables | {spread(share, pct)} | <= 1 %: {ok(max(share) <= 0.01)} |")
print(f"| c / n | {spread(cn, x)} | reported |")
print(f"| differences found | {found} ({checksums[0]} checksums in run 1) | exactly the 10: {ok(exact)} |")
PY
