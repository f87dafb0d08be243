#!/usr/bin/env bash
# Clones this checkout's HEAD into DEST (replacing it) with what
# scripts/setup.sh fetched beside the sources and git ignores: DuckDB, uPlot
# and the Node.js tools' modules. sanitize.sh and fuzz.sh build in such a
# clone, with a Bazel output base of its own.
#
#   scripts/clone_head.sh DEST
set -euo pipefail

dest="${1:?usage: scripts/clone_head.sh DEST}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rm -rf "$dest"
git clone -q "$root" "$dest"
for fetched in third_party/duckdb/dist third_party/uplot/dist tools/openapi/node_modules tests/e2e/ui/node_modules; do
  [[ -d "$root/$fetched" ]] || { echo "clone_head: $fetched is missing; run scripts/setup.sh" >&2; exit 1; }
  cp -a "$root/$fetched" "$dest/$fetched"
done
