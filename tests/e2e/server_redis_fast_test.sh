#!/usr/bin/env bash
# Two reference servers with one Redis fast store (--fast redis://, a private
# Redis from scripts/redis.sh) and a SQLite durable store each: a write
# acknowledged by one is read back at once by the other, a stale write sent to
# the other is judged by the shared version guard, readiness and status name
# the Redis store, and with Redis stopped /readyz says so and turns back.
# Server b runs under libfaketime one hour behind: writes without a version
# take theirs from Redis (redis_store::issue_versions), so b's write after
# a's is applied above it, and a's after b's above that, whatever b's clock.
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
# Server b one hour behind: a wrapper that execs the server under
# libfaketime, so $pid is the server (see server_versions_test.sh).
faketime_lib=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
[[ -f "$faketime_lib" ]] || { echo "FAIL: $faketime_lib is missing: install faketime (scripts/setup.sh does)"; exit 1; }
asan_options="${ASAN_OPTIONS:+$ASAN_OPTIONS:verify_asan_link_order=0}"
cat >"$TEST_TMPDIR/server-1h-behind" <<EOF
#!/bin/sh
${asan_options:+ASAN_OPTIONS="$asan_options"} LD_PRELOAD="$faketime_lib" FAKETIME=-1h exec "$server" "\$@"
EOF
chmod +x "$TEST_TMPDIR/server-1h-behind"
start_server "$TEST_TMPDIR/server-1h-behind" "$TEST_TMPDIR/b.log" --data-dir "$TEST_TMPDIR/b" --fast "$url" --fast-prefix "shared:"
b="$base" b_pid="$pid"
pids+=("$pid")
grep -q libfaketime "/proc/$b_pid/maps" || fail "server b does not run under libfaketime"

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

# write WHERE METHOD PATH [BODY]: a write without a version on server WHERE;
# prints its outcome and version, or for a batch each item's version.
write() {
  local where="$1" method="$2" path="$3" out data=()
  (($# > 3)) && data=(-d "$4")
  out="$(curl -s -X "$method" "${json[@]}" "${data[@]}" "$where$path")"
  python3 -c 'import json,sys
r = json.loads(sys.argv[1])
items = r.get("results")
print(" ".join(str(i["version"]) for i in items) if items is not None else r["outcome"] + " " + str(r["version"]))' "$out" 2>/dev/null ||
    echo "unreadable 0 0"
}
read -r outcome_a va <<<"$(write "$a" PUT /v1/records/clock '{"by":"a"}')"
read -r outcome_b vb <<<"$(write "$b" PUT /v1/records/clock '{"by":"b"}')"
[[ "$outcome_a $outcome_b" == "applied applied" ]] && ((vb > va)) ||
  fail "b (an hour behind) after a: $outcome_a $va, then $outcome_b $vb"
base="$a"
expect GET /v1/records/clock 200 '"by":"b"'
read -r outcome_a2 va2 <<<"$(write "$a" PUT /v1/records/clock '{"by":"a2"}')"
[[ "$outcome_a2" == applied ]] && ((va2 > vb)) || fail "a after b: $outcome_a2 $va2 (b had $vb)"
read -r v1 v2 v3 <<<"$(write "$b" POST /v1/records:batch \
  '{"records":[{"key":"clock","value":{"by":"b2"}},{"key":"other","value":1},{"key":"clock2","value":null}]}')"
((v1 > va2 && v2 == v1 + 1 && v3 == v1 + 2)) || fail "a batch on b after a: versions $v1 $v2 $v3 (a had $va2)"
expect GET /v1/records/clock 200 '"by":"b2"'
read -r outcome_d vd <<<"$(write "$b" DELETE /v1/records/clock)"
[[ "$outcome_d" == applied ]] && ((vd > v3)) || fail "a delete on b after its batch: $outcome_d $vd (before: $v3)"
expect GET /v1/records/clock 404 'not_found'

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
