#!/usr/bin/env bash
# Two reference servers share one Redis (fast store and journal stream; a
# private Redis with appendonly yes, appendfsync always) and one private
# PostgreSQL, under PUT load of distinct keys on both. Three outages, each
# ended by progress, never by the clock ($hang_guard_s, lib.sh, only guards
# against a hang):
#  1. redis-server is killed with SIGKILL once each server acknowledged 300
#     PUTs, and started again from its append-only file once both servers
#     refused writes meanwhile: the servers reconnect by themselves (300
#     more acknowledged PUTs each);
#  2. PostgreSQL is stopped until each server answered 200 PUTs with 429
#     (its --max-pending bound): the stream never holds more than the two
#     bounds (and a few version marks); then PostgreSQL returns, and after
#     a flush on each server the stream holds version marks alone. Every
#     PUT acknowledged in 1 and 2 is then in PostgreSQL at (at least) its
#     last acknowledged version;
#  3. poison records (a CHECK constraint refuses keys poison-*): server 1
#     acknowledges ten while PostgreSQL is down and is stopped with SIGSTOP
#     until server 2 took them over; PostgreSQL returns and server 2
#     dead-letters them; server 1 is continued and flushes the same records.
#     Each is one dead letter, on server 2. Then server 1 dead-letters one of
#     its own and is killed: server 2 takes that letter over too, and
#     re-drives all eleven once the constraint is dropped.
set -uo pipefail

source "$(dirname "$0")/lib.sh"
server="$1"
loader_py="$2"
start_private_postgres
start_private_redis

max_pending=2000
for i in 1 2; do
  start_server "$server" "$work/s$i.log" --data-dir "$work/d$i" --durable "$url" \
    --fast "$redis" --fast-prefix "shared:" --journal "$redis/wb" --server-id "s$i" --journal-dead-after-ms 1000 \
    --max-pending "$max_pending" --backpressure-timeout-ms 20
  pids+=("$pid")
  bases+=("$base")
  : >"$work/acks$i"
  python3 "$loader_py" "$base" "s$i-" 1000000000 "$work/acks$i" 2 1000000000 &
  loaders+=($!)
done
pid="${pids[0]}"  # wait_until watches this server

acks_of() { lines "$work/acks$1"; }
rejected_of() { lines "$work/acks$1.rejected"; }
code_count() { cat "$work/acks$1.rejected" 2>/dev/null | awk -v c="$2" '$1 == c {n++} END {print n + 0}'; }  # code_count SERVER CODE
both() {  # both CHECK N: CHECK passes for servers 1 and 2
  "$1" 1 "$2" && "$1" 2 "$2"
}
acked_since() { (($(acks_of "$1") >= ${acked_mark[$1]} + $2)); }
rejected_since() { (($(rejected_of "$1") >= ${rejected_mark[$1]} + $2)); }
throttled_since() { (($(code_count "$1" 429) >= ${throttled_mark[$1]} + $2)); }
declare -A acked_mark rejected_mark throttled_mark
mark() { for i in 1 2; do acked_mark[$i]=$(acks_of $i) rejected_mark[$i]=$(rejected_of $i) throttled_mark[$i]=$(code_count $i 429); done; }

# --- 1. redis-server killed mid-load, restarted from its AOF ------------------
mark
wait_until "300 acknowledged PUTs on each server" both acked_since 300
kill -9 "$(cat "$redis_dir/redis.pid")" || fail "could not kill redis-server"
mark
echo "killed redis-server after $(acks_of 1) + $(acks_of 2) acknowledged PUTs"
wait_until "both servers refusing writes while Redis is down" both rejected_since 1
bash "$STORESYNC_TEST_REDIS_SCRIPT" resume "$redis_dir" || fail "could not start redis-server again"
mark
wait_until "300 more acknowledged PUTs on each server after Redis returned" both acked_since 300
echo "while Redis was down: $(awk '{print $1}' "$work/acks1.rejected" "$work/acks2.rejected" | sort | uniq -c | tr '\n' ';')"

# --- 2. PostgreSQL stopped until the pending bound answers ---------------------
bash "$STORESYNC_TEST_PG_SCRIPT" pause "$pgdir" || fail "could not stop PostgreSQL"
mark
wait_until "200 PUTs answered 429 by each server with PostgreSQL down" both throttled_since 200
held="$(stream_field 1 stream_length)"
# Besides the entries, the stream holds version marks, one per checkpoint
# not yet passed (those just before the outage).
echo "with PostgreSQL down the stream holds $held records (bound: 2 x $max_pending entries and a few version marks)"
[[ -n "$held" ]] && ((held > max_pending / 2 && held <= 2 * max_pending + 10)) ||
  fail "stream length '$held' outside (max_pending / 2, 2 x max_pending + 10]"
