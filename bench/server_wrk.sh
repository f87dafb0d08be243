#!/usr/bin/env bash
# Reference server under wrk: keep-alive PUTs of ~200-byte values with a
# PostgreSQL durable store, write-behind vs direct, same run, same machine.
# After each run: POST /v1/flush, then the table must hold exactly as many
# rows as wrk saw 2xx responses (every key is distinct).
#   bench/server_wrk.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
seconds="${1:-20}"
connections="${2:-32}"
source scripts/pg.sh
work="$(mktemp -d)"
trap 'pg_stop; rm -rf "$work"' EXIT
pg_start >/dev/null
bazel build -c opt //reference_server >/dev/null 2>&1

echo "| mode | requests/s | p50 | p99 | 2xx | rows after flush | missing |"
echo "|---|---|---|---|---|---|---|"
for mode in write-behind direct; do
  db="bench_${mode//-/_}"
  psql -q "$STORESYNC_TEST_PG_URL" -c "CREATE DATABASE $db"
  url="${STORESYNC_TEST_PG_URL%/*}/$db"
  ./bazel-bin/reference_server/reference_server --listen 127.0.0.1:0 --mode "$mode" \
    --data-dir "$work/$mode" --durable "$url" --journal-durability process --workers 8 --max-pending 1000000 \
    --max-pending-bytes 1073741824 >"$work/$mode.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do grep -q "serving on" "$work/$mode.log" && break; sleep 0.1; done
  base="$(grep -o 'http://[0-9.:]*' "$work/$mode.log" | head -1)"
  line="$(wrk -t2 -c"$connections" -d"${seconds}s" --latency -s bench/server_put.lua "$base" | grep '^RESULT')"
  curl -s -X POST "$base/v1/flush?timeout_ms=600000" >/dev/null
  kill -TERM "$server"; wait "$server" || true
  requests=$(sed 's/.*requests=\([0-9]*\).*/\1/' <<<"$line")
  non2xx=$(sed 's/.*non2xx=\([0-9]*\).*/\1/' <<<"$line")
  rps=$(sed 's/.*rps=\([0-9]*\).*/\1/' <<<"$line")
  p50=$(sed 's/.*p50_ms=\([0-9.]*\).*/\1/' <<<"$line")
  p99=$(sed 's/.*p99_ms=\([0-9.]*\).*/\1/' <<<"$line")
  ok=$((requests - non2xx))
  rows=$(psql -qAt "$url" -c "SELECT count(*) FROM storesync_entries")
  echo "| $mode | $rps | ${p50} ms | ${p99} ms | $ok | $rows | $((ok > rows ? ok - rows : 0)) |"
done
