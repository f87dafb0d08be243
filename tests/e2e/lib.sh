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
