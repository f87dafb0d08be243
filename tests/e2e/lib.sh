# Helpers the end-to-end tests source: the real server binary on a free
# port, and a one-line HTTP expectation.

failures=0

# Waits in these tests are defined by progress (a log line, N acknowledged
# writes, a status field), never by wall-clock time: a loaded machine only
# makes them take longer. This limit, in seconds, guards against a hang
# alone (a live process that makes no progress at all); no wait is meant to
# come near it.
hang_guard_s="${STORESYNC_E2E_HANG_GUARD_S:-600}"

# alive PID: the process exists and has not exited (kill -0 also succeeds on
# an exited child that has not been reaped yet).
alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ "${stat%% *}" != Z ]]
}

# start_server SERVER LOG [flags...]: starts SERVER on a free loopback port
# with the flags, logging to LOG; sets $pid and $base (http://host:port).
# Waits until the server logs "serving on"; the test fails at once when the
# server exits first (or, against a hang, after $hang_guard_s seconds).
start_server() {
  local server="$1" log="$2" start=$SECONDS
  shift 2
  : >"$log"
  "$server" --listen 127.0.0.1:0 "$@" >"$log" 2>&1 &
  pid=$!
  until grep -q "serving on" "$log"; do
    if ! alive "$pid"; then
      grep -q "serving on" "$log" && break
      echo "server exited before serving:"; cat "$log"; exit 1
    fi
    if ((SECONDS - start >= hang_guard_s)); then
      echo "server not serving after ${hang_guard_s}s (hang guard):"; cat "$log"; exit 1
    fi
    sleep 0.05
  done
  base="$(grep -o 'http://[0-9.:]*' "$log" | head -1)"
  [[ -n "$base" ]] || { echo "server did not start:"; cat "$log"; exit 1; }
}

# expect METHOD PATH STATUS BODY_SUBSTRING [curl args...]: one request to
# $base; a different status, or a body without the substring, is counted in
# $failures and printed.
expect() {
  local method="$1" path="$2" status="$3" want="$4" body code
  shift 4
  body="$(curl -s -g -o - -w '\n%{http_code}' -X "$method" "$@" "$base$path")"
  code="${body##*$'\n'}"
  body="${body%$'\n'*}"
  if [[ "$code" != "$status" || "$body" != *"$want"* ]]; then
    echo "FAIL: $method $path -> $code $body (wanted $status containing '$want')"
    failures=$((failures + 1))
  fi
}

# --- Helpers of the version, outage-start and memory-bound tests -------------

# fail MESSAGE: counts a failed check in $failures and prints it.
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# json_field NAME: member NAME of the JSON object on stdin, as JSON text
# (strings without quotes); empty when stdin is not such an object.
json_field() {
  python3 -c 'import json, sys
try:
    v = json.load(sys.stdin)[sys.argv[1]]
except Exception:
    sys.exit(0)
print(v if isinstance(v, str) else json.dumps(v))' "$1"
}

# status_value NAME: member NAME of GET /v1/status (empty when unavailable).
status_value() { curl -s "$base/v1/status" | json_field "$1"; }

# wait_for WHAT CHECK [ARGS...]: polls CHECK until it returns 0. When the
# server ($pid) exits first, or after $hang_guard_s seconds (a hang), it
# records a failure naming WHAT and returns 1.
wait_for() {
  local what="$1" start=$SECONDS
  shift
  until "$@"; do
    if [[ -n "${pid:-}" ]] && ! alive "$pid"; then fail "$what: the server exited first"; return 1; fi
    if ((SECONDS - start >= hang_guard_s)); then fail "$what: not reached after ${hang_guard_s}s, a hang"; return 1; fi
    sleep 0.05
  done
}

# flush_all: POST /v1/flush until it reports complete. A call may time out
# with entries still owed while the flusher makes progress (a loaded
# machine); only the server exiting, or the hang guard, ends the wait.
flush_all() {
  local out start=$SECONDS
  while :; do
    out="$(curl -s -m "$hang_guard_s" -X POST "$base/v1/flush?timeout_ms=20000")"
    [[ "$out" == *'"complete":true'* ]] && return 0
    if ! alive "$pid"; then fail "the server exited during flush: $out"; return 1; fi
    if ((SECONDS - start >= hang_guard_s)); then fail "flush not complete after ${hang_guard_s}s, a hang: $out"; return 1; fi
    echo "flush not complete yet, again: $out"
  done
}

# stop_server: SIGTERM to $pid, waits for it to exit (its shutdown flush may
# take as long as it needs); a failure unless the exit status is 0.
stop_server() {
  local rc
  kill -TERM "$pid"
  wait "$pid"
  rc=$?
  pid=""
  ((rc == 0)) || fail "exit status $rc after SIGTERM"
}

# rss_within KB BOUND_KB: KB <= BOUND_KB, except under a sanitizer
# (scripts/sanitize.sh sets ASAN_OPTIONS or TSAN_OPTIONS), whose shadow
# memory and quarantine make RSS say nothing about the server's own memory:
# there the bound is reported as not checked, and holds.
rss_within() {
  if [[ -n "${ASAN_OPTIONS:-}${TSAN_OPTIONS:-}" ]]; then echo "(RSS bound not checked under a sanitizer)"; return 0; fi
  (($1 <= $2))
}

# proc_kb PID FIELD: FIELD of /proc/PID/status (VmRSS, VmHWM, ...) in kB.
proc_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }

