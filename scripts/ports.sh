#!/usr/bin/env bash
# Loopback ports for the throwaway servers of pg.sh and redis.sh, sourced by
# both. They lie below the kernel's ephemeral range (32768-60999 by default),
# so a server listening on port 0 or a client's outgoing connection never
# takes one. A port stays reserved while its server is paused (an outage test
# starts it again on the same port): reserve_port PORT DIR records it until
# release_port PORT, or until DIR, the server's directory, is gone.

STORESYNC_PORTS_DIR="${STORESYNC_PORTS_DIR:-/tmp/storesync-ports}"

# free_port FIRST COUNT: a port of FIRST..FIRST+COUNT-1 that nobody listens
# on and no paused server holds, from a random start so servers started at
# the same moment (tests running in parallel) rarely probe the same ports.
free_port() {
  local first="$1" count="$2" i port owner
  local offset=$((RANDOM % count))
  for ((i = 0; i < count; i++)); do
    port=$((first + (offset + i) % count))
    if owner="$(cat "$STORESYNC_PORTS_DIR/$port" 2>/dev/null)" && [[ -d "$owner" ]]; then continue; fi
    # A refused connection means nobody listens there.
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  echo "ports.sh: no free port in $first-$((first + count - 1))" >&2
  return 1
}

reserve_port() {
  mkdir -p "$STORESYNC_PORTS_DIR" && echo "$2" >"$STORESYNC_PORTS_DIR/$1"
}

release_port() {
  rm -f "$STORESYNC_PORTS_DIR/$1"
}
