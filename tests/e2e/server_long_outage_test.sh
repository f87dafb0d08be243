#!/usr/bin/env bash
# A long PostgreSQL outage under a steady loader, with memory bounded.
# Write-behind against a private PostgreSQL (scripts/pg.sh), with
# --fast-max-bytes and --max-pending-bytes set; put_load.py PUTs distinct
# keys from 4 connections throughout. PostgreSQL is stopped for
# $STORESYNC_OUTAGE_S seconds (30 by default; scripts/reliability.sh outage runs 600),
# and at least until the pending bound has answered 1,000 PUTs with 429/503.
# Checked:
#   - the server's RSS, sampled every second, never exceeds 1.1 x its bound:
#     RSS at start + --fast-max-bytes + --max-pending-bytes + 16 MiB (HTTP,
#     batch and PostgreSQL client buffers, allocator slack), with the memory
#     store at its cap before the outage starts;
#   - once the bound is reached, PUTs get 429 or 503, each with Retry-After,
#     and no other status; the server never dies;
#   - after PostgreSQL returns, the backlog drains, and every acknowledged
#     key is in PostgreSQL at its last acknowledged version.
# Prints the RSS curve (one line per tenth of the run) for docs/operations.md.
# The outage length is the scenario, not a deadline: every wait is for a
# condition, and $hang_guard_s (lib.sh) only guards against a hang.
set -uo pipefail

source "$(dirname "$0")/lib.sh"
server="$1"
loader_py="$2"
outage_s="${STORESYNC_OUTAGE_S:-30}"
start_private_postgres

fast_cap=$((16 << 20))
pending_cap=$((16 << 20))
start_server "$server" "$work/server.log" --data-dir "$work/data" --durable "$url" \
  --fast-max-bytes "$fast_cap" --max-pending-bytes "$pending_cap" --max-pending 10000000 \
  --backpressure-timeout-ms 20
baseline_kb="$(proc_kb "$pid" VmRSS)"
bound_kb=$((baseline_kb + fast_cap / 1024 + pending_cap / 1024 + 16 * 1024))
limit_kb=$((bound_kb * 11 / 10))
echo "RSS at start ${baseline_kb} kB; bound ${bound_kb} kB (start + fast $((fast_cap >> 10)) kB +" \
  "pending $((pending_cap >> 10)) kB + 16384 kB); limit 1.1 x bound = ${limit_kb} kB; outage ${outage_s} s"

# Samples "seconds rss_kb pending pending_bytes phase" every second, until
# the server exits.
phase_file="$work/phase"
echo before >"$phase_file"
python3 - "$pid" "$base" "$phase_file" >"$work/rss" 2>/dev/null <<'PY' &
import json, sys, time, urllib.request
pid, base, phase_file = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.monotonic()
while True:
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        st = json.load(urllib.request.urlopen(base + "/v1/status", timeout=5))
    except Exception:
        break
    print(int(time.monotonic() - t0), rss, st.get("pending", 0), st.get("pending_bytes", 0),
          open(phase_file).read().strip(), flush=True)
    time.sleep(1)
PY
sampler=$!

acks="$work/acks"
: >"$acks"
python3 "$loader_py" "$base" outage- 1000000000 "$acks" 4 1000000000 &
loader=$!
# Before the outage the memory store fills to its cap with values already
# durable (it starts evicting), so the outage adds the pending bound on top.
fast_full() { [[ "$(status_value fast_evicted)" =~ ^[1-9] ]]; }
wait_until "the memory store at --fast-max-bytes before the outage" fast_full
bash "$STORESYNC_TEST_PG_SCRIPT" pause "$pgdir" || fail "could not stop PostgreSQL"
echo outage >"$phase_file"
outage_start=$SECONDS
rejected_before="$(lines "$acks.rejected")"
bound_answered() { (($(lines "$acks.rejected") - rejected_before >= 1000)); }
wait_until "the bound answering 1000 PUTs during the outage" bound_answered
# The rest of the outage is the scenario's length, not a wait for progress:
# the hang guard does not apply to it.
while ((SECONDS - outage_start < outage_s)); do
  alive "$pid" || { fail "the server exited during the outage"; break; }
  alive "$loader" || { fail "the loader exited during the outage"; break; }
  sleep 1
done
echo "outage of $((SECONDS - outage_start)) s: $(lines "$acks") PUTs acknowledged, $(lines "$acks.rejected") rejected so far"
bash "$STORESYNC_TEST_PG_SCRIPT" resume "$pgdir" || fail "could not start PostgreSQL again"
echo after >"$phase_file"
# The backlog drains while the loader goes on: what is owed falls below a
# tenth of the bound.
drained() {
  local bytes
  bytes="$(status_value pending_bytes)"
  [[ -n "$bytes" ]] && ((bytes < pending_cap / 10))
}
wait_until "the backlog draining after PostgreSQL returned" drained
stop_loader
flush_all
verify "$acks"
stop_server
kill "$sampler" 2>/dev/null
wait "$sampler" 2>/dev/null

bad_codes="$(awk '$1 != 429 && $1 != 503 || $2 == "-"' "$acks.rejected" | sort | uniq -c | head -5)"
[[ -z "$bad_codes" ]] || fail "rejections other than 429/503 with Retry-After: $bad_codes"
echo "rejections: $(awk '{print $1, ($2 == "-" ? "without" : "with") " Retry-After"}' "$acks.rejected" | sort | uniq -c | tr '\n' ';')"
peak_kb="$(awk 'max < $2 {max = $2} END {print max + 0}' "$work/rss")"
echo "peak sampled RSS ${peak_kb} kB (limit ${limit_kb} kB)"
((peak_kb > 0)) && rss_within "$peak_kb" "$limit_kb" || fail "RSS reached ${peak_kb} kB, above 1.1 x the bound (${limit_kb} kB)"
n="$(lines "$work/rss")"
echo "RSS curve ($n samples; s, RSS MiB, pending entries, pending MiB, phase):"
awk -v step=$(((n + 9) / 10)) 'NR % step == 1 || $2 == peak {printf "  %5d s  %6.1f MiB  %8s  %6.1f MiB  %s\n", $1, $2 / 1024, $3, $4 / 1048576, $5}' \
  peak="$peak_kb" "$work/rss"

((failures == 0)) && echo "all long-outage checks passed"
exit $failures