bash "$STORESYNC_TEST_PG_SCRIPT" resume "$pgdir" || fail "could not start PostgreSQL again"
mark
wait_until "300 more acknowledged PUTs on each server after PostgreSQL returned" both acked_since 300
for p in "${loaders[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
loaders=()
for i in 1 2; do
  base="${bases[$i - 1]}" pid="${pids[$i - 1]}"
  flush_all
done
# Records in the stream other than version marks (a mark is 9 bytes).
entries_in_stream() {
  redis-cli -p "$(cat "$redis_dir/port")" EVAL "local n = 0
for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do if #e[2][2] ~= 9 then n = n + 1 end end
return n" 1 wb
}
left="$(entries_in_stream)"
[[ "$left" == 0 ]] || fail "after both flushes the stream still holds '$left' records other than version marks"
cat "$work/acks1" "$work/acks2" >"$work/acks"
verify "$work/acks"

# --- 3. poison records, raced for by a server taken for dead -------------------
psql_q() { (cd / && psql -qAt -v ON_ERROR_STOP=1 "$url" -c "$1"); }
psql_q "ALTER TABLE storesync_entries ADD CONSTRAINT no_poison CHECK (key NOT LIKE 'poison-%')" ||
  fail "could not add the CHECK constraint"
letters_of() {  # letters_of SERVER: the keys it lists as dead letters, one per line
  curl -s "${bases[$1 - 1]}/v1/dead-letters" | python3 -c 'import json, sys
for d in json.load(sys.stdin)["dead_letters"]:
    print(d["key"])'
}
put_on() {  # put_on SERVER KEY: the status of a PUT
  curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
    "${bases[$1 - 1]}/v1/records/$2" -d '{"poison":true}'
}

bash "$STORESYNC_TEST_PG_SCRIPT" pause "$pgdir" || fail "could not stop PostgreSQL"
for k in $(seq 0 9); do
  [[ "$(put_on 1 "poison-$k")" == 200 ]] || fail "PUT poison-$k on server 1 not acknowledged"
done
base="${bases[1]}" pid="${pids[1]}"
taken_before="$(status_value taken_over)"
kill -STOP "${pids[0]}"
took_poison() { (($(status_value taken_over) >= taken_before + 10)); }
wait_until "server 2 taking over server 1's ten records while it is stopped" took_poison
bash "$STORESYNC_TEST_PG_SCRIPT" resume "$pgdir" || fail "could not start PostgreSQL again"
flush_all
kill -CONT "${pids[0]}"
base="${bases[0]}" pid="${pids[0]}"
flush_all
letters_of 1 >"$work/letters1"
letters_of 2 >"$work/letters2"
want="$(seq 0 9 | sed 's/^/poison-/' | sort)"
[[ "$(sort "$work/letters2")" == "$want" ]] ||
  fail "server 2's dead letters are not poison-0..9 once each: $(sort "$work/letters2" | uniq -c | tr '\n' ';')"
[[ ! -s "$work/letters1" ]] || fail "server 1 dead-lettered records server 2 had taken over: $(tr '\n' ' ' <"$work/letters1")"

# A server that dies holding dead letters leaves them to a survivor.
[[ "$(put_on 1 poison-x)" == 200 ]] || fail "PUT poison-x on server 1 not acknowledged"
flush_all
[[ "$(letters_of 1)" == poison-x ]] || fail "server 1 did not dead-letter poison-x: $(letters_of 1 | tr '\n' ' ')"
kill -9 "${pids[0]}"
wait "${pids[0]}" 2>/dev/null
base="${bases[1]}" pid="${pids[1]}"
has_eleven() { (($(letters_of 2 | sort -u | wc -l) == 11)); }
wait_until "server 2 taking over server 1's dead letter" has_eleven
[[ "$(letters_of 2 | wc -l)" == 11 ]] || fail "server 2 lists $(letters_of 2 | wc -l) dead letters, not 11"
psql_q "ALTER TABLE storesync_entries DROP CONSTRAINT no_poison" || fail "could not drop the CHECK constraint"
expect POST /v1/dead-letters/retry 200 '"retried":11'
flush_all
expect GET /v1/dead-letters 200 '"dead_letters":[]'
in_pg="$(psql_q "SELECT count(*) FROM storesync_entries WHERE key LIKE 'poison-%'")"
[[ "$in_pg" == 11 ]] || fail "$in_pg poison records in PostgreSQL after the re-drive, not 11"

stop_server
pids=()
((failures == 0)) && echo "all checks passed"
exit $failures
