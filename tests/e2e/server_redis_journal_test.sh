#!/usr/bin/env bash
# Three reference servers share one Redis (the fast store and the journal
# stream: --journal redis://.../wb; a private Redis with appendonly yes,
# appendfsync always) and one PostgreSQL (private). Each takes PUT load
# (servers 1 and 3 on the same keys, server 2 on keys of its own). PostgreSQL is stopped, so what the servers acknowledge waits in
# the stream; server 2 is killed with SIGKILL once it acknowledged 300 PUTs
# since; PostgreSQL is started again. The survivors take over what server 2
# owed once its liveness lapses (--journal-dead-after-ms): the test waits
# until the consumer group holds only the two survivors, then flushes both,
# and PostgreSQL must hold every acknowledged key at (at least) its last
# acknowledged version. Status, /readyz and /metrics show the stream.
# Every wait is for progress (acknowledged PUTs, a status field);
# $hang_guard_s (lib.sh) only guards against a hang.
set -uo pipefail

source "$(dirname "$0")/lib.sh"
server="$1"
loader_py="$2"
start_private_postgres
start_private_redis

for i in 1 2 3; do
  start_server "$server" "$work/s$i.log" --data-dir "$work/d$i" --durable "$url" \
    --fast "$redis" --fast-prefix "shared:" --journal "$redis/wb" --server-id "s$i" --journal-dead-after-ms 1000
  pids+=("$pid")
  bases+=("$base")
  : >"$work/acks$i"
  # Servers 1 and 3 write the same keys; server 2's keys are its own, so
  # only a take-over can bring what it owed to PostgreSQL.
  prefix=k-
  ((i == 2)) && prefix=only2-
  python3 "$loader_py" "$base" "$prefix" 100000000 "$work/acks$i" 2 &
  loaders+=($!)
done

# What the test waits on. Sets $why for wait_until.
acks_of() { lines "$work/acks$1"; }
all_acked() { (($(acks_of 1) >= $1 && $(acks_of 2) >= $1 && $(acks_of 3) >= $1)); }

pid="${pids[0]}"  # wait_until watches this server
wait_until "200 acknowledged PUTs on each server" all_acked 200

bash "$STORESYNC_TEST_PG_SCRIPT" pause "$pgdir" || fail "could not stop PostgreSQL"
kill_at=$(($(acks_of 2) + 300))
s2_acked() { (($(acks_of 2) >= kill_at)); }
wait_until "300 PUTs acknowledged by server 2 with PostgreSQL down" s2_acked
kill -9 "${pids[1]}"
wait "${pids[1]}" 2>/dev/null
kill "${loaders[1]}" 2>/dev/null
echo "killed server 2 after $(acks_of 2) acknowledged PUTs, $((kill_at - 300)) of them before PostgreSQL stopped"
held="$(stream_field 1 stream_length)"
[[ -n "$held" ]] && ((held > 0)) || fail "the stream holds nothing while PostgreSQL is down: length '$held'"
bash "$STORESYNC_TEST_PG_SCRIPT" resume "$pgdir" || fail "could not start PostgreSQL again"

# The survivors go on taking load, and take over what server 2 owed.
more1=$(($(acks_of 1) + 200)) more3=$(($(acks_of 3) + 200))
survivors_acked() { (($(acks_of 1) >= more1 && $(acks_of 3) >= more3)); }
wait_until "200 more acknowledged PUTs on servers 1 and 3 after PostgreSQL returned" survivors_acked
taken_over() { [[ "$(stream_field 1 stream_consumers)" == 2 ]]; }
wait_until "server 2's records taken over (two consumers left in the group)" taken_over
kill "${loaders[0]}" "${loaders[2]}" 2>/dev/null
wait "${loaders[0]}" "${loaders[2]}" 2>/dev/null
loaders=()

taken=0
for i in 1 3; do
  base="${bases[$i - 1]}" pid="${pids[$i - 1]}"
  flush_all
  t="$(status_value taken_over)"
  taken=$((taken + ${t:-0}))
done
((taken > 0)) || fail "no survivor took anything over from server 2"
echo "the survivors took over $taken records of server 2"
cat "$work/acks1" "$work/acks2" "$work/acks3" >"$work/acks"
verify "$work/acks"

base="${bases[0]}" pid="${pids[0]}"
expect GET /readyz 200 '"stream_pending":'
expect GET /v1/status 200 '"stream_consumers":2'
expect GET /metrics 200 'storesync_journal_stream_length '
expect GET /metrics 200 'storesync_journal_stream_oldest_age_seconds '

# Flags that do not go together are refused at start-up.
refused() {  # refused WANT FLAGS...: exit 2 with WANT in the message
  local want="$1" out code
  shift
  out="$("$server" --listen 127.0.0.1:0 --data-dir "$work/refused" "$@" 2>&1)"
  code=$?
  [[ $code == 2 && "$out" == *"$want"* ]] || fail "flags $*: exit $code, $out"
}
refused "--server-id" --fast "$redis" --journal "$redis/wb"
refused "needs --fast redis://" --journal "$redis/wb" --server-id x
refused "STREAM" --fast "$redis" --journal "$redis/" --server-id x
refused "consumer name" --fast "$redis" --journal "$redis/wb" --server-id "a b"
refused "applies to the file journal only" --fast "$redis" --journal "$redis/wb" --server-id x --journal-durability always
refused "applies to --journal redis://" --server-id x

for i in 1 3; do
  pid="${pids[$i - 1]}"
  stop_server
done
pids=()
((failures == 0)) && echo "all checks passed"
exit $failures
