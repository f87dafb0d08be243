#!/usr/bin/env bash
# The real server with its data directory (journal, dead letters) on a small
# tmpfs that fills up, its durable SQLite store elsewhere:
#   1. 300 keys are PUT and acknowledged;
#   2. the disk is filled: PUTs that need new space get 503 naming the full
#      disk (condition unavailable), never a crash; a refused PUT changes
#      nothing (GET still answers the acknowledged value, or 404);
#   3. space is freed: the same server process takes PUTs again (its log
#      says when the disk filled and when writing resumed);
#   4. a flush puts every acknowledged key, at its acknowledged version, in
#      SQLite; SIGTERM exits 0, and a restart replays a journal that is not
#      corrupt.
# Mounting a tmpfs needs root, as the test command runs; without it the test
# fails. Every wait is for a condition; $hang_guard_s (lib.sh) only guards
# against a hang.
set -uo pipefail

source "$(dirname "$0")/lib.sh"
server="$1"
kv_py="$2"
disk="$TEST_TMPDIR/disk"
db="$TEST_TMPDIR/durable.db"
pid=""
mkdir -p "$disk"
mount -t tmpfs -o size=8m tmpfs "$disk" || { echo "FAIL: cannot mount a tmpfs on $disk (needs root)"; exit 1; }
trap '[[ -n "$pid" ]] && kill -9 $pid 2>/dev/null; umount -l "$disk"' EXIT
flags=(--data-dir "$disk/data" --durable "sqlite:$db")
start_server "$server" "$TEST_TMPDIR/server.log" "${flags[@]}"

# 1. Acknowledged before the disk fills.
keys=300
python3 "$kv_py" put "$base" before- "$keys" 200 "$TEST_TMPDIR/acks" || fail "PUTs before the disk filled"

# 2. Full: a file grows until no byte fits.
dd if=/dev/zero of="$disk/filler" bs=64k 2>/dev/null
dd if=/dev/zero of="$disk/filler" bs=1 oflag=append conv=notrunc 2>/dev/null
echo "disk filled: $(df -k "$disk" | tail -1)"
# A value larger than a page: a write into the last page of a file with
# room needs no new space, even on a full disk.
large="\"$(head -c 8192 /dev/zero | tr '\0' 'x')\""
refused_put() {  # refused_put KEY: a PUT of the large value must get 503 naming the full disk
  local out code
  out="$(curl -s -w '\n%{http_code}' -X PUT -H 'Content-Type: application/json' --data-binary "$large" "$base/v1/records/$1")"
  code="${out##*$'\n'}"
  [[ "$code" == 503 && "$out" == *"No space left"* ]] || fail "PUT $1 on a full disk: $code ${out:0:300} (wanted 503 naming the full disk)"
}
for i in $(seq 1 20); do refused_put "full-$i"; done
refused_put before-7
alive "$pid" || { fail "the server exited on a full disk: $(tail -5 "$TEST_TMPDIR/server.log")"; exit $failures; }
expect GET /healthz 200 ok
expect GET /v1/records/full-3 404 not_found
python3 "$kv_py" check "$base" before- "$keys" 200 || fail "a refused PUT changed an acknowledged value"

# 3. Space again: the same process takes writes, and says so in its log.
rm -f "$disk/filler"
expect PUT /v1/records/after-free 200 '"version"' -H 'Content-Type: application/json' --data-binary "$large"
grep "the disk is full" "$TEST_TMPDIR/server.log" || fail "the log does not say the disk is full"
grep "writing again" "$TEST_TMPDIR/server.log" || fail "the log does not say the journal writes again"
python3 "$kv_py" put "$base" after- "$keys" 200 "$TEST_TMPDIR/acks" || fail "PUTs after space was freed"

# 4. Everything acknowledged reaches SQLite; a restart finds a sound journal.
flush_all
sort -k1,1 -k2,2n "$TEST_TMPDIR/acks" | awk '{last[$1] = $2} END {for (k in last) print k, last[k]}' >"$TEST_TMPDIR/acks.last"
python3 -c 'import sqlite3, sys
rows = dict(sqlite3.connect(sys.argv[1]).execute("SELECT key, version FROM storesync_entries"))
bad = [l for l in open(sys.argv[2]) if rows.get(l.split()[0], -1) < int(l.split()[1])]
print(len(rows), "rows;", len(bad), "acknowledged writes missing or older:", *bad[:5])
sys.exit(1 if bad else 0)' "$db" "$TEST_TMPDIR/acks.last" || fail "acknowledged writes missing from SQLite"
sqlite3 "$db" "SELECT count(*) FROM storesync_entries WHERE key LIKE 'full-%'" | grep -qx 0 || fail "a refused PUT reached SQLite"
stop_server
start_server "$server" "$TEST_TMPDIR/restart.log" "${flags[@]}"
python3 "$kv_py" check "$base" after- "$keys" 200 || fail "after a restart"
expect GET /v1/records/full-3 404 not_found
stop_server

((failures == 0)) && echo "all full-disk checks passed"
exit $failures
