#!/usr/bin/env bash
# The memory fast store stays within --fast-max-bytes, and values stored
# beyond today's limits can still be read and deleted. Write-behind on the
# embedded SQLite store:
#   1. with --fast-max-bytes 4000000 and --max-pending-bytes 8000000, 40,000
#      distinct keys of 1,000-byte values (10x the cap) are PUT (each
#      "applied") and flushed. Then the server's resident memory (VmRSS, and
#      its peak VmHWM) must be at most
#        baseline (VmRSS right after start) + fast cap + pending cap
#        + 64 MiB (SQLite's writer page cache: sqlite_options.cache_kib)
#        + 16 MiB (the rest: reader connections' caches, allocator slack,
#                  HTTP and batch buffers),
#      /v1/status fast_bytes at most the cap plus one entry (2 KiB here) and
#      fast_evicted > 0; every key reads back with the exact text written
#      (most from SQLite, after eviction), and the peak stays in the bound.
#   2. with the server stopped, a row whose value is an array nested 100,000
#      deep (far beyond --max-json-depth) is inserted into the SQLite file
#      directly, as a value stored by an older version would be; after a
#      start, GET returns it byte for byte, DELETE answers 200, GET then 404,
#      and after a flush the SQLite row is a tombstone. A new value nested
#      deeper than --max-json-depth is still refused (400).
# The hashes of the inserted row are computed by kv_check.py; they are
# first checked against a row the server wrote itself.
# Every wait is for a condition; $hang_guard_s (lib.sh) only guards against
# a hang. Nothing here is timed.
set -uo pipefail

source "$(dirname "$0")/lib.sh"
server="$1"
kv_py="$2"
work="$(mktemp -d "${TEST_TMPDIR:-/tmp}/storesync-e2e.XXXXXX")"
pid=""
trap '[[ -n "$pid" ]] && kill -9 $pid 2>/dev/null; rm -rf "$work"' EXIT

cap=4000000
pending_cap=8000000
keys=40000
size=1000
sqlite_cache_kb=$((64 * 1024))
other_kb=$((16 * 1024))
flags=(--data-dir "$work/data" --fast-max-bytes "$cap" --max-pending-bytes "$pending_cap")
db="$work/data/storesync.db"

# --- 1. the fast store's bound under 10x its size ------------------------------
start_server "$server" "$work/bound.log" "${flags[@]}"
baseline_kb="$(proc_kb "$pid" VmRSS)"
bound_kb=$((baseline_kb + cap / 1024 + pending_cap / 1024 + sqlite_cache_kb + other_kb))
echo "baseline VmRSS ${baseline_kb} kB; bound ${bound_kb} kB = baseline + fast cap $((cap / 1024)) kB +" \
  "pending cap $((pending_cap / 1024)) kB + SQLite writer cache ${sqlite_cache_kb} kB + other ${other_kb} kB"

python3 "$kv_py" put "$base" m "$keys" "$size" "$work/acks" --outcome applied ||
  fail "not every PUT was answered 200 applied"
flush_all
rss_kb="$(proc_kb "$pid" VmRSS)"
fast_bytes="$(status_value fast_bytes)"
evicted="$(status_value fast_evicted)"
echo "after $keys PUTs of $size bytes ($((keys * size / 1000000)) MB) and a flush: VmRSS ${rss_kb} kB" \
  "($((rss_kb - baseline_kb)) kB above baseline), VmHWM $(proc_kb "$pid" VmHWM) kB, fast_bytes $fast_bytes," \
  "fast_evicted $evicted"
rss_within "$rss_kb" "$bound_kb" || fail "VmRSS ${rss_kb} kB after the flush is above the bound ${bound_kb} kB"
# One entry's footprint in the store's estimate: 2 x key + value + its
# per-entry overhead (a few hundred bytes), under 2 KiB here.
[[ -n "$fast_bytes" ]] && ((fast_bytes <= cap + 2048)) ||
  fail "fast_bytes '$fast_bytes' is above the cap $cap plus one entry"
