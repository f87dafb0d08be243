#!/usr/bin/env bash
# Two reference servers with one Redis fast store (--fast redis://, a private
# Redis from scripts/redis.sh) and a SQLite durable store each: a write
# acknowledged by one is read back at once by the other, a stale write sent to
# the other is judged by the shared version guard, readiness and status name
# the Redis store, and with Redis stopped /readyz says so and turns back.
set -uo pipefail

source "$(dirname "$0")/lib.sh"
server="$1"
pids=()
redis_dir=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  [[ -n "$redis_dir" ]] && bash "$STORESYNC_TEST_REDIS_SCRIPT" stop "$redis_dir"
}
trap cleanup EXIT
[[ -n "${STORESYNC_TEST_REDIS_SCRIPT:-}" ]] || { echo "FAIL: STORESYNC_TEST_REDIS_SCRIPT is not set: run scripts/test.sh"; exit 1; }
redis_dir="$(bash "$STORESYNC_TEST_REDIS_SCRIPT" start)" || { echo "FAIL: could not start a private Redis"; exit 1; }
url="$(cat "$redis_dir/url")/0"
json=(-H 'Content-Type: application/json')

start_server "$server" "$TEST_TMPDIR/a.log" --data-dir "$TEST_TMPDIR/a" --fast "$url" --fast-prefix "shared:"
a="$base" a_pid="$pid"
pids+=("$pid")
start_server "$server" "$TEST_TMPDIR/b.log" --data-dir "$TEST_TMPDIR/b" --fast "$url" --fast-prefix "shared:"
b="$base" b_pid="$pid"
pids+=("$pid")

base="$a"
expect PUT '/v1/records/user%3A1?version=7' 200 '"outcome":"applied"' "${json[@]}" -d '{"name":"Ada"}'
base="$b"
expect GET /v1/records/user%3A1 200 '"value":{"name":"Ada"}'
expect PUT '/v1/records/user%3A1?version=6' 200 '"outcome":"stale"' "${json[@]}" -d '{"name":"old"}'
expect GET /readyz 200 '"redis":{"latency_ms":'
expect GET /readyz 200 '"state":"up"}'
expect GET /v1/status 200 '"fast":"redis"'
base="$a"
expect GET /v1/records/user%3A1 200 '"version":7'

bash "$STORESYNC_TEST_REDIS_SCRIPT" pause "$redis_dir" || fail "could not stop Redis"
expect GET /readyz 503 '"redis":{"error"'
expect GET /readyz 503 '"state":"down"'
bash "$STORESYNC_TEST_REDIS_SCRIPT" resume "$redis_dir" || fail "could not start Redis again"
expect GET /readyz 200 '"ready":true'
expect GET /v1/records/user%3A1 200 '"name":"Ada"'

# A wrong --fast is refused at start-up, without the password in the message.
out="$("$server" --listen 127.0.0.1:0 --data-dir "$TEST_TMPDIR/c" --fast 'redis://u:hunter2@127.0.0.1:notaport' 2>&1)"
code=$?
[[ $code == 2 && "$out" == *"--fast"* && "$out" != *hunter2* ]] || fail "a bad --fast: exit $code, $out"

for p in "$a_pid" "$b_pid"; do
  pid="$p"
  stop_server
done
pids=()
((failures == 0)) && echo "all checks passed"
exit $failures
