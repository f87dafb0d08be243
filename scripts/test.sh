#!/usr/bin/env bash
# The README's test command: installs what is missing, starts a throwaway
# PostgreSQL and Redis, runs every test, stops them, and ends with the line
# "N passed, N failed" (test targets, plus the CMake consumer build).
# Exits non-zero on any failure, or when any test case was skipped (a
# PostgreSQL or Redis test never passes by skipping).
#
#   scripts/test.sh                 # everything
#   scripts/test.sh //tests/unit/...   # a subset (no CMake check)
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
source scripts/pg.sh
source scripts/redis.sh

trap 'pg_stop; redis_stop' EXIT
pg_start || { echo "PostgreSQL did not start"; echo "0 passed, 1 failed"; exit 1; }
redis_start || { echo "Redis did not start"; echo "0 passed, 1 failed"; exit 1; }

targets=("$@")
((${#targets[@]})) || targets=(//...)

log="$(mktemp)"
bazel test "${targets[@]}" \
  --test_env=STORESYNC_TEST_PG_URL="$STORESYNC_TEST_PG_URL" \
  --test_env=STORESYNC_TEST_PG_SCRIPT="$root/scripts/pg.sh" \
  --test_env=STORESYNC_TEST_REDIS_URL="$STORESYNC_TEST_REDIS_URL" \
  --test_env=STORESYNC_TEST_REDIS_SCRIPT="$root/scripts/redis.sh" \
  2>&1 | tee "$log"
bazel_rc=${PIPESTATUS[0]}

passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log")
failed=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|FLAKY|INCOMPLETE)' "$log")
if ((bazel_rc != 0 && failed == 0)); then
  echo "bazel test failed before running tests (exit $bazel_rc)"
  failed=1
fi

# A skipped test case is not a pass: fail loudly and name it. Only the
# targets of this run count (bazel-testlogs also holds older results).
skipped=0
for target in $(grep -oE '^//[^ ]+' "$log" | sort -u); do
  xml="bazel-testlogs/$(sed 's|^//||; s|:|/|' <<<"$target")/test.xml"
  if [[ -f "$xml" ]] && grep -qE '<testcase[^>]*(result="skipped"|status="notrun")' "$xml"; then
    echo "skipped test cases in $target"
    skipped=$((skipped + 1))
  fi
done
failed=$((failed + skipped))

if (($# == 0)); then
  # The CMake targets (storesync::storesync and the adapters), consumed both
  # ways: add_subdirectory and find_package after an install.
  if bash scripts/cmake_consumer.sh; then passed=$((passed + 1)); else
    echo "examples/cmake_consumer failed to build"
    failed=$((failed + 1))
  fi
fi
rm -f "$log"

echo "$passed passed, $failed failed"
((failed == 0))
