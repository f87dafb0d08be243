#!/usr/bin/env bash
# Proves the CMake targets work both ways a host project uses them, with the
# consumer's -Wall -Wextra -Wpedantic -Werror:
#   1. add_subdirectory on the source tree;
#   2. find_package after `cmake --install` (COMPONENTS sqlite);
# each building and running examples/cmake_consumer (storesync::storesync and
# storesync::sqlite) and a program that includes every public header and links
# every adapter target found (storesync::postgres, storesync::duckdb).
#   3. Without DuckDB, configuring still succeeds and says storesync::duckdb
#      is left out.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
consumer="$root/examples/cmake_consumer"

# Runs a step quietly; on failure shows its output and stops.
step() {
  local name="$1"
  shift
  if ! "$@" >"$work/$name.log" 2>&1; then
    echo "cmake_consumer: '$name' failed: $*"
    tail -n 60 "$work/$name.log"
    exit 1
  fi
}

run_consumer() {
  local build="$1"
  step "$(basename "$build")-run" "$build/consumer"
  step "$(basename "$build")-headers" "$build/consumer_all_headers"
  if ! grep -q "equal to the memory store: yes" "$work/$(basename "$build")-run.log"; then
    echo "cmake_consumer: $build/consumer printed the wrong result"
    cat "$work/$(basename "$build")-run.log"
    exit 1
  fi
}

# 1. add_subdirectory
step sub-configure cmake -S "$consumer" -B "$work/sub" -DSTORESYNC_SOURCE_DIR="$root"
step sub-build cmake --build "$work/sub" -j2
run_consumer "$work/sub"
adapters="$(sed -n 's/^-- storesync: adapters: //p' "$work/sub-configure.log")"

# 2. find_package
step lib-configure cmake -S "$root" -B "$work/lib" -DCMAKE_INSTALL_PREFIX="$work/prefix"
step lib-install cmake --install "$work/lib"
step pkg-configure cmake -S "$consumer" -B "$work/pkg" -DCMAKE_PREFIX_PATH="$work/prefix"
step pkg-build cmake --build "$work/pkg" -j2
run_consumer "$work/pkg"

# 3. No DuckDB anywhere: a copy of the CMake files and headers without
# third_party/, and STORESYNC_DUCKDB_DIR pointing at an empty folder. (On a
# machine with a system libduckdb the target is rightly there instead.)
mkdir -p "$work/bare/empty"
cp -r "$root/CMakeLists.txt" "$root/cmake" "$root/include" "$work/bare/"
step bare-configure env -u STORESYNC_DUCKDB_DIR \
  cmake -S "$work/bare" -B "$work/bare-build" -DSTORESYNC_DUCKDB_DIR="$work/bare/empty"
if ! grep -q "no storesync::duckdb target: duckdb.h and libduckdb not found" "$work/bare-configure.log" &&
  ! grep -q "adapters: .*duckdb" "$work/bare-configure.log"; then
  echo "cmake_consumer: without DuckDB, configure did not say storesync::duckdb is left out"
  cat "$work/bare-configure.log"
  exit 1
fi

echo "cmake_consumer: add_subdirectory and find_package both build and run (adapters: ${adapters//;/, })"
