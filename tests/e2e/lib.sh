# Helpers the end-to-end tests source: the real server binary on a free
# port, and a one-line HTTP expectation.

failures=0

# start_server SERVER LOG [flags...]: starts SERVER on a free loopback port
# with the flags, logging to LOG; sets $pid and $base (http://host:port).
# The test fails at once when the server does not log "serving on" in 10 s.
start_server() {
  local server="$1" log="$2"
  shift 2
  : >"$log"
  "$server" --listen 127.0.0.1:0 "$@" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do
    grep -q "serving on" "$log" && break
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
