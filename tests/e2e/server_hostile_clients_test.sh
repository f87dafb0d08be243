#!/usr/bin/env bash
# The real server binary against hostile clients (hostile_clients.py): slow
# loris headers and bodies, oversized headers and bodies, pipelined requests,
# 10,000 idle connections, and clients that never read their responses; then
# a server under a descriptor limit it cannot raise lowers --max-connections
# to fit, says so, and still answers a new client behind 300 idle ones.
# Short read and write timeouts, so the cases that wait for the server to
# close a connection do not wait 30 s; the waits follow progress.
set -uo pipefail

source "$(dirname "$0")/lib.sh"
server="$1"
clients_py="$2"
pid=""
trap '[[ -n "$pid" ]] && kill $pid 2>/dev/null || true' EXIT
max_connections=500
start_server "$server" "$TEST_TMPDIR/server.log" --data-dir "$TEST_TMPDIR/data" \
  --read-timeout-ms 1000 --write-timeout-ms 1000 --max-connections "$max_connections"
python3 "$clients_py" "$base" "$pid" "$max_connections"
failures=$?
alive "$pid" || fail "the server exited: $(tail -5 "$TEST_TMPDIR/server.log")"
((failures == 0)) && stop_server

# Under a descriptor limit of 256 that the server cannot raise, the default
# --max-connections (1024) is lowered to what fits (256 minus the 128 kept
# for files), said at start; 300 idle clients then still leave room for a
# new one.
(
  ulimit -n 256
  start_server "$server" "$TEST_TMPDIR/low.log" --data-dir "$TEST_TMPDIR/low"
  echo "$pid $base" >"$TEST_TMPDIR/low.server"
) || fail "the server did not start under ulimit -n 256"
read -r pid base <"$TEST_TMPDIR/low.server"
grep "max-connections lowered to 128" "$TEST_TMPDIR/low.log" || fail "no word of the lowered limit: $(head -3 "$TEST_TMPDIR/low.log")"
python3 - "$base" <<'PY' || fail "300 idle clients under a lowered limit"
import socket, sys, urllib.request
from urllib.parse import urlsplit
where = urlsplit(sys.argv[1])
held = [socket.create_connection((where.hostname, where.port)) for _ in range(300)]
with urllib.request.urlopen(sys.argv[1] + "/healthz", timeout=600) as r:
    assert r.status == 200
print("300 idle clients under a lowered limit: /healthz answered")
PY
# Not this shell's child (the subshell started it): SIGTERM, then wait for
# it to be gone.
kill -TERM "$pid"
start=$SECONDS
while alive "$pid"; do
  ((SECONDS - start < hang_guard_s)) || { fail "the low-limit server did not exit after SIGTERM"; break; }
  sleep 0.05
done
pid=""
((failures == 0)) && echo "all hostile-client checks passed"
exit $failures
