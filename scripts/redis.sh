#!/usr/bin/env bash
# Throwaway Redis 7 for tests and benchmarks, as a library of functions:
#   source scripts/redis.sh; redis_start; ...; redis_stop
# redis_start exports STORESYNC_TEST_REDIS_URL (redis://127.0.0.1:PORT, on a
# free loopback port), STORESYNC_TEST_REDIS_DIR and STORESYNC_TEST_REDIS_PORT.
# The server keeps an append-only file synced at every write
# (appendonly yes, appendfsync always), and no snapshots.
#
# Outage tests must not stop the server other tests use, so they start a
# private one of their own through the script form:
#   dir=$(bash scripts/redis.sh start)   # prints the directory; $dir/url holds the URL
#   bash scripts/redis.sh pause "$dir"   # shut down; the AOF stays
#   bash scripts/redis.sh resume "$dir"  # same port, same data
#   bash scripts/redis.sh stop "$dir"    # shut down and delete

source "$(dirname "${BASH_SOURCE[0]}")/ports.sh"
_redis_free_port() { free_port 16379 4000; }

# Waits until the server answers PING; its time limit only guards against a
# hang, far beyond what a slow, loaded machine needs.
REDIS_START_TIMEOUT="${REDIS_START_TIMEOUT:-600}"

redis_start() {
  STORESYNC_TEST_REDIS_DIR="$(mktemp -d /tmp/storesync-redis.XXXXXX)"
  local attempt
  # Another server may take the port between the probe and the start: retry.
  for attempt in 1 2 3; do
    STORESYNC_TEST_REDIS_PORT="$(_redis_free_port)" || return 1
    redis_resume 2>/dev/null && break
    if ((attempt == 3)); then
      cat "$STORESYNC_TEST_REDIS_DIR/redis.log" >&2
      return 1
    fi
  done
  reserve_port "$STORESYNC_TEST_REDIS_PORT" "$STORESYNC_TEST_REDIS_DIR"
  STORESYNC_TEST_REDIS_URL="redis://127.0.0.1:$STORESYNC_TEST_REDIS_PORT"
  export STORESYNC_TEST_REDIS_URL STORESYNC_TEST_REDIS_DIR STORESYNC_TEST_REDIS_PORT
  echo "redis.sh: Redis ready at $STORESYNC_TEST_REDIS_URL"
}

# Starts the server of redis_start again (after redis_pause), on its data.
redis_resume() {
  local dir="$STORESYNC_TEST_REDIS_DIR" port="$STORESYNC_TEST_REDIS_PORT" start=$SECONDS
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    --appendonly yes --appendfsync always --save "" >/dev/null || return 1
  until [[ "$(redis-cli -p "$port" ping 2>/dev/null)" == PONG ]]; do
    if ((SECONDS - start >= REDIS_START_TIMEOUT)); then return 1; fi
    if [[ -f "$dir/redis.log" ]] && grep -q "# Failed\|Could not create server" "$dir/redis.log"; then return 1; fi
    sleep 0.05
  done
}

# Stops the server, keeping its append-only file (clients are cut off).
redis_pause() {
  local pidfile="$STORESYNC_TEST_REDIS_DIR/redis.pid" p
  p="$(cat "$pidfile" 2>/dev/null)" || return 0
  redis-cli -p "$STORESYNC_TEST_REDIS_PORT" shutdown >/dev/null 2>&1 || kill "$p" 2>/dev/null
  while kill -0 "$p" 2>/dev/null; do sleep 0.05; done
}

redis_stop() {
  [[ -n "${STORESYNC_TEST_REDIS_DIR:-}" && -d "$STORESYNC_TEST_REDIS_DIR" ]] || return 0
  redis_pause
  rm -rf "$STORESYNC_TEST_REDIS_DIR"
  release_port "${STORESYNC_TEST_REDIS_PORT:-}"
  unset STORESYNC_TEST_REDIS_DIR
}

# The script form (see the top of this file).
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  cmd="${1:-}"
  if [[ "$cmd" == start ]]; then
    redis_start >/dev/null
    echo "$STORESYNC_TEST_REDIS_URL" >"$STORESYNC_TEST_REDIS_DIR/url"
    echo "$STORESYNC_TEST_REDIS_PORT" >"$STORESYNC_TEST_REDIS_DIR/port"
    echo "$STORESYNC_TEST_REDIS_DIR"
    exit 0
  fi
  STORESYNC_TEST_REDIS_DIR="${2:?usage: $0 start | pause DIR | resume DIR | stop DIR}"
  STORESYNC_TEST_REDIS_PORT="$(cat "$STORESYNC_TEST_REDIS_DIR/port")"
  case "$cmd" in
    pause) redis_pause ;;
    resume) redis_resume ;;
    stop) redis_stop ;;
    *) echo "usage: $0 start | pause DIR | resume DIR | stop DIR" >&2; exit 2 ;;
  esac
fi
