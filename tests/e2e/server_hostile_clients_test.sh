#!/usr/bin/env bash
# The real server binary against hostile clients (hostile_clients.py): slow
# loris headers and bodies, oversized headers and bodies, pipelined requests,
# 10,000 idle connections, and clients that never read their responses.
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
((failures == 0)) && echo "all hostile-client checks passed"
exit $failures
