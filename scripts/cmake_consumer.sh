#!/usr/bin/env bash
# Proves the CMake INTERFACE target works both ways a host project uses it:
# add_subdirectory on the source tree, and find_package after an install.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
consumer="$root/examples/cmake_consumer"

cmake -S "$consumer" -B "$work/sub" -DSTORESYNC_SOURCE_DIR="$root" >/dev/null
cmake --build "$work/sub" -j2 >/dev/null
"$work/sub/consumer"

cmake -S "$root" -B "$work/lib" -DCMAKE_INSTALL_PREFIX="$work/prefix" >/dev/null
cmake --install "$work/lib" >/dev/null
cmake -S "$consumer" -B "$work/pkg" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/pkg" -j2 >/dev/null
"$work/pkg/consumer"
echo "cmake_consumer: add_subdirectory and find_package both build and run"