[[ -n "$evicted" ]] && ((evicted > 0)) || fail "fast_evicted is '$evicted' after writing 10x the cap (wanted > 0)"
[[ "$(status_value pending)" == 0 && "$(status_value dead_letters)" == 0 ]] ||
  fail "after the flush: pending $(status_value pending), dead_letters $(status_value dead_letters) (wanted 0, 0)"

python3 "$kv_py" check "$base" m "$keys" "$size" || fail "values do not read back exactly"
rss_kb="$(proc_kb "$pid" VmRSS)"
peak_kb="$(proc_kb "$pid" VmHWM)"
echo "after reading every key back: VmRSS ${rss_kb} kB, peak VmHWM ${peak_kb} kB (bound ${bound_kb} kB)," \
  "fast_bytes $(status_value fast_bytes), fast_evicted $(status_value fast_evicted)"
rss_within "$peak_kb" "$bound_kb" || fail "peak VmHWM ${peak_kb} kB is above the bound ${bound_kb} kB"
fast_bytes="$(status_value fast_bytes)"
[[ -n "$fast_bytes" ]] && ((fast_bytes <= cap + 2048)) ||
  fail "fast_bytes '$fast_bytes' after the reads is above the cap $cap plus one entry"

# A row the server wrote, to check kv_check.py's hashes against (61 bytes:
# full 16-byte blocks and a tail of 13, both halves of Murmur3's tail).
python3 "$kv_py" value h 0 61 >"$work/hash-value"
curl -s -o /dev/null -X PUT -H 'Content-Type: application/json' --data-binary @"$work/hash-value" \
  "$base/v1/records/hash-check?version=42"
flush_all
stop_server

want="$(python3 -c 'import sqlite3, sys
r = sqlite3.connect(sys.argv[1]).execute("SELECT hex(hash), row_hash FROM storesync_entries WHERE key = ?", ("hash-check",)).fetchone()
print(r[0].lower() if r else "", r[1] if r else "")' "$db")"
got="$(python3 "$kv_py" hashes "$work/hash-value" hash-check 42)"
[[ -n "$want" && "$want" == "$got" ]] ||
  fail "kv_check.py's hashes ($got) differ from the server's ($want): the nested row below would carry wrong ones"

# --- 2. a value stored beyond the depth limit ----------------------------------
depth=100000
length="$(python3 "$kv_py" sqlite-insert-nested "$db" deep 7 "$depth")" || fail "could not insert the nested row"
echo "inserted key 'deep' into $db: an array nested $depth deep, $length bytes"
start_server "$server" "$work/deep.log" "${flags[@]}"
curl -s -o "$work/deep.json" -w '%{http_code}' "$base/v1/records/deep" >"$work/deep.code"
deep_ok="$(python3 -c 'import sys
body = open(sys.argv[1], encoding="utf-8").read().rstrip("\n")
head = "{\"key\":\"deep\",\"version\":7,\"value\":"
value = body[len(head):-1] if body.startswith(head) and body.endswith("}") else ""
d = int(sys.argv[2])
print(len(value), value == "[" * d + "]" * d)' "$work/deep.json" "$depth")"
echo "GET deep -> $(cat "$work/deep.code"), value length and exactness: $deep_ok"
[[ "$(cat "$work/deep.code")" == 200 && "$deep_ok" == "$length True" ]] ||
  fail "GET deep -> $(cat "$work/deep.code") $(head -c 200 "$work/deep.json") (wanted 200 and the $length-byte value)"
expect PUT /v1/records/too-deep 400 'invalid_input' -H 'Content-Type: application/json' \
  --data-binary "$(python3 -c 'print("[" * 300 + "]" * 300)')"
expect DELETE /v1/records/deep 200 '"deleted":true'
expect GET /v1/records/deep 404 'not_found'
flush_all
stop_server
row="$(python3 -c 'import sqlite3, sys
r = sqlite3.connect(sys.argv[1]).execute("SELECT tombstone, value IS NULL, version FROM storesync_entries WHERE key = ?", ("deep",)).fetchone()
print(*(r or ()))' "$db")"
echo "SQLite row of deep after the flush: tombstone, value is null, version = $row"
[[ "$row" == "1 1 "* ]] || fail "the SQLite row of deep is not a tombstone after DELETE and a flush: '$row'"

((failures == 0)) && echo "all memory-bound checks passed"
exit $failures
