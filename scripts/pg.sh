#!/usr/bin/env bash
# Throwaway PostgreSQL 15 for tests and benchmarks, as a library of functions:
#   source scripts/pg.sh; pg_start; ...; pg_stop
# pg_start exports STORESYNC_TEST_PG_URL (a trust-auth superuser on a free
# loopback port), STORESYNC_TEST_PG_DIR and STORESYNC_TEST_PG_PORT. Root
# cannot run postgres, so the server runs as the postgres user from a
# temporary directory it owns.
#
# Outage tests must not stop the server other tests use, so they start a
# private one of their own through the script form:
#   dir=$(bash scripts/pg.sh start)   # prints the directory; $dir/url holds the URL
#   bash scripts/pg.sh pause "$dir"   # fast shutdown; the data stays
#   bash scripts/pg.sh resume "$dir"  # same port, same data
#   bash scripts/pg.sh stop "$dir"    # shut down and delete

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"

# Runs a PostgreSQL program as postgres, from "/": the caller's directory (a
# Bazel runfiles tree under /root, say) is often one postgres cannot enter,
# and initdb, pg_ctl and postgres then print `could not change directory`.
_pg_as_postgres() {
  (
    cd / || exit 1
    if [[ "$(id -un)" == postgres ]]; then "$@"; else runuser -u postgres -- "$@"; fi
  )
}

source "$(dirname "${BASH_SOURCE[0]}")/ports.sh"
_pg_free_port() { free_port 25432 4000; }

pg_start() {
  STORESYNC_TEST_PG_DIR="$(mktemp -d /tmp/storesync-pg.XXXXXX)"
  chown postgres: "$STORESYNC_TEST_PG_DIR" 2>/dev/null || true
  local port
  port="$(_pg_free_port)" || return 1
  _pg_as_postgres "$PG_BIN/initdb" -D "$STORESYNC_TEST_PG_DIR/data" -A trust -U postgres \
    --encoding=UTF8 --locale=C.UTF-8 >"$STORESYNC_TEST_PG_DIR/initdb.log" 2>&1 || {
    cat "$STORESYNC_TEST_PG_DIR/initdb.log" >&2
    return 1
  }
  STORESYNC_TEST_PG_PORT="$port"
  # Another server may take the port between the probe and the start: retry.
  local attempt
  for attempt in 1 2 3; do
    pg_resume 2>/dev/null && break
    if ((attempt == 3)); then
      cat "$STORESYNC_TEST_PG_DIR/server.log" >&2
      return 1
    fi
    STORESYNC_TEST_PG_PORT="$(_pg_free_port)" || return 1
  done
  reserve_port "$STORESYNC_TEST_PG_PORT" "$STORESYNC_TEST_PG_DIR"
  STORESYNC_TEST_PG_URL="postgresql://postgres@127.0.0.1:$STORESYNC_TEST_PG_PORT/postgres"
  export STORESYNC_TEST_PG_URL STORESYNC_TEST_PG_DIR STORESYNC_TEST_PG_PORT
  echo "pg.sh: PostgreSQL ready at $STORESYNC_TEST_PG_URL"
}

# pg_ctl waits (-w) until the server is up or down; its time limit only guards
# against a hang, so it is far beyond what a slow, loaded machine needs.
PG_CTL_TIMEOUT="${PG_CTL_TIMEOUT:-600}"

# Starts the server of pg_start again (after pg_pause).
pg_resume() {
  _pg_as_postgres "$PG_BIN/pg_ctl" -D "$STORESYNC_TEST_PG_DIR/data" -w -t "$PG_CTL_TIMEOUT" \
    -l "$STORESYNC_TEST_PG_DIR/server.log" \
    -o "-p $STORESYNC_TEST_PG_PORT -k $STORESYNC_TEST_PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=200" \
    start >/dev/null || {
    cat "$STORESYNC_TEST_PG_DIR/server.log" >&2
    return 1
  }
}

# Stops the server, keeping its data (a fast shutdown: clients are cut off).
pg_pause() {
  _pg_as_postgres "$PG_BIN/pg_ctl" -D "$STORESYNC_TEST_PG_DIR/data" -m fast -w -t "$PG_CTL_TIMEOUT" stop >/dev/null
}

pg_stop() {
  [[ -n "${STORESYNC_TEST_PG_DIR:-}" && -d "$STORESYNC_TEST_PG_DIR/data" ]] || return 0
  _pg_as_postgres "$PG_BIN/pg_ctl" -D "$STORESYNC_TEST_PG_DIR/data" -m fast -w -t "$PG_CTL_TIMEOUT" stop >/dev/null 2>&1 || true
  rm -rf "$STORESYNC_TEST_PG_DIR"
  release_port "${STORESYNC_TEST_PG_PORT:-}"
  unset STORESYNC_TEST_PG_DIR
}

# The script form (see the top of this file).
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  cmd="${1:-}"
  if [[ "$cmd" == start ]]; then
    pg_start >/dev/null
    echo "$STORESYNC_TEST_PG_URL" >"$STORESYNC_TEST_PG_DIR/url"
    echo "$STORESYNC_TEST_PG_PORT" >"$STORESYNC_TEST_PG_DIR/port"
    echo "$STORESYNC_TEST_PG_DIR"
    exit 0
  fi
  STORESYNC_TEST_PG_DIR="${2:?usage: $0 start | pause DIR | resume DIR | stop DIR}"
  STORESYNC_TEST_PG_PORT="$(cat "$STORESYNC_TEST_PG_DIR/port")"
  case "$cmd" in
    pause) pg_pause ;;
    resume) pg_resume ;;
    stop) pg_stop ;;
    *) echo "usage: $0 start | pause DIR | resume DIR | stop DIR" >&2; exit 2 ;;
  esac
fi
