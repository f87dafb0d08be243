# What the bench scripts that repeat one benchmark binary share; source it.
#
# repeat_benchmark TARGET RUNS: starts a throwaway PostgreSQL (stopped on
# exit), builds //bench:TARGET with -c opt, runs it RUNS times with JSON
# output, and sets $runs_dir to the directory holding run1.json ... runN.json.
# STORESYNC_BENCH_ROWS defaults to 1,000,000. Exports $bench_dir, where
# runs.py (the runs' reader, for the scripts' Python) is.
repeat_benchmark() {
  local target="$1" count="$2" root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  export bench_dir="$root/bench"
  cd "$root"
  source scripts/pg.sh
  trap pg_stop EXIT
  pg_start >&2
  bazel build -c opt "//bench:$target" >&2
  export STORESYNC_BENCH_ROWS="${STORESYNC_BENCH_ROWS:-1000000}"
  runs_dir="$(mktemp -d)"
  local i
  for i in $(seq 1 "$count"); do
    echo "run $i of $count" >&2
    "$root/bazel-out/k8-opt/bin/bench/$target" --benchmark_format=json >"$runs_dir/run$i.json"
  done
}
