#!/usr/bin/env bash
# Installs everything storesync needs on Debian 12, and nothing twice.
#   - Debian packages (Bazel 4.2.3 and its rules, Boost 1.81, libpqxx, ...;
#     faketime: libfaketime, which tests/e2e/server_versions_test.sh preloads;
#     redis-server and hiredis: redis_store and its tests)
#   - DuckDB 1.4.4 (library + C header) from the npm registry into
#     third_party/duckdb/dist, which git ignores.
# Safe to run again: it only installs what is missing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

packages=(
  bazel-bootstrap bazel-rules-cc bazel-rules-java bazel-platforms bazel-skylib
  g++ cmake make curl ca-certificates
  libboost1.81-all-dev libpqxx-dev nlohmann-json3-dev libsqlite3-dev sqlite3
  libgtest-dev libgmock-dev libbenchmark-dev
  postgresql-15 wrk hyperfine python3
  faketime
  redis-server libhiredis-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm fetches DuckDB; any npm will do (the base image may carry its own Node.js).
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

duck="$root/third_party/duckdb/dist"
if [[ ! -f "$duck/libduckdb.so" || ! -f "$duck/duckdb.h" ]]; then
  echo "setup: fetching DuckDB 1.4.4 from the npm registry"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent @duckdb/node-bindings-linux-x64@1.4.4-r.4 duckdb@1.4.4 >/dev/null)
  mkdir -p "$tmp/lib" "$tmp/hdr" "$duck"
  tar -xzf "$tmp"/duckdb-node-bindings-linux-x64-1.4.4-r.4.tgz -C "$tmp/lib" package/libduckdb.so
  tar -xzf "$tmp"/duckdb-1.4.4.tgz -C "$tmp/hdr" package/src/duckdb/src/include/duckdb.h
  cp "$tmp/lib/package/libduckdb.so" "$tmp/hdr/package/src/duckdb/src/include/duckdb.h" "$duck/"
fi
