#!/usr/bin/env bash
# The test suite under a sanitizer (.bazelrc: asan = AddressSanitizer with
# LeakSanitizer and UndefinedBehaviorSanitizer; tsan = ThreadSanitizer),
# against a throwaway PostgreSQL and Redis, as scripts/test.sh starts them.
# It builds in a clone of this checkout's HEAD under /tmp (clone_head.sh),
# with its own Bazel output base, so the ordinary build is not recompiled
# (commit what you want checked). Ends with "N passed, N failed", like
# scripts/test.sh.
#
#   scripts/sanitize.sh asan                 # every test (//tests/...) and the examples
#   scripts/sanitize.sh tsan //tests/unit/...
set -uo pipefail

config="${1:-}"
if [[ "$config" != asan && "$config" != tsan ]]; then
  echo "usage: scripts/sanitize.sh asan|tsan [TARGETS...]" >&2
  exit 2
fi
shift
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
source scripts/pg.sh
source scripts/redis.sh
trap 'pg_stop; redis_stop' EXIT
pg_start || { echo "PostgreSQL did not start"; echo "0 passed, 1 failed"; exit 1; }
redis_start || { echo "Redis did not start"; echo "0 passed, 1 failed"; exit 1; }

targets=("$@")
((${#targets[@]})) || targets=(//tests/... //examples/...)

clone="/tmp/storesync-sanitize-$config"
bash scripts/clone_head.sh "$clone" || { echo "0 passed, 1 failed"; exit 1; }
log="$(mktemp)"
(
  cd "$clone"
  # Instrumented code runs several times slower: four times the usual test
  # timeouts (the loaded 2-core machine included).
  bazel test --config="$config" --keep_going "${targets[@]}" \
    --test_timeout=240,1200,3600,14400 \
    --test_env=STORESYNC_TEST_PG_URL="$STORESYNC_TEST_PG_URL" \
    --test_env=STORESYNC_TEST_PG_SCRIPT="$root/scripts/pg.sh" \
    --test_env=STORESYNC_TEST_REDIS_URL="$STORESYNC_TEST_REDIS_URL" \
    --test_env=STORESYNC_TEST_REDIS_SCRIPT="$root/scripts/redis.sh" \
    --test_env=LSAN_OPTIONS="suppressions=$clone/scripts/lsan.supp" \
    --test_env=TSAN_OPTIONS="halt_on_error=1:suppressions=$clone/scripts/tsan.supp"
  rc=$?
  bazel shutdown
  exit $rc
) 2>&1 | tee "$log"
bazel_rc=${PIPESTATUS[0]}
passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log")
failed=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|FLAKY|INCOMPLETE)' "$log")
if ((bazel_rc != 0 && failed == 0)); then
  echo "bazel test failed before running tests (exit $bazel_rc)"
  failed=1
fi
echo "$passed passed, $failed failed"
((failed == 0))