# start_private_postgres: a scratch directory in $work and a private
# PostgreSQL (scripts/pg.sh) in $pgdir, its URL in $url, and an EXIT trap that
# stops the loader ($loader) and the server ($pid) if running, stops
# PostgreSQL and removes $work. Exits the test if PostgreSQL does not start.
start_private_postgres() {
  : "${STORESYNC_TEST_PG_SCRIPT:?run scripts/test.sh}"
  work="$(mktemp -d /tmp/storesync-e2e.XXXXXX)"
  pid=""
  loader=""
  pgdir=""
  trap '[[ -n "$loader" ]] && kill $loader 2>/dev/null; [[ -n "$pid" ]] && kill -9 $pid 2>/dev/null; [[ -n "$pgdir" ]] && bash "$STORESYNC_TEST_PG_SCRIPT" stop "$pgdir"; rm -rf "$work"' EXIT
  pgdir="$(bash "$STORESYNC_TEST_PG_SCRIPT" start)" || { echo "could not start PostgreSQL"; exit 1; }
  url="$(cat "$pgdir/url")"
}

# --- Helpers of the reliability, outage and soak tests -------------------------

# verify ACKFILE: every key acknowledged in ACKFILE ("key version" lines) is
# in PostgreSQL ($url) at >= its last acknowledged version.
verify() {
  local acks="$1" missing
  sort -k1,1 -k2,2n "$acks" | awk '{last[$1] = $2} END {for (k in last) print k, last[k]}' >"$acks.last"
  # From "/": psql must not start in a directory it cannot enter (runfiles).
  (cd / && psql -qAt -F ' ' "$url" -c "SELECT key, version FROM storesync_entries") >"$acks.pg" ||
    fail "psql could not read storesync_entries"
  missing="$(awk 'NR == FNR {pg[$1] = $2; next} !($1 in pg) || pg[$1] + 0 < $2 + 0 {print}' "$acks.pg" "$acks.last" | head -5)"
  [[ -z "$missing" ]] || fail "acknowledged writes missing from PostgreSQL ($acks): $missing"
  echo "verified $(wc -l <"$acks.last") keys from $(wc -l <"$acks") acknowledged PUTs"
}

lines() { wc -l 2>/dev/null <"$1" || echo 0; }  # lines FILE: 0 when FILE is missing

# stop_loader: ends the loader of the current step (if it still runs).
stop_loader() {
  [[ -n "$loader" ]] || return 0
  kill "$loader" 2>/dev/null
  wait "$loader" 2>/dev/null
  loader=""
}

# wait_until WHAT CHECK [ARGS...]: polls CHECK until it returns 0. When CHECK
# returns 2 (it explains why in $why), when the server ($pid) or the loader
# ($loader) exits first, or after the hang guard, it records a failure naming
# WHAT and the PUTs acknowledged so far (in $acks), and returns 1.
wait_until() {
  local what="$1" start=$SECONDS rc
  shift
  while :; do
    why=""
    "$@"
    rc=$?
    ((rc == 0)) && return 0
    if ((rc >= 2)); then fail "$what: $why ($(so_far))"; return 1; fi
    if ! alive "$pid"; then fail "$what: the server exited first ($(so_far))"; return 1; fi
    if [[ -n "$loader" ]] && ! alive "$loader"; then fail "$what: the loader exited first ($(so_far))"; return 1; fi
    if ((SECONDS - start >= hang_guard_s)); then
      fail "$what: not reached after ${hang_guard_s}s, a hang ($(so_far))"
      return 1
    fi
    sleep 0.02
  done
}

so_far() { echo "$(lines "$acks") PUTs acknowledged, $(lines "$acks.rejected") rejected so far"; }
acked_at_least() { (($(lines "$acks") >= $1)); }  # acked_at_least N: $acks has N lines

# --- Helpers of the Redis scale-out tests ---------------------------------------

# start_private_redis: after start_private_postgres, a private Redis
# (scripts/redis.sh; AOF on, appendfsync always) in $redis_dir, its URL (db
# 0) in $redis, and an EXIT trap that kills the loaders ($loaders) and
# servers ($pids) still running, stopped ones included, stops Redis and
# PostgreSQL and removes $work. Exits the test if Redis does not start.
start_private_redis() {
  [[ -n "${STORESYNC_TEST_REDIS_SCRIPT:-}" ]] || { echo "FAIL: STORESYNC_TEST_REDIS_SCRIPT is not set: run scripts/test.sh"; exit 1; }
  redis_dir="$(bash "$STORESYNC_TEST_REDIS_SCRIPT" start)" || { echo "FAIL: could not start a private Redis"; exit 1; }
  redis="$(cat "$redis_dir/url")/0"
  pids=() bases=() loaders=()
  trap 'for p in "${loaders[@]}" "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
    bash "$STORESYNC_TEST_REDIS_SCRIPT" stop "$redis_dir"
    [[ -n "$pgdir" ]] && bash "$STORESYNC_TEST_PG_SCRIPT" stop "$pgdir"
    rm -rf "$work"' EXIT
}

# stream_field SERVER FIELD: field FIELD of /v1/status "stream" on server
# number SERVER (from 1) of $bases; empty when unavailable.
stream_field() {
  curl -s "${bases[$1 - 1]}/v1/status" | python3 -c 'import json, sys
try:
    print(json.load(sys.stdin)["stream"][sys.argv[1]])
except Exception:
    pass' "$2"
}
