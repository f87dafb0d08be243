#!/usr/bin/env bash
# The long versions of the reliability checks whose short versions run in
# the test command (tests/e2e), against the real server binary:
#
#   scripts/reliability.sh soak [KILLS [WRITES]]   # default 50 kills, 1,000,000 writes,
#                                                  # on SQLite, then on PostgreSQL
#   scripts/reliability.sh outage [SECONDS]        # PostgreSQL down 600 s under load
#
# soak: tests/e2e/server_kill_soak_test.sh with STORESYNC_SOAK_KILLS and
# STORESYNC_SOAK_WRITES; outage: tests/e2e/server_long_outage_test.sh with
# STORESYNC_OUTAGE_S. Each starts its own private PostgreSQL (scripts/pg.sh)
# where it needs one. Prints each check's report; the exit status is the
# number of checks that failed.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
what="${1:-}"
case "$what" in
  soak | outage) ;;
  *) echo "usage: scripts/reliability.sh soak [KILLS [WRITES]] | outage [SECONDS]" >&2; exit 2 ;;
esac
bash scripts/setup.sh || { echo "setup failed"; exit 1; }
# Optimised, as a deployment builds it: the soak's loader is to find how
# the server holds up at its real speed, not at an unoptimised build's.
bazel build -c opt //reference_server || exit 1
server="$(bazel info -c opt bazel-bin 2>/dev/null)/reference_server/reference_server"
export STORESYNC_TEST_PG_SCRIPT="$root/scripts/pg.sh"
export TEST_TMPDIR="$(mktemp -d /tmp/storesync-reliability.XXXXXX)"
trap 'rm -rf "$TEST_TMPDIR"' EXIT
failed=0
if [[ "$what" == soak ]]; then
  export STORESYNC_SOAK_KILLS="${2:-50}" STORESYNC_SOAK_WRITES="${3:-1000000}"
  for store in sqlite postgres; do
    bash tests/e2e/server_kill_soak_test.sh "$server" tests/e2e/soak.py "$store" || failed=$((failed + 1))
  done
else
  export STORESYNC_OUTAGE_S="${2:-600}"
  bash tests/e2e/server_long_outage_test.sh "$server" tests/e2e/put_load.py || failed=$((failed + 1))
fi
exit $failed
