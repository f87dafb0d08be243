#!/usr/bin/env bash
# Runs the fuzz targets of tests/fuzz under libFuzzer with ASan and UBSan
# (.bazelrc: fuzz), one after another, each for N seconds (default 600).
# Like scripts/sanitize.sh it builds in a clone of this checkout's HEAD under
# /tmp (clone_head.sh), with its own Bazel output base, so the ordinary GCC
# build is not recompiled (commit what you want fuzzed). Installs clang-14
# and its sanitizer runtimes if missing.
#
#   scripts/fuzz.sh journal json_body --seconds 60
#   scripts/fuzz.sh all
#
# Each target's new inputs go to a work corpus, $FUZZ_WORK/<target>/corpus
# (default /tmp/storesync-fuzz-work), kept between runs; the checked-in
# seeds in tests/fuzz/corpus/<target>/ are read, never written. A crash
# leaves its input in $FUZZ_WORK/<target>/, and the script prints its path
# and exits non-zero: minimise it (the fuzzer with -minimize_crash=1), fix
# the bug, and check the input in beside the seeds.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The longest input each target is given: enough for what it parses (the
# server's 16 KiB header limit, a batch nested past the 4096 levels the
# scanner allows), small enough to keep the executions fast.
declare -A max_len=(
  [config_json]=8192
  [entry_codec]=1024
  [http_request]=20000
  [journal]=4096
  [json_body]=12000
  [server_flags]=1024
)

seconds=600
targets=()
while (($#)); do
  case "$1" in
    --seconds) seconds="${2:?--seconds needs a number}"; shift 2 ;;
    all) targets+=("${!max_len[@]}"); shift ;;
    *)
      if [[ -z "${max_len[$1]:-}" ]]; then
        echo "unknown target $1 (targets: ${!max_len[*]})" >&2
        exit 2
      fi
      targets+=("$1"); shift ;;
  esac
done
if ((${#targets[@]} == 0)); then
  echo "usage: scripts/fuzz.sh TARGET...|all [--seconds N]   (targets: ${!max_len[*]})" >&2
  exit 2
fi

if ! command -v clang-14 >/dev/null || [[ ! -e /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a ]]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang-14 libclang-rt-14-dev ||
    { echo "cannot install clang-14"; exit 1; }
fi
bash "$root/scripts/setup.sh" || { echo "setup failed"; exit 1; }

clone=/tmp/storesync-fuzz
bash "$root/scripts/clone_head.sh" "$clone" || exit 1
labels=()
for t in "${targets[@]}"; do labels+=("//tests/fuzz:${t}_fuzzer"); done
(
  cd "$clone" &&
    bazel build --config=fuzz "${labels[@]}"
) || { echo "the fuzzers did not build"; exit 1; }
bin="$(cd "$clone" && bazel info --config=fuzz bazel-bin)/tests/fuzz"
(cd "$clone" && bazel shutdown)

work="${FUZZ_WORK:-/tmp/storesync-fuzz-work}"
crashed=0
for t in "${targets[@]}"; do
  dir="$work/$t"
  mkdir -p "$dir/corpus"
  # The targets' scratch files (a journal per input) go to memory, where
  # fsync costs nothing; removed after the run.
  scratch="$(mktemp -d /dev/shm/storesync-fuzz-XXXXXX)"
  echo "== $t: $seconds s, -max_len=${max_len[$t]}"
  # -jobs=1 runs the fuzzer in a worker whose output goes to fuzz-0.log in
  # the working directory.
  (
    cd "$dir" && rm -f fuzz-0.log &&
      TMPDIR="$scratch" UBSAN_OPTIONS=print_stacktrace=1 \
        LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp" \
        "$bin/${t}_fuzzer" -jobs=1 -max_total_time="$seconds" -max_len="${max_len[$t]}" -timeout=10 \
        -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$dir/" \
        "$dir/corpus" "$root/tests/fuzz/corpus/$t" >/dev/null 2>&1
  )
  rm -rf "$scratch"
  log="$dir/fuzz-0.log"
  # The last status line (#runs, cov, ft, corp, exec/s) and the final stats.
  grep -E '^#[0-9]+' "$log" | tail -1
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log"
  echo "work corpus: $(find "$dir/corpus" -type f | wc -l) files"
  if grep -qE 'Test unit written to|==ERROR|fuzz check failed' "$log"; then
    crashed=1
    grep -E 'fuzz check failed|==ERROR|SUMMARY' "$log" | head -5
    grep -oE 'Test unit written to .*' "$log" | sed 's/^Test unit written to /reproducer: /'
  fi
done
exit "$crashed"
