#!/usr/bin/env bash
# Installs everything storesync needs on Debian 12, and nothing twice.
#   - Debian packages (Bazel 4.2.3 and its rules, Boost 1.81, libpqxx, ...;
#     faketime: libfaketime, which tests/e2e/server_versions_test.sh preloads;
#     chromium and firefox-esr: the headless browsers of tests/e2e/ui;
#     redis-server and hiredis: redis_store)
#   - DuckDB 1.4.4 (library + C header) from the npm registry into
#     third_party/duckdb/dist, and uPlot 1.6.32 (the console's charts) into
#     third_party/uplot/dist, both ignored by git.
#   - The Node.js tools of the tests (tools/openapi: the OpenAPI validator;
#     tests/e2e/ui: puppeteer-core, which downloads no browser), as their
#     package-lock.json pins them.
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
  chromium firefox-esr
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

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

duck="$root/third_party/duckdb/dist"
if [[ ! -f "$duck/libduckdb.so" || ! -f "$duck/duckdb.h" ]]; then
  echo "setup: fetching DuckDB 1.4.4 from the npm registry"
  (cd "$tmp" && npm pack --silent @duckdb/node-bindings-linux-x64@1.4.4-r.4 duckdb@1.4.4 >/dev/null)
  mkdir -p "$tmp/lib" "$tmp/hdr" "$duck"
  tar -xzf "$tmp"/duckdb-node-bindings-linux-x64-1.4.4-r.4.tgz -C "$tmp/lib" package/libduckdb.so
  tar -xzf "$tmp"/duckdb-1.4.4.tgz -C "$tmp/hdr" package/src/duckdb/src/include/duckdb.h
  cp "$tmp/lib/package/libduckdb.so" "$tmp/hdr/package/src/duckdb/src/include/duckdb.h" "$duck/"
fi

uplot="$root/third_party/uplot/dist"
if [[ ! -f "$uplot/uPlot.iife.min.js" || ! -f "$uplot/uPlot.min.css" ]]; then
  echo "setup: fetching uPlot 1.6.32 from the npm registry"
  (cd "$tmp" && npm pack --silent uplot@1.6.32 >/dev/null)
  tar -xzf "$tmp/uplot-1.6.32.tgz" -C "$tmp" package/dist/uPlot.iife.min.js package/dist/uPlot.min.css package/LICENSE
  mkdir -p "$uplot"
  cp "$tmp/package/dist/uPlot.iife.min.js" "$tmp/package/dist/uPlot.min.css" "$tmp/package/LICENSE" "$uplot/"
fi

for dir in "$root/tools/openapi" "$root/tests/e2e/ui"; do
  if [[ ! "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]]; then
    echo "setup: installing ${dir#"$root"/}'s node modules"
    (cd "$dir" && npm ci --silent --no-audit --no-fund)
  fi
done
