#!/usr/bin/env bash
# The README's first command: installs what is missing, builds the reference
# server, and runs it on the embedded default at 127.0.0.1:8080 (no database
# server needed). Extra arguments go to the server: scripts/serve.sh --help
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
bazel build -c opt //reference_server
exec "$root/bazel-bin/reference_server/reference_server" "$@"
