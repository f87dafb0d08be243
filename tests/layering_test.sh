#!/usr/bin/env bash
# The module layering, checked twice:
#   1. the Bazel target graph (a genquery of //:storesync, the adapters,
#      //:testing and the reference server, passed as $1), and
#   2. the #include lines of every header under include/storesync/, which
#      also catches an include the targets happen to allow (a header can
#      reach any header of its target's transitive deps).
#
# Ranks, lowest first; a module may use its own rank or lower, never higher:
#   0 core    1 policy    2 metrics    3 journal
#   4 store   (stores: memory/faulty and the shared store/detail helpers;
#              the adapters sqlite, duckdb, postgres, jsonl, redis)
#   5 strategy    6 the umbrella storesync.hpp and testing    7 server
# Within a rank a group uses only itself, except that an adapter may use the
# shared stores part. The umbrella names no adapter.
#
# A new target or module folder must be given a rank here, or the test fails.
set -euo pipefail

graph="$1"
headers="include/storesync"
[[ -f "$graph" ]] || { echo "no module graph at $graph"; exit 1; }
[[ -d "$headers" ]] || { echo "no headers at $PWD/$headers"; exit 1; }

failures=0
fail() {
  echo "BACK EDGE: $*"
  failures=$((failures + 1))
}

# The helpers answer in REPLY (no subshell per edge: there are hundreds).

# rank_of_group GROUP -> rank, or empty if unknown.
rank_of_group() {
  case "$1" in
    core) REPLY=0 ;;
    policy) REPLY=1 ;;
    metrics) REPLY=2 ;;
    journal) REPLY=3 ;;
    stores | sqlite | duckdb | postgres | jsonl | redis) REPLY=4 ;;
    strategy) REPLY=5 ;;
    umbrella | testing) REPLY=6 ;;
    server) REPLY=7 ;;
    *) REPLY="" ;;
  esac
}

# group_of_target LABEL -> group name ("" for labels outside the layering:
# third_party, toolchain, source files).
group_of_target() {
  local label="$1"
  REPLY=""
  case "$label" in
    //reference_server:*) REPLY=server; return ;;
    //:*) ;;
    *) return ;;
  esac
  local name="${label#//:}"
  [[ "$name" == */* ]] && return   # a file, e.g. //:include/...
  case "$name" in
    storesync) REPLY=umbrella ;;
    store_detail | stores) REPLY=stores ;;
    *_detail) REPLY="${name%_detail}" ;;
    *) REPLY="$name" ;;
  esac
}

# group_of_header PATH (relative to include/) -> group name.
group_of_header() {
  local path="$1"
  [[ "$path" == storesync/storesync.hpp ]] && { REPLY=umbrella; return; }
  local module="${path#storesync/}"
  module="${module%%/*}"
  REPLY="$module"
  if [[ "$module" == store ]]; then
    case "${path##*/}" in
      sqlite*) REPLY=sqlite ;;
      duckdb*) REPLY=duckdb ;;
      postgres*) REPLY=postgres ;;
      jsonl*) REPLY=jsonl ;;
      redis*) REPLY=redis ;;
      *) REPLY=stores ;;
    esac
  fi
}

is_adapter() { [[ "$1" == sqlite || "$1" == duckdb || "$1" == postgres || "$1" == jsonl || "$1" == redis ]]; }

# check_edge WHAT FROM_GROUP TO_GROUP
check_edge() {
  local what="$1" from="$2" to="$3"
  local rf rt
  rank_of_group "$from"
  rf="$REPLY"
  rank_of_group "$to"
  rt="$REPLY"
  if [[ -z "$rf" || -z "$rt" ]]; then
    echo "UNKNOWN MODULE in $what: give '$from'/'$to' a rank in tests/layering_test.sh"
    failures=$((failures + 1))
    return
  fi
  if ((rt > rf)); then
    fail "$what ($from, rank $rf, uses $to, rank $rt)"
  elif [[ "$from" != "$to" ]] && ((rt == rf)) && ! { is_adapter "$from" && [[ "$to" == stores ]]; }; then
    fail "$what ($from uses $to, of the same rank $rf)"
  fi
  if [[ "$from" == umbrella ]] && is_adapter "$to"; then
    fail "$what (the umbrella pulls in the $to adapter and its library)"
  fi
}

# 1. Bazel edges: lines `  "//:a" -> "//:b"` of the graph output.
edges=0
while IFS= read -r line; do
  [[ "$line" =~ ^[[:space:]]*\"([^\"]+)\"[[:space:]]*-\>[[:space:]]*\"([^\"]+)\" ]] || continue
  from_label="${BASH_REMATCH[1]}"
  to_label="${BASH_REMATCH[2]}"
  group_of_target "$from_label"
  from="$REPLY"
  group_of_target "$to_label"
  to="$REPLY"
  [[ -n "$from" && -n "$to" ]] || continue
  [[ "$from" == server && "$to" == server ]] && continue
  edges=$((edges + 1))
  check_edge "target $from_label -> $to_label" "$from" "$to"
done <"$graph"
((edges > 10)) || { echo "only $edges target edges in $graph: is the query right?"; exit 1; }

# 2. #include edges of every header.
includes=0
while IFS= read -r file; do
  rel="${file#include/}"
  group_of_header "$rel"
  from="$REPLY"
  while IFS= read -r inc; do
    [[ -n "$inc" ]] || continue
    group_of_header "$inc"
    to="$REPLY"
    includes=$((includes + 1))
    check_edge "#include \"$inc\" in $file" "$from" "$to"
  done < <(sed -nE 's@^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](storesync/[^">]+)[">].*@\1@p' "$file")
done < <(find -L "$headers" -name '*.hpp' | sort)
((includes > 10)) || { echo "only $includes storesync includes under $headers: wrong folder?"; exit 1; }

if ((failures)); then
  echo "layering: $failures back edge(s); the order is core <- policy <- metrics <- journal <- store <- strategy <- server"
  exit 1
fi
echo "layering: $edges target edges and $includes #include edges, none pointing upwards"
