#!/usr/bin/env bash
# Before and after, side by side: builds a benchmark at BASE (a git revision,
# in a worktree with its own Bazel output base) and at the working tree, then
# alternates the two against one throwaway PostgreSQL, so machine noise hits
# both alike. Prints one line per run.
#   bench/side_by_side.sh put BASE [RUNS]      # write_behind_benchmark, BM_PutLatency/ (1 and 2 producers)
#   bench/side_by_side.sh drain BASE [RUNS]    # write_behind_benchmark, drain vs the store's batch write
#   bench/side_by_side.sh server BASE [RUNS]   # reference server under wrk, write-behind and direct, 10 s each
# With SBS_CACHE=DIR the build at BASE is kept in DIR/<commit> and reused by
# the next call (delete it when done); without, it is built and removed.
set -uo pipefail
what="${1:?put, drain or server}"
base="${2:?a git revision to compare with}"
runs="${3:-3}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/pg.sh
work="$(mktemp -d /tmp/storesync-sbs.XXXXXX)"
commit="$(git rev-parse --verify "$base^{commit}")" || exit 1
if [[ -n "${SBS_CACHE:-}" ]]; then
  kept="$SBS_CACHE/$commit"
  trap 'pg_stop; rm -rf "$work"' EXIT
else
  kept="$work"
  trap 'pg_stop; git worktree remove --force "$work/base" >/dev/null 2>&1; rm -rf "$work"' EXIT
fi

case "$what" in
  put | drain) target=//bench:write_behind_benchmark ;;
  server) target=//reference_server:reference_server ;;
  *) echo "unknown: $what" >&2; exit 2 ;;
esac
binary="bazel-out/k8-opt/bin/${target#//}"
binary="${binary/://}"
mkdir -p "$kept"
[[ -d "$kept/base" ]] || git worktree add -q --detach "$kept/base" "$commit" || exit 1
(cd "$kept/base" && bazel --output_base="$kept/bazel-base" build -c opt //bench:write_behind_benchmark //reference_server >/dev/null 2>&1) || { echo "build at $base failed"; exit 1; }
bazel build -c opt "$target" >/dev/null 2>&1 || { echo "build of the working tree failed"; exit 1; }
cp "$kept/base/$binary" "$work/before"
cp "$binary" "$work/after"
(cd "$kept/base" && bazel --output_base="$kept/bazel-base" shutdown >/dev/null 2>&1)
pg_start >/dev/null

bench() {  # bench BINARY FILTER: one JSON run, summarised on one line
  local out="$work/out.json"
  "$work/$1" --benchmark_filter="$2" --benchmark_format=json --benchmark_out="$out" \
    --benchmark_out_format=json >/dev/null 2>&1
  python3 - "$out" <<'PY'
import json, sys
b = {x["name"]: x for x in json.load(open(sys.argv[1]))["benchmarks"]}
row = []
for t in (1, 2):
    k = f"BM_PutLatency/iterations:1/real_time/threads:{t}"
    if k in b: row.append(f"{t} producer(s): p50 {b[k]['p50_us']:.1f} us, p99 {b[k]['p99_us']:.1f} us, {b[k]['puts_per_s']:,.0f} puts/s")
d = next((x for n, x in b.items() if n.startswith("BM_DrainDistinctKeys")), None)
s = next((x for n, x in b.items() if n.startswith("BM_PostgresStoreDirect")), None)
if d and s: row.append(f"drain {d['rows_per_s']:,.0f} rows/s, store {s['rows_per_s']:,.0f} rows/s, ratio {d['rows_per_s'] / s['rows_per_s']:.2f}")
print("; ".join(row))
PY
}

serve() {  # serve BINARY MODE: wrk for 10 s, then flush and count rows
  local db="sbs$RANDOM$RANDOM" log="$work/server.log" server url line
  (cd / && psql -q "$STORESYNC_TEST_PG_URL" -c "CREATE DATABASE $db")
  url="${STORESYNC_TEST_PG_URL%/*}/$db"
  "$work/$1" --listen 127.0.0.1:0 --mode "$2" --data-dir "$work/data-$db" --durable "$url" --workers 8 \
    --journal-durability process \
    --max-pending 1000000 --max-pending-bytes 1073741824 >"$log" 2>&1 &
  server=$!
  until grep -q "serving on" "$log"; do kill -0 "$server" 2>/dev/null || { echo "server exited"; return; }; sleep 0.1; done
  line="$(wrk -t2 -c32 -d10s --latency -s bench/server_put.lua "$(grep -o 'http://[0-9.:]*' "$log" | head -1)" | grep '^RESULT')"
  curl -s -X POST "$(grep -o 'http://[0-9.:]*' "$log" | head -1)/v1/flush?timeout_ms=600000" >/dev/null
  kill -TERM "$server"; wait "$server"
  echo "$2: ${line#RESULT } rows=$(cd / && psql -qAt "$url" -c "SELECT count(*) FROM storesync_entries")"
}

for i in $(seq 1 "$runs"); do
  for side in before after; do
    case "$what" in
      put) echo "$side $i: $(bench "$side" 'BM_PutLatency/')" ;;
      drain) echo "$side $i: $(bench "$side" 'BM_DrainDistinctKeys|BM_PostgresStoreDirect')" ;;
      server) for mode in write-behind direct; do echo "$side $i: $(serve "$side" "$mode")"; done ;;
    esac
  done
done
