#!/usr/bin/env bash
# Throwaway PostgreSQL 15 for tests and benchmarks, as a library of functions:
#   source scripts/pg.sh; pg_start; ...; pg_stop
# pg_start exports STORESYNC_TEST_PG_URL (a trust-auth superuser on a free
# loopback port) and STORESYNC_TEST_PG_DIR. Root cannot run postgres, so the
# server runs as the postgres user from a temporary directory it owns.

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"

_pg_as_postgres() {
  if [[ "$(id -un)" == postgres ]]; then "$@"; else runuser -u postgres -- "$@"; fi
}

_pg_free_port() {
  local port
  for port in $(seq 55432 55632); do
    # A refused connection means nobody listens there.
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  echo "pg.sh: no free port in 55432-55632" >&2
  return 1
}

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
  _pg_as_postgres "$PG_BIN/pg_ctl" -D "$STORESYNC_TEST_PG_DIR/data" -w -t 60 \
    -l "$STORESYNC_TEST_PG_DIR/server.log" \
    -o "-p $port -k $STORESYNC_TEST_PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=on" \
    start >/dev/null || {
    cat "$STORESYNC_TEST_PG_DIR/server.log" >&2
    return 1
  }
  STORESYNC_TEST_PG_PORT="$port"
  STORESYNC_TEST_PG_URL="postgresql://postgres@127.0.0.1:$port/postgres"
  export STORESYNC_TEST_PG_URL STORESYNC_TEST_PG_DIR STORESYNC_TEST_PG_PORT
  echo "pg.sh: PostgreSQL ready at $STORESYNC_TEST_PG_URL"
}

pg_stop() {
  [[ -n "${STORESYNC_TEST_PG_DIR:-}" && -d "$STORESYNC_TEST_PG_DIR/data" ]] || return 0
  _pg_as_postgres "$PG_BIN/pg_ctl" -D "$STORESYNC_TEST_PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$STORESYNC_TEST_PG_DIR"
  unset STORESYNC_TEST_PG_DIR
}
