#!/usr/bin/env bash
# dual_write's cost per batch, on a throwaway server:
#   bash bench/dual_write.sh [RUNS]     (RUNS: 3 by default)
# Each run writes the same STORESYNC_BENCH_ROWS entries (200,000 by default,
# ~200 bytes, batches of STORESYNC_BENCH_BATCH, 1,000) into fresh stores:
#   (o) PostgreSQL then SQLite, each store's own batch write, no dual_write
#   (b) through dual_write, PostgreSQL primary, SQLite secondary, best effort
#   (s) the same, strict (it looks up the batch's keys in the primary first)
#   (ou), (bu), (su) the same three over keys both stores hold, at a newer
#       version (strict then reads each key's previous entry)
# and prints, over the runs, the median and range of the time per batch and
# of b/o, s/o, bu/ou, su/ou: what the intent log (and, strict, the reads)
# cost.
set -euo pipefail

export STORESYNC_BENCH_ROWS="${STORESYNC_BENCH_ROWS:-200000}"
source "$(dirname "${BASH_SOURCE[0]}")/runs.sh"
repeat_benchmark dual_write_benchmark "${1:-3}"

python3 - "$runs_dir"/run*.json <<'PY'
import os, statistics, sys

sys.path.insert(0, os.environ["bench_dir"])
from runs import load_runs, spread

runs, ctx = load_runs(sys.argv[1:])

def col(name):
    return [r[name]["ms_per_batch"] for r in runs]


ms = lambda v: f"{v:.2f} ms"
x = lambda v: f"{v:.2f}"
o, b, s = col("BM_BothStoresOwnWrites"), col("BM_DualWriteBestEffort"), col("BM_DualWriteStrict")
ou, bu, su = col("BM_BothStoresOwnUpdates"), col("BM_DualWriteBestEffortUpdates"), col("BM_DualWriteStrictUpdates")
print(f"Run: {ctx.get('date', '')}, {ctx.get('num_cpus')} CPUs; {len(runs)} runs of "
      f"{os.environ['STORESYNC_BENCH_ROWS']} entries in batches of {os.environ.get('STORESYNC_BENCH_BATCH', '1000')}; "
      "median (min - max).")
print()
print("| measurement | per batch |")
print("|---|---:|")
print(f"| (o) both stores' own writes, one after the other | {spread(o, ms)} |")
print(f"| (b) dual_write, best effort | {spread(b, ms)} |")
print(f"| (s) dual_write, strict | {spread(s, ms)} |")
print(f"| (ou) both stores' own writes, updates | {spread(ou, ms)} |")
print(f"| (bu) dual_write, best effort, updates | {spread(bu, ms)} |")
print(f"| (su) dual_write, strict, updates | {spread(su, ms)} |")
print()
print("| ratio (per run) | median (min - max) |")
print("|---|---:|")
print(f"| b / o | {spread([p / q for p, q in zip(b, o)], x)} |")
print(f"| s / o | {spread([p / q for p, q in zip(s, o)], x)} |")
print(f"| bu / ou | {spread([p / q for p, q in zip(bu, ou)], x)} |")
print(f"| su / ou | {spread([p / q for p, q in zip(su, ou)], x)} |")
PY
