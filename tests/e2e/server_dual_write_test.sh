#!/usr/bin/env bash
# The reference server in dual-write mode (--mode dual-write), through the
# real binary, on a SQLite primary and a SQLite secondary, plus one section on
# a private PostgreSQL primary (scripts/pg.sh) with a SQLite secondary:
#    1. configuration errors stop the server before it serves (exit 2, the
#       flag named on stderr; a secondary that is not a database: exit 1);
#    2. strict: PUT/GET/DELETE/batch reach both stores, a value reads back
#       byte for byte, the secondary file holds the same rows;
#    3. primary-only: every write is an open inconsistency (listed, paged,
#       counted), a "repair" job settles them, a "check" finds nothing;
#    4. drift made behind the server's back (rows removed from and versions
#       changed in the secondary file) is found exactly by "check", counted
#       and left alone by a dry "full", repaired by "full";
#    5. "rebuild" fills an emptied secondary;
#    6. one job at a time (409), a running job cancelled (202, "cancelled",
#       its partial report; the next rebuild resumes from its checkpoint), a
#       finished one not (409), unknown ids 404;
#    7. hostile bodies for POST /v1/reconcile are 400 and start nothing; the
#       route takes POST only (405, Allow: POST);
#    8. the admin token guards /v1/inconsistencies and /v1/reconcile;
#    9. other modes have neither route (404);
#   10. /readyz names both stores, /metrics has the dual-write and job series;
#   11. kill -9 under load (best-effort), restart on the same data dir: the
#       stores are equal and every acknowledged write reads back.
# Every wait is for a condition (a log line, a job leaving "running", a count
# of acknowledged writes); $hang_guard_s (lib.sh) only guards against a hang,
# and a job's guard restarts whenever its progress counters move.
set -uo pipefail

source "$(dirname "$0")/lib.sh"
server="$1"
start_private_postgres  # $work, $url, and the EXIT trap (server $pid, $loader, PostgreSQL, $work)

ct='Content-Type: application/json'
json=(-H "$ct")
admin=()  # the admin token header, for the server that has one

# --- helpers ------------------------------------------------------------------

# jget PATH: the member at PATH (dot-separated; numbers index arrays) of the
# JSON on stdin, as JSON text (strings without quotes, null as null); empty
# when stdin is not JSON or has no such member.
jget() {
  python3 -c 'import json, sys
try:
    v = json.load(sys.stdin)
    for p in sys.argv[1].split(".") if sys.argv[1] else []:
        v = v[int(p)] if isinstance(v, list) else v[p]
except Exception:
    sys.exit(0)
print(v if isinstance(v, str) else json.dumps(v, separators=(",", ":"), sort_keys=True))' "$1"
}

# want WHAT GOT WANTED: a failure unless GOT is WANTED.
want() { [[ "$2" == "$3" ]] || fail "$1: got '$2', wanted '$3'"; }

# want_int_ge WHAT GOT MIN: a failure unless GOT is an integer >= MIN.
want_int_ge() {
  if [[ ! "$2" =~ ^[0-9]+$ ]] || (($2 < $3)); then fail "$1: got '$2', wanted an integer >= $3"; fi
}

# req METHOD PATH [curl args...]: one request to $base (with the admin header
# when set); $code, $body (without its final newline) and $headers (CRs
# removed).
req() {
  local method="$1" path="$2" out
  shift 2
  out="$(curl -s -g -D "$work/headers" -o - -w '\n%{http_code}' -X "$method" "${admin[@]}" "$@" "$base$path")"
  code="${out##*$'\n'}"
  body="${out%$'\n'*}"
  body="${body%$'\n'}"
  headers="$(tr -d '\r' <"$work/headers" 2>/dev/null)"
}

# header NAME: the value of response header NAME of the last req.
header() { grep -i "^$1:" <<<"$headers" | head -1 | sed 's/^[^:]*: *//'; }

# req_want WHAT METHOD PATH STATUS SUBSTRING [curl args...]: req, and a
# failure unless the status is STATUS and the body holds SUBSTRING.
req_want() {
  local what="$1" method="$2" path="$3" status="$4" sub="$5"
  shift 5
  req "$method" "$path" "$@"
  [[ "$code" == "$status" && "$body" == *"$sub"* ]] ||
    fail "$what: $method $path -> $code ${body:0:400} (wanted $status containing '$sub')"
}

# Store files. db.py finds the entry table as the table (not sqlite_*)
# having columns "key" and "version"; the deleted flag is the column whose
# name says tombstone or deleted, the row hash the one named row_hash.
cat >"$work/db.py" <<'PY'
import json, os, sqlite3, sys

def table(path, need=True):
    if not os.path.exists(path):
        if need:
            sys.exit(f"{path} does not exist")
        return None, None, None
    c = sqlite3.connect(path, timeout=600)
    names = [r[0] for r in c.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite^_%' ESCAPE '^'")]
    for t in names:
        cols = [r[1] for r in c.execute('PRAGMA table_info("%s")' % t.replace('"', '""'))]
        if "key" in cols and "version" in cols:
            return c, '"%s"' % t.replace('"', '""'), cols
    if need:
        sys.exit(f"{path}: no table with columns key and version among {names}")
    return c, None, None

def deleted_column(cols):
    for col in cols:
        if "tomb" in col or "delet" in col:
            return col
    return None

cmd, path, keys = sys.argv[1], sys.argv[2], sys.argv[3:]
if cmd == "dump":  # {key: {"version", "value", "deleted"}}
    c, t, cols = table(path, need=False)
    out = {}
    if t:
        d = deleted_column(cols)
        value = "value" if "value" in cols else "NULL"
        for k, v, val, dead in c.execute(f'SELECT key, version, {value}, {d or 0} FROM {t} ORDER BY key'):
            out[k] = {"version": v, "value": val, "deleted": bool(dead)}
    print(json.dumps(out, sort_keys=True))
elif cmd == "count":  # rows, tombstones included
    c, t, _ = table(path)
    print(c.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
elif cmd == "drop":  # removes the rows of KEYS (each must exist)
    c, t, _ = table(path)
    with c:
        n = sum(c.execute(f"DELETE FROM {t} WHERE key = ?", (k,)).rowcount for k in keys)
    if n != len(keys):
        sys.exit(f"drop: removed {n} rows of {len(keys)}")
elif cmd == "bump":  # the version of KEYS one lower, as an edit by other SQL would leave it
    c, t, cols = table(path)
    with c:
        for k in keys:
            row = c.execute(f"SELECT version FROM {t} WHERE key = ?", (k,)).fetchone()
            if row is None:
                sys.exit(f"bump: no row {k}")
            c.execute(f"UPDATE {t} SET version = ? WHERE key = ?", (row[0] - 1, k))
            # The range checksums sum the stored row hash: an edit that left
            # it would be seen only where a check streams rows, so the row
            # hash changes with the version, as it would for any other row.
            if "row_hash" in cols:
                h = c.execute(f"SELECT row_hash FROM {t} WHERE key = ?", (k,)).fetchone()[0]
                h = (h + 0x9E3779B97F4A7C15 + 2**63) % 2**64 - 2**63
                c.execute(f"UPDATE {t} SET row_hash = ? WHERE key = ?", (h, k))
elif cmd == "clear":  # removes every row
    c, t, _ = table(path)
    with c:
        print(c.execute(f"DELETE FROM {t}").rowcount)
else:
    sys.exit(f"unknown command {cmd}")
PY
db() { python3 "$work/db.py" "$@"; }

# row FILE KEY: the row of KEY in store file FILE as "version|value|deleted",
# or "none".
row() {
  db dump "$1" | python3 -c 'import json, sys
r = json.load(sys.stdin).get(sys.argv[1])
print("none" if r is None else "%s|%s|%s" % (r["version"], r["value"], "deleted" if r["deleted"] else "live"))' "$2"
}

# dual LOG DATA [flags...]: the server in dual-write mode on SQLite files
# DATA/p.db (primary) and DATA/s.db (secondary), data dir DATA.
dual() {
  local log="$1" data="$2"
  shift 2
  mkdir -p "$data"
  start_server "$server" "$log" --mode dual-write --data-dir "$data" \
    --primary "sqlite:$data/p.db" --secondary "sqlite:$data/s.db" "$@"
}

# post_job OPERATION BODY: POST /v1/reconcile; when 202, checks the answer
# (id, operation, "running", Location: /v1/reconcile/<id>) and sets $job.
post_job() {
  job=""
  req POST /v1/reconcile "${json[@]}" --data-binary "$2"
  [[ "$code" == 202 ]] || return 1
  job="$(jget id <<<"$body")"
  [[ "$job" =~ ^[0-9]+$ ]] || fail "POST /v1/reconcile $2: id '$job' is not decimal: $body"
  want "POST /v1/reconcile $2: operation" "$(jget operation <<<"$body")" "$1"
  want "POST /v1/reconcile $2: state" "$(jget state <<<"$body")" running
  want "POST /v1/reconcile $2: Location" "$(header location)" "/v1/reconcile/$job"
}

# wait_job WHAT ID: polls GET /v1/reconcile/ID until the job leaves
# "running"; its last answer in $job_body. The hang guard restarts whenever
# the job's progress changes: only a job that makes no progress at all for
# $hang_guard_s seconds (or the server exiting) fails it.
wait_job() {
  local what="$1" id="$2" start=$SECONDS last="" now state out jcode
  while :; do
    out="$(curl -s -g -w '\n%{http_code}' "${admin[@]}" "$base/v1/reconcile/$id")"
    jcode="${out##*$'\n'}"
    job_body="${out%$'\n'*}"
    if [[ "$jcode" != 200 ]]; then fail "$what: GET /v1/reconcile/$id -> $jcode $job_body"; return 1; fi
    state="$(jget state <<<"$job_body")"
    now="$(jget progress <<<"$job_body")"
    case "$state" in
      running | cancelling) ;;
      done | failed | cancelled) return 0 ;;
      *) fail "$what: job $id in state '$state': ${job_body:0:400}"; return 1 ;;
    esac
    if [[ "$now" != "$last" ]]; then last="$now"; start=$SECONDS; fi
    if ! alive "$pid"; then fail "$what: the server exited while job $id ran"; return 1; fi
    if ((SECONDS - start >= hang_guard_s)); then
      fail "$what: job $id made no progress for ${hang_guard_s}s, a hang: ${job_body:0:400}"
      return 1
    fi
    sleep 0.05
  done
}

# run_job WHAT OPERATION BODY: posts a job and waits for it; 0 when it ends
# "done" (its answer in $job_body, its id in $job).
run_job() {
  job_body=""
  if ! post_job "$2" "$3"; then fail "$1: POST /v1/reconcile $3 -> $code ${body:0:400} (wanted 202)"; return 1; fi
  wait_job "$1" "$job" || return 1
  [[ "$(jget state <<<"$job_body")" == "done" ]] || { fail "$1: job $job ended ${job_body:0:600}"; return 1; }
  [[ "$(jget finished_at_ms <<<"$job_body")" =~ ^[0-9]+$ ]] || fail "$1: job $job done without finished_at_ms: ${job_body:0:300}"
}

# check_equal WHAT: a "check" job over everything finds no difference.
check_equal() {
  run_job "$1" check '{"operation":"check"}' || return 1
  want "$1: difference_count" "$(jget report.difference_count <<<"$job_body")" 0
  want "$1: complete" "$(jget report.complete <<<"$job_body")" true
  want "$1: stopped" "$(jget report.stopped <<<"$job_body")" none
  want "$1: differences" "$(jget report.differences <<<"$job_body")" "[]"
}

# diffs: the report's differences on stdin's job answer as "key:kind" words
# in key order, and a complaint where one side's versions are not what the
# kind says.
diffs() {
  python3 -c 'import json, sys
r = json.load(sys.stdin)["report"]
out = []
for d in sorted(r["differences"], key=lambda d: d["key"]):
    out.append(d["key"] + ":" + d["kind"])
    p, s = d.get("primary"), d.get("secondary")
    if d["kind"] == "only_primary" and (p is None or s is not None or p.get("deleted") is not False):
        out.append("(bad-sides:" + json.dumps(d, separators=(",", ":")) + ")")
    if d["kind"] == "differ" and (p is None or s is None or p["version"] - s["version"] != 1):
        out.append("(bad-versions:" + json.dumps(d, separators=(",", ":")) + ")")
print(" ".join(out))' 2>&1
}

# refused_at_start WHAT RC WANT [flags...]: the server, started with the
# flags, exits with status RC before it serves, with WANT on stderr.
refused_at_start() {
  local what="$1" want_rc="$2" want_text="$3" rc start=$SECONDS
  shift 3
  mkdir -p "$work/refused"
  "$server" --listen 127.0.0.1:0 --data-dir "$work/refused" "$@" >"$work/refused.out" 2>"$work/refused.err" &
  pid=$!
  while alive "$pid"; do
    if grep -q "serving on" "$work/refused.out"; then fail "$what: the server started ($*)"; kill -9 "$pid"; break; fi
    if ((SECONDS - start >= hang_guard_s)); then fail "$what: still running after ${hang_guard_s}s, a hang ($*)"; kill -9 "$pid"; break; fi
    sleep 0.05
  done
  wait "$pid"
  rc=$?
  pid=""
  ((rc == want_rc)) || fail "$what: exit status $rc, wanted $want_rc ($*); stderr: $(head -c 300 "$work/refused.err")"
  grep -qF -- "$want_text" "$work/refused.err" ||
    fail "$what: stderr does not name '$want_text': $(head -c 300 "$work/refused.err")"
}

# metric NAME [LABEL...]: the value of the first series NAME in /metrics
# whose labels hold each LABEL (such as side="primary", in any order), an
# integral value without a fraction; empty when there is none.
metric() {
  curl -s "$base/metrics" | python3 -c 'import sys
name, labels = sys.argv[1], sys.argv[2:]
for line in sys.stdin:
    parts = line.split()
    if line.startswith("#") or len(parts) < 2:
        continue
    n, _, rest = parts[0].partition("{")
    if n == name and all(label in rest for label in labels):
        v = float(parts[1])
        print(int(v) if v == int(v) else v)
        break' "$@"
}

# ==============================================================================
# 1. Configuration errors: exit 2 naming the flag, before serving.
echo "=== 1. configuration errors"
cfg="$work/cfg"
mkdir -p "$cfg"
refused_at_start "dual-write without --primary" 2 "--primary" --mode dual-write --secondary "sqlite:$cfg/s.db"
refused_at_start "dual-write without --secondary" 2 "--secondary" --mode dual-write --primary "sqlite:$cfg/p.db"
refused_at_start "dual-write without either" 2 "--primary" --mode dual-write
refused_at_start "equal --primary and --secondary" 2 "--secondary" --mode dual-write \
  --primary "sqlite:$cfg/same.db" --secondary "sqlite:$cfg/same.db"
refused_at_start "bad --consistency" 2 "--consistency" --mode dual-write \
  --primary "sqlite:$cfg/p.db" --secondary "sqlite:$cfg/s.db" --consistency eventual
STORESYNC_CONSISTENCY=eventual refused_at_start "bad STORESYNC_CONSISTENCY" 2 "--consistency" --mode dual-write \
  --primary "sqlite:$cfg/p.db" --secondary "sqlite:$cfg/s.db"
refused_at_start "--primary in write-behind mode" 2 "--primary" --mode write-behind --primary "sqlite:$cfg/p.db"
refused_at_start "--primary in the default mode" 2 "--primary" --primary "sqlite:$cfg/p.db"
refused_at_start "--secondary in direct mode" 2 "--secondary" --mode direct --secondary "sqlite:$cfg/s.db"
echo '{"table":"scores","key":[{"column":"id","type":"bigint"}]}' >"$cfg/mapping.json"
refused_at_start "--durable-mapping with dual-write" 2 "--durable-mapping" --mode dual-write \
  --primary "sqlite:$cfg/p.db" --secondary "sqlite:$cfg/s.db" --durable-mapping "$cfg/mapping.json"
# A store that does not answer at start-up: exit 1, naming it.
head -c 8192 /dev/urandom >"$cfg/garbage.db"
refused_at_start "a secondary that is not a SQLite database" 1 "garbage.db" --mode dual-write \
  --primary "sqlite:$cfg/p2.db" --secondary "sqlite:$cfg/garbage.db"

# ==============================================================================
# 2. strict (the default): both stores take every write; values byte for byte.
echo "=== 2. strict: round trips"
A="$work/a"
dual "$work/a.log" "$A"
num='1.000000000000000000001'
uni='"\u00e9t\u00e9 \ud83d\ude00 \"q\" \\ \/"'
obj='{"b": [1.0e+2, -0, 1E-7], "a" : {}}'
writes=0  # batches the primary applied, stale ones not counted
req_want "strict: PUT num" PUT /v1/records/num 200 '"outcome":"applied"' "${json[@]}" --data-binary "$num"
v_num="$(jget version <<<"$body")"
req_want "strict: PUT uni" PUT /v1/records/uni 200 '"outcome":"applied"' "${json[@]}" --data-binary "$uni"
v_uni="$(jget version <<<"$body")"
req_want "strict: PUT obj?version=7" PUT '/v1/records/obj?version=7' 200 '"version":7' "${json[@]}" --data-binary "$obj"
writes=$((writes + 3))
for k in num uni obj; do
  case "$k" in num) text="$num" v="$v_num" ;; uni) text="$uni" v="$v_uni" ;; obj) text="$obj" v=7 ;; esac
  req GET "/v1/records/$k"
  [[ "$code" == 200 && "$body" == *"\"value\":$text}" ]] ||
    fail "strict: GET $k -> $code $body (wanted the value as sent, byte for byte: $text)"
  want "strict: GET $k version" "$(jget version <<<"$body")" "$v"
  want "strict: $k in the secondary file" "$(row "$A/s.db" "$k")" "$v|$text|live"
  want "strict: $k in the primary file" "$(row "$A/p.db" "$k")" "$v|$text|live"
done
# The version guard on both: an older version changes nothing anywhere.
req_want "strict: PUT obj?version=5" PUT '/v1/records/obj?version=5' 200 '"outcome":"stale"' "${json[@]}" -d '"five"'
want "strict: obj in the secondary after a stale PUT" "$(row "$A/s.db" obj)" "7|$obj|live"
# A delete is a tombstone on both sides.
req_want "strict: DELETE num" DELETE /v1/records/num 200 '"deleted":true'
v_del="$(jget version <<<"$body")"
writes=$((writes + 1))
if [[ ! "$v_del" =~ ^[0-9]+$ ]] || ((v_del <= v_num)); then fail "strict: DELETE num version '$v_del' is not above $v_num"; fi
req_want "strict: GET num after DELETE" GET /v1/records/num 404 '"not_found"'
want "strict: num in the secondary after DELETE" "$(row "$A/s.db" num)" "$v_del|None|deleted"
want "strict: num in the primary after DELETE" "$(row "$A/p.db" num)" "$v_del|None|deleted"
# A batch (one delete among puts) reaches both.
req_want "strict: batch" POST '/v1/records:batch' 200 '"applied":3' "${json[@]}" \
  -d '{"records":[{"key":"b1","value":{"x":1}},{"key":"b2","value":[2],"version":9},{"key":"uni","value":null}]}'
writes=$((writes + 1))
want "strict: batch b1 in the secondary" "$(row "$A/s.db" b1 | cut -d'|' -f2-)" '{"x":1}|live'
want "strict: batch b2 in the secondary" "$(row "$A/s.db" b2)" '9|[2]|live'
want "strict: batch delete of uni in the secondary" "$(row "$A/s.db" uni | cut -d'|' -f3)" deleted
req_want "strict: GET uni after the batch delete" GET /v1/records/uni 404 '"not_found"'
# Refused writes reach neither store.
req_want "strict: PUT bad JSON" PUT /v1/records/bad 400 'invalid_input' "${json[@]}" -d '{"a":'
want "strict: refused bad in the secondary" "$(row "$A/s.db" bad)" none
want "strict: refused bad in the primary" "$(row "$A/p.db" bad)" none
check_equal "strict: check after the round trips"

# --- 10. /readyz, /v1/status and /metrics in dual-write ----------------------
echo "=== 10. readyz, status, metrics"
req_want "readyz" GET /readyz 200 '"ready":true'
want "readyz primary state" "$(jget stores.primary.state <<<"$body")" up
want "readyz secondary state" "$(jget stores.secondary.state <<<"$body")" up
want "readyz primary store" "$(jget stores.primary.store <<<"$body")" sqlite
want "readyz secondary store" "$(jget stores.secondary.store <<<"$body")" sqlite
want "readyz intents state" "$(jget stores.intents.state <<<"$body")" up
req_want "status" GET /v1/status 200 '"mode":"dual-write"'
for pair in primary=sqlite secondary=sqlite consistency=strict partial_failures=0 compensations=0 \
  open_inconsistencies=0 pending=0 dead_letters=0 reconcile.running=null reconcile.interval_s=0 \
  reconcile.repair=false reconcile.last.operation=check reconcile.last.state=done \
  reconcile.last.id="$job" reconcile.last.differences=0; do
  want "status ${pair%%=*}" "$(jget "${pair%%=*}" <<<"$body")" "${pair#*=}"
done
want_int_ge "status writes" "$(jget writes <<<"$body")" "$writes"
want_int_ge "metric storesync_dual_write_writes_total" "$(metric storesync_dual_write_writes_total)" "$writes"
want "metric storesync_dual_write_partial_failures_total" "$(metric storesync_dual_write_partial_failures_total)" 0
want_int_ge "metric storesync_reconcile_jobs_total{check,done}" \
  "$(metric storesync_reconcile_jobs_total 'operation="check"' 'state="done"')" 1
want "metric storesync_reconcile_last_differences" "$(metric storesync_reconcile_last_differences)" 0
want "metric storesync_dual_write_side_up{primary}" "$(metric storesync_dual_write_side_up 'side="primary"')" 1
want "metric storesync_dual_write_side_up{secondary}" "$(metric storesync_dual_write_side_up 'side="secondary"')" 1
stop_server

# ==============================================================================
# 3. primary-only: the secondary is never written; every key is pending.
echo "=== 3. primary-only: inconsistencies and repair"
E="$work/e"
dual "$work/e.log" "$E" --consistency primary-only
pkeys=(po-a po-b po-c po-d po-e)
: >"$work/e.versions"
for k in "${pkeys[@]}"; do
  req_want "primary-only: PUT $k" PUT "/v1/records/$k" 200 '"outcome":"applied"' "${json[@]}" -d "{\"k\":\"$k\"}"
  echo "$k $(jget version <<<"$body")" >>"$work/e.versions"
  want "primary-only: $k in the secondary" "$(row "$E/s.db" "$k")" none
done
req_want "primary-only: inconsistencies" GET /v1/inconsistencies 200 '"inconsistencies":['
problems="$(python3 -c 'import json, sys
body = json.loads(sys.argv[1])
want = dict(line.split() for line in open(sys.argv[2]))
got = body["inconsistencies"]
out = []
if [i["key"] for i in got] != list(want):
    out.append("keys %s, wanted %s" % ([i["key"] for i in got], list(want)))
if body["count"] != len(want):
    out.append("count %r" % body["count"])
for i in got:
    if i["key"] not in want:
        continue
    if i["failing"] != "secondary" or i["secondary_version"] is not None or i["primary_version"] != int(want[i["key"]]) \
            or not isinstance(i["error"], str) or not (isinstance(i["at_ms"], int) and i["at_ms"] > 0):
        out.append("record " + json.dumps(i))
print("; ".join(out))' "$body" "$work/e.versions" 2>&1)"
[[ -z "$problems" ]] || fail "primary-only: /v1/inconsistencies: $problems (body ${body:0:600})"
req_want "primary-only: limit=2" GET '/v1/inconsistencies?limit=2' 200 '"count":2'
want "primary-only: limit=2 keys" "$(jget inconsistencies <<<"$body" | python3 -c 'import json, sys; print(" ".join(i["key"] for i in json.load(sys.stdin)))')" "po-a po-b"
want "primary-only: limit=2 next_after" "$(jget next_after <<<"$body")" po-b
# Walking the pages from the start: every key once, in order.
paged=() after=""
for _ in 1 2 3 4 5 6; do
  req GET "/v1/inconsistencies?limit=2${after:+&after=$after}"
  [[ "$code" == 200 ]] || { fail "primary-only: page after '$after' -> $code $body"; break; }
  mapfile -t page < <(jget inconsistencies <<<"$body" | python3 -c 'import json, sys
for i in json.load(sys.stdin): print(i["key"])')
  ((${#page[@]} <= 2)) || fail "primary-only: a page of limit 2 holds ${#page[@]} records"
  want "primary-only: page count after '$after'" "$(jget count <<<"$body")" "${#page[@]}"
  ((${#page[@]} == 0)) && break
  paged+=("${page[@]}")
  after="$(jget next_after <<<"$body")"
  [[ "$after" == "${page[-1]}" || "$after" == null ]] || fail "primary-only: next_after '$after' is not the page's last key ${page[-1]}"
  [[ "$after" == null ]] && break
done
want "primary-only: keys over the pages" "${paged[*]}" "${pkeys[*]}"
req_want "primary-only: after=po-c" GET '/v1/inconsistencies?after=po-c' 200 '"count":2'
for bad in 'limit=0' 'limit=abc' 'limit=-1' 'limit=' 'limit=1.5'; do
  req_want "primary-only: $bad" GET "/v1/inconsistencies?$bad" 400 '"code":"invalid_input"'
done
req_want "primary-only: POST /v1/inconsistencies" POST /v1/inconsistencies 405 'method_not_allowed'
req_want "primary-only: status" GET /v1/status 200 '"consistency":"primary-only"'
want "primary-only: status open_inconsistencies" "$(jget open_inconsistencies <<<"$body")" 5
want_int_ge "primary-only: status inconsistencies_recorded" "$(jget inconsistencies_recorded <<<"$body")" 5
# A check sees the same five keys missing from the secondary.
if run_job "primary-only: check before repair" check '{"operation":"check"}'; then
  want "primary-only: check differences" "$(diffs <<<"$job_body")" \
    "po-a:only_primary po-b:only_primary po-c:only_primary po-d:only_primary po-e:only_primary"
  want "primary-only: check difference_count" "$(jget report.difference_count <<<"$job_body")" 5
fi
if run_job "primary-only: repair" repair '{"operation":"repair"}'; then
  want "primary-only: repair copied_to_secondary" "$(jget report.repair.copied_to_secondary <<<"$job_body")" 5
  want "primary-only: repair copied_to_primary" "$(jget report.repair.copied_to_primary <<<"$job_body")" 0
  want "primary-only: repair refused" "$(jget report.repair.refused <<<"$job_body")" "[]"
fi
req_want "primary-only: inconsistencies after repair" GET /v1/inconsistencies 200 '"inconsistencies":[]'
want "primary-only: count after repair" "$(jget count <<<"$body")" 0
want "primary-only: next_after after repair" "$(jget next_after <<<"$body")" null
want "primary-only: open_inconsistencies after repair" "$(status_value open_inconsistencies)" 0
while read -r k v; do
  want "primary-only: $k in the secondary after repair" "$(row "$E/s.db" "$k")" "$v|{\"k\":\"$k\"}|live"
done <"$work/e.versions"
check_equal "primary-only: check after repair"
stop_server

# ==============================================================================
# 4. Drift behind the server's back (best-effort), found and repaired.
echo "=== 4. drift: check, full dry run, full"
B="$work/b"
dual "$work/b.log" "$B" --consistency best-effort
records="$(python3 -c 'import json; print(json.dumps({"records": [{"key": "d%02d" % i, "value": {"n": i}} for i in range(50)]}))')"
req_want "drift: batch of 50" POST '/v1/records:batch' 200 '"applied":50' "${json[@]}" --data-binary "$records"
check_equal "drift: check before the drift"
db drop "$B/s.db" d03 d17 d29 || fail "drift: could not remove rows from the secondary"
db bump "$B/s.db" d08 d41 || fail "drift: could not change versions in the secondary"
want "drift: d17 in the secondary" "$(row "$B/s.db" d17)" none
five="d03:only_primary d08:differ d17:only_primary d29:only_primary d41:differ"
if run_job "drift: check" check '{"operation":"check"}'; then
  want "drift: check differences" "$(diffs <<<"$job_body")" "$five"
  want "drift: check difference_count" "$(jget report.difference_count <<<"$job_body")" 5
  want "drift: check complete" "$(jget report.complete <<<"$job_body")" true
  want "drift: check stopped" "$(jget report.stopped <<<"$job_body")" none
  want "drift: check remaining" "$(jget report.remaining <<<"$job_body")" null
  want "drift: check progress differences" "$(jget progress.differences <<<"$job_body")" 5
fi
want "drift: status reconcile.last.differences" "$(status_value reconcile | jget last.differences)" 5
want "drift: metric storesync_reconcile_last_differences" "$(metric storesync_reconcile_last_differences)" 5
# A range: first <= key < last.
if run_job "drift: check d03..d17" check '{"operation":"check","range":{"first":"d03","last":"d17"}}'; then
  want "drift: check d03..d17 differences" "$(diffs <<<"$job_body")" "d03:only_primary d08:differ"
fi
if run_job "drift: check from d10" check '{"operation":"check","range":{"first":"d10","last":""}}'; then
  want "drift: check from d10 differences" "$(diffs <<<"$job_body")" "d17:only_primary d29:only_primary d41:differ"
fi
# max_differences stops the check early, saying where it stopped.
if run_job "drift: check max_differences 2" check '{"operation":"check","max_differences":2}'; then
  want "drift: max_differences complete" "$(jget report.complete <<<"$job_body")" false
  want "drift: max_differences stopped" "$(jget report.stopped <<<"$job_body")" max_differences
  want "drift: max_differences difference_count" "$(jget report.difference_count <<<"$job_body")" 2
  want "drift: max_differences differences" "$(diffs <<<"$job_body")" "d03:only_primary d08:differ"
  [[ "$(jget report.remaining <<<"$job_body")" == \{* ]] || fail "drift: max_differences without remaining: ${job_body:0:400}"
fi
# A dry run counts and writes nothing.
before="$(db dump "$B/s.db")"
if run_job "drift: full dry run" full '{"operation":"full","dry_run":true}'; then
  want "drift: dry full difference_count" "$(jget report.difference_count <<<"$job_body")" 5
  want "drift: dry full copied_to_secondary" "$(jget report.repair.copied_to_secondary <<<"$job_body")" 5
  want "drift: dry full copied_to_primary" "$(jget report.repair.copied_to_primary <<<"$job_body")" 0
  want "drift: dry full removed_from_secondary" "$(jget report.repair.removed_from_secondary <<<"$job_body")" 0
  want "drift: dry full refused" "$(jget report.repair.refused <<<"$job_body")" "[]"
fi
[[ "$(db dump "$B/s.db")" == "$before" ]] || fail "drift: a dry full run changed the secondary"
if run_job "drift: check after the dry run" check '{"operation":"check"}'; then
  want "drift: check after the dry run" "$(diffs <<<"$job_body")" "$five"
fi
if run_job "drift: full" full '{"operation":"full"}'; then
  want "drift: full difference_count" "$(jget report.difference_count <<<"$job_body")" 5
  want "drift: full copied_to_secondary" "$(jget report.repair.copied_to_secondary <<<"$job_body")" 5
  want "drift: full refused" "$(jget report.repair.refused <<<"$job_body")" "[]"
  want_int_ge "drift: full progress repaired" "$(jget progress.repaired <<<"$job_body")" 5
fi
check_equal "drift: check after full"
for k in d03 d08 d41; do
  want "drift: $k in the secondary after full" "$(row "$B/s.db" "$k")" "$(row "$B/p.db" "$k")"
done

# ==============================================================================
# 5. rebuild of an emptied secondary.
echo "=== 5. rebuild"
removed="$(db clear "$B/s.db")"
want "rebuild: rows removed from the secondary" "$removed" 50
rows="$(db count "$B/p.db")"
want "rebuild: rows in the primary (no tombstones here)" "$rows" 50
if run_job "rebuild" rebuild '{"operation":"rebuild"}'; then
  want "rebuild: complete" "$(jget report.complete <<<"$job_body")" true
  want "rebuild: copied" "$(jget report.copied <<<"$job_body")" "$rows"
  want "rebuild: removed" "$(jget report.removed <<<"$job_body")" 0
  want "rebuild: refused" "$(jget report.refused <<<"$job_body")" "[]"
  want "rebuild: resumed_after" "$(jget report.resumed_after <<<"$job_body")" null
  want "rebuild: last_key" "$(jget report.last_key <<<"$job_body")" d49
fi
[[ ! -e "$B/dual-write/rebuild.checkpoint" ]] || fail "rebuild: the checkpoint is still there after a complete rebuild"
want "rebuild: rows in the secondary" "$(db count "$B/s.db")" 50
check_equal "rebuild: check after rebuild"

# ==============================================================================
# 6. One job at a time; cancel; unknown ids.
echo "=== 6. jobs: conflict, cancel, unknown ids"
for b in $(seq 0 19); do
  python3 -c 'import json, sys
b = int(sys.argv[1])
print(json.dumps({"records": [{"key": "bulk%05d" % i, "value": {"n": i, "pad": "x" * 40}} for i in range(b * 1000, b * 1000 + 1000)]}))' "$b" >"$work/batch.json"
  req_want "jobs: load batch $b" POST '/v1/records:batch' 200 '"applied":1000' "${json[@]}" --data-binary @"$work/batch.json"
done
rows="$(db count "$B/p.db")"
want "jobs: rows in the primary" "$rows" 20050
post_rebuild='{"operation":"rebuild","restart":true}'
# Two POSTs on one connection, the second right behind the first: the
# rebuild (of an emptied secondary, 20050 rows) still runs when the second
# arrives. Should it have finished first (the second then 202), the pair is
# tried again; only a 409 passes.
seen_409=0
for attempt in 1 2 3 4 5; do
  db clear "$B/s.db" >/dev/null
  codes="$(curl -s -g -D "$work/h1" -o "$work/r1" -w '%{http_code}\n' -X POST "${admin[@]}" -H "$ct" \
    --data-binary "$post_rebuild" "$base/v1/reconcile" \
    --next -s -g -o "$work/r2" -w '%{http_code}\n' -X POST "${admin[@]}" -H "$ct" \
    --data-binary '{"operation":"check"}' "$base/v1/reconcile")"
  c1="$(sed -n 1p <<<"$codes")"
  c2="$(sed -n 2p <<<"$codes")"
  if [[ "$c1" != 202 ]]; then fail "jobs: POST rebuild -> $c1 $(head -c 300 "$work/r1")"; break; fi
  id1="$(jget id <"$work/r1")"
  want "jobs: rebuild Location" "$(tr -d '\r' <"$work/h1" | grep -i '^location:' | sed 's/^[^:]*: *//')" "/v1/reconcile/$id1"
  if [[ "$c2" == 409 ]]; then
    seen_409=1
    want "jobs: 409 code" "$(jget error.code <"$work/r2")" conflict
    [[ "$(jget error.message <"$work/r2")" == *"job $id1"* ]] ||
      fail "jobs: the 409 does not name the running job $id1: $(head -c 300 "$work/r2")"
    running="$(status_value reconcile | jget running)"
    [[ "$running" == "$id1" || "$running" == null ]] || fail "jobs: status reconcile.running is '$running' while job $id1 runs"
    if wait_job "jobs: the rebuild behind the 409" "$id1"; then
      want "jobs: rebuild state" "$(jget state <<<"$job_body")" "done"
      want "jobs: rebuild complete" "$(jget report.complete <<<"$job_body")" true
      want "jobs: rebuild copied" "$(jget report.copied <<<"$job_body")" "$rows"
    fi
    break
  fi
  if [[ "$c2" != 202 ]]; then fail "jobs: second POST while a rebuild runs -> $c2 $(head -c 300 "$work/r2")"; break; fi
  # Accepted: the rebuild must have ended already; two jobs never run at once.
  id2="$(jget id <"$work/r2")"
  req GET "/v1/reconcile/$id1"
  [[ "$(jget state <<<"$body")" != running ]] ||
    fail "jobs: job $id2 was accepted while job $id1 was still running: $body"
  wait_job "jobs: rebuild $id1 (attempt $attempt)" "$id1"
  wait_job "jobs: check $id2 (attempt $attempt)" "$id2"
  echo "jobs: attempt $attempt: the rebuild ended before the second POST; again"
done
((seen_409)) || fail "jobs: a second job was never refused with 409 while one ran ($attempt attempts)"
[[ ! -e "$B/dual-write/rebuild.checkpoint" ]] || fail "jobs: the checkpoint is still there after a complete rebuild"

# DELETE of a running job: 202 "cancelling", then "cancelled" with its
# partial report. The DELETE goes right after the POST; should the rebuild
# have finished first (409), it is tried again.
cancelled=0
for attempt in 1 2 3 4 5; do
  db clear "$B/s.db" >/dev/null
  codes="$(curl -s -g -D "$work/h1" -o "$work/r1" -w '%{http_code}' -X POST "${admin[@]}" -H "$ct" \
    --data-binary "$post_rebuild" "$base/v1/reconcile")"
  [[ "$codes" == 202 ]] || { fail "jobs: POST rebuild to cancel -> $codes $(head -c 300 "$work/r1")"; break; }
  location="$(tr -d '\r' <"$work/h1" | grep -i '^location:' | sed 's/^[^:]*: *//')"
  id1="${location##*/}"
  req DELETE "$location"
  if [[ "$code" == 202 ]]; then
    cancelled=1
    want "jobs: DELETE running job state" "$(jget state <<<"$body")" cancelling
    want "jobs: DELETE running job id" "$(jget id <<<"$body")" "$id1"
    if wait_job "jobs: cancelled rebuild" "$id1"; then
      want "jobs: cancelled job state" "$(jget state <<<"$job_body")" cancelled
      partial="$(jget report <<<"$job_body")"
      [[ "$partial" == \{* ]] || fail "jobs: the cancelled job has no report: ${job_body:0:400}"
    fi
    break
  fi
  [[ "$code" == 409 ]] || { fail "jobs: DELETE of running job $id1 -> $code $body"; break; }
  wait_job "jobs: rebuild $id1 finished before its DELETE (attempt $attempt)" "$id1"
  echo "jobs: attempt $attempt: the rebuild ended before its DELETE; again"
done
((cancelled)) || fail "jobs: a running job was never cancelled ($attempt attempts)"
if ((cancelled)); then
  req_want "jobs: DELETE of a cancelled job" DELETE "/v1/reconcile/$id1" 409 '"code":"conflict"'
  partial_complete="$(jget complete <<<"$partial")"
  partial_copied="$(jget copied <<<"$partial")"
  partial_last="$(jget last_key <<<"$partial")"
  echo "jobs: cancelled rebuild: complete $partial_complete, copied $partial_copied, last_key $partial_last"
  [[ "$partial_copied" =~ ^[0-9]+$ ]] || fail "jobs: the cancelled rebuild's report has copied '$partial_copied'"
  resumes=0
  if [[ "$partial_complete" == false && -n "$partial_last" && "$partial_last" != null ]]; then
    resumes=1
    [[ -e "$B/dual-write/rebuild.checkpoint" ]] || fail "jobs: no rebuild.checkpoint after a cancelled rebuild"
  fi
  # Without "restart", the next rebuild goes on from the checkpoint; each
  # row is copied once, by the cancelled rebuild or by this one.
  if run_job "jobs: resumed rebuild" rebuild '{"operation":"rebuild"}'; then
    ((resumes)) && want "jobs: resumed rebuild resumed_after" "$(jget report.resumed_after <<<"$job_body")" "$partial_last"
    want "jobs: resumed rebuild complete" "$(jget report.complete <<<"$job_body")" true
    resumed_copied="$(jget report.copied <<<"$job_body")"
    [[ "$resumed_copied" =~ ^[0-9]+$ ]] || fail "jobs: the resumed rebuild's report has copied '$resumed_copied'"
    want "jobs: copied by the cancelled and the resumed rebuild" \
      "$((${resumed_copied//[^0-9]/} + ${partial_copied//[^0-9]/}))" "$rows"
  fi
  [[ ! -e "$B/dual-write/rebuild.checkpoint" ]] || fail "jobs: the checkpoint is still there after a complete rebuild"
  want "jobs: rows in the secondary" "$(db count "$B/s.db")" "$rows"
  check_equal "jobs: check after the rebuilds"
  req_want "jobs: DELETE of a done job" DELETE "/v1/reconcile/$job" 409 '"code":"conflict"'
  req_want "jobs: GET of a done job" GET "/v1/reconcile/$job" 200 '"state":"done"'
  req_want "jobs: the list" GET /v1/reconcile 200 '{"jobs":[{'
  want "jobs: the newest listed" "$(jget jobs.0.id <<<"$body")" "$job"
  want_int_ge "jobs: metric jobs_total{rebuild,cancelled}" \
    "$(metric storesync_reconcile_jobs_total 'operation="rebuild"' 'state="cancelled"')" 1
fi
for id in 999999 abc -1 1x; do
  req_want "jobs: GET unknown id $id" GET "/v1/reconcile/$id" 404 '"code":"not_found"'
  req_want "jobs: DELETE unknown id $id" DELETE "/v1/reconcile/$id" 404 '"code":"not_found"'
done

# ==============================================================================
# 7. Hostile bodies: 400 invalid_input, and no job starts.
echo "=== 7. hostile reconcile bodies"
reconcile_before="$(status_value reconcile)"
hostile=0
bad_body() {  # bad_body WHAT [curl args...]: POST /v1/reconcile with that body -> 400 invalid_input
  local what="$1"
  shift
  req POST /v1/reconcile "${json[@]}" "$@"
  [[ "$code" == 400 && "$(jget error.code <<<"$body")" == invalid_input ]] ||
    fail "hostile $what: POST /v1/reconcile -> $code ${body:0:300} (wanted 400 invalid_input)"
  hostile=$((hostile + 1))
}
bad_body "not JSON" --data-binary 'check please'
bad_body "empty" --data-binary ''
bad_body "truncated" --data-binary '{"operation":"check"'
bad_body "trailing garbage" --data-binary '{"operation":"check"} x'
bad_body "an array" --data-binary '["check"]'
bad_body "a string" --data-binary '"check"'
bad_body "null" --data-binary 'null'
bad_body "no operation" --data-binary '{}'
bad_body "unknown operation" --data-binary '{"operation":"nope"}'
bad_body "operation not a string" --data-binary '{"operation":1}'
bad_body "dry_run a string" --data-binary '{"operation":"check","dry_run":"yes"}'
bad_body "unknown member" --data-binary '{"operation":"check","colour":"red"}'
bad_body "unknown range member" --data-binary '{"operation":"check","range":{"first":"a","middle":"b"}}'
bad_body "range a string" --data-binary '{"operation":"check","range":"a-m"}'
bad_body "range first > last" --data-binary '{"operation":"check","range":{"first":"m","last":"a"}}'
bad_body "range first == last" --data-binary '{"operation":"check","range":{"first":"m","last":"m"}}'
bad_body "max_differences -1" --data-binary '{"operation":"check","max_differences":-1}'
bad_body "max_differences 0" --data-binary '{"operation":"check","max_differences":0}'
bad_body "max_differences 1.5" --data-binary '{"operation":"check","max_differences":1.5}'
bad_body "max_differences 1e400" --data-binary '{"operation":"check","max_differences":1e400}'
bad_body "max_seconds 0" --data-binary '{"operation":"check","max_seconds":0}'
bad_body "source_of_truth left" --data-binary '{"operation":"repair","source_of_truth":"left"}'
bad_body "restart a number" --data-binary '{"operation":"rebuild","restart":1}'
python3 -c 'import sys; sys.stdout.write("{\"operation\":\"check\",\"range\":" + "[" * 100 + "]" * 100 + "}")' >"$work/deep.json"
bad_body "100 levels deep" --data-binary @"$work/deep.json"
python3 -c 'import sys; sys.stdout.write("[" * 100000 + "]" * 100000)' >"$work/deeper.json"
bad_body "100000 levels deep" --data-binary @"$work/deeper.json"
python3 -c 'import sys; sys.stdout.write("{\"operation\":\"check\",\"range\":{\"first\":\"" + "a" * 102400 + "\",\"last\":\"\"}}")' >"$work/big.json"
bad_body "100 KB" --data-binary @"$work/big.json"
printf '\xff' >"$work/ff.json"
bad_body "the byte 0xff" --data-binary @"$work/ff.json"
printf '{"operation":"check","range":{"first":"\xff\xfe","last":""}}' >"$work/utf8.json"
bad_body "invalid UTF-8 in a string" --data-binary @"$work/utf8.json"
printf '{"operation":"che\xc3"}' >"$work/utf8b.json"
bad_body "a truncated UTF-8 sequence" --data-binary @"$work/utf8b.json"
want "hostile: status reconcile after $hostile bodies (no job started)" "$(status_value reconcile)" "$reconcile_before"
want "hostile: nothing running" "$(status_value reconcile | jget running)" null
# GET lists the jobs, POST starts one; nothing else on /v1/reconcile.
for method in PUT DELETE; do
  req "$method" /v1/reconcile
  [[ "$code" == 405 && "$(jget error.code <<<"$body")" == method_not_allowed && "$(header allow)" == "GET, HEAD, POST" ]] ||
    fail "$method /v1/reconcile -> $code, Allow '$(header allow)', ${body:0:200} (wanted 405, Allow: GET, HEAD, POST)"
done
want "hostile: status reconcile after the wrong methods" "$(status_value reconcile)" "$reconcile_before"
req_want "the server still answers" GET /healthz 200 '"status":"ok"'
stop_server

# ==============================================================================
# 8. The admin token guards both routes.
echo "=== 8. admin token"
C="$work/c"
token='dual-admin-secret'
dual "$work/c.log" "$C" --admin-token "$token"
good=(-H "Authorization: Bearer $token")
wrong=(-H "Authorization: Bearer ${token}x")
expect GET /v1/inconsistencies 401 'missing bearer token'
expect GET /v1/inconsistencies 401 'wrong bearer token' "${wrong[@]}"
expect GET /v1/inconsistencies 401 'unauthorized' -H "Authorization: Basic $token"
expect GET /v1/inconsistencies 200 '"inconsistencies":[]' "${good[@]}"
expect POST /v1/reconcile 401 'missing bearer token' "${json[@]}" -d '{"operation":"check"}'
expect POST /v1/reconcile 401 'wrong bearer token' "${wrong[@]}" "${json[@]}" -d '{"operation":"check"}'
want "admin: no job after the 401s" "$(status_value reconcile | jget last)" null
want "admin: nothing running after the 401s" "$(status_value reconcile | jget running)" null
expect PUT /v1/records/open 200 '"outcome":"applied"' "${json[@]}" -d '1'  # data routes: no api token set
admin=("${good[@]}")
check_equal "admin: check with the token"
admin=()
expect GET "/v1/reconcile/$job" 401 'missing bearer token'
expect GET "/v1/reconcile/$job" 401 'wrong bearer token' "${wrong[@]}"
expect DELETE "/v1/reconcile/$job" 401 'missing bearer token'
expect GET "/v1/reconcile/$job" 200 '"state":"done"' "${good[@]}"
expect DELETE "/v1/reconcile/$job" 409 '"conflict"' "${good[@]}"
expect GET /v1/reconcile/999999 401 'unauthorized'
expect GET /v1/reconcile 401 'missing bearer token'
expect GET /v1/reconcile 200 '"jobs":[' "${good[@]}"
grep -q "$token" "$work/c.log" && fail "admin: the token reached the log"
stop_server

# ==============================================================================
# 9. Other modes have neither route.
echo "=== 9. other modes"
for mode in write-behind direct; do
  mkdir -p "$work/$mode"
  start_server "$server" "$work/$mode.log" --mode "$mode" --data-dir "$work/$mode"
  expect GET /v1/inconsistencies 404 '"code":"not_found"'
  expect GET '/v1/inconsistencies?limit=2' 404 '"code":"not_found"'
  expect POST /v1/reconcile 404 '"code":"not_found"' "${json[@]}" -d '{"operation":"check"}'
  expect GET /v1/reconcile 404 '"code":"not_found"'
  expect GET /v1/reconcile/1 404 '"code":"not_found"'
  expect DELETE /v1/reconcile/1 404 '"code":"not_found"'
  expect GET /v1/status 200 "\"mode\":\"$mode\""
  stop_server
done

# ==============================================================================
# 11. kill -9 under load (best-effort); restart on the same data dir.
echo "=== 11. kill -9 and intent recovery"
F="$work/f"
dual "$work/f1.log" "$F" --consistency best-effort
acks="$work/f.acks"
: >"$acks"
for i in $(seq -w 1 200); do
  req PUT "/v1/records/r$i" "${json[@]}" -d "{\"i\":\"$i\"}"
  if [[ "$code" == 200 && "$body" =~ \"version\":([0-9]+) ]]; then
    echo "r$i ${BASH_REMATCH[1]}" >>"$acks"
  else
    fail "kill: PUT r$i -> $code $body"
  fi
done
# A load still running at the kill: a write may be in the primary only, its
# intent open.
load_acks="$work/f.load"
: >"$load_acks"
(
  i=0
  while :; do
    i=$((i + 1))
    out="$(curl -s -w '\n%{http_code}' -X PUT -H "$ct" -d "{\"load\":$i}" "$base/v1/records/load$i")"
    [[ "${out##*$'\n'}" == 200 ]] && echo "load$i $(grep -o '"version":[0-9]*' <<<"$out" | cut -d: -f2)" >>"$load_acks"
  done
) &
loader=$!
# shellcheck disable=SC2317  # called through wait_for
load_acked_100() { (($(wc -l <"$load_acks") >= 100)); }
wait_for "kill: 100 acknowledged PUTs of the load" load_acked_100
kill -9 "$pid"
wait "$pid" 2>/dev/null
kill "$loader" 2>/dev/null
wait "$loader" 2>/dev/null
loader=""
pid=""
echo "kill: killed after $(wc -l <"$acks") + $(wc -l <"$load_acks") acknowledged PUTs"
dual "$work/f2.log" "$F" --consistency best-effort
req_want "kill: status after the restart" GET /v1/status 200 '"mode":"dual-write"'
echo "kill: after the restart: recovered_intents $(jget recovered_intents <<<"$body"), open_intents $(jget open_intents <<<"$body")"
want "kill: open_intents after the restart" "$(jget open_intents <<<"$body")" 0
check_equal "kill: check after the restart"
cat >"$work/readback.py" <<'PY'
import http.client, json, sys
from urllib.parse import urlsplit
u = urlsplit(sys.argv[1])
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
bad = n = 0
for path in sys.argv[2:]:
    for line in open(path):
        key, version = line.split()
        conn.request("GET", "/v1/records/" + key)
        res = conn.getresponse()
        text = res.read()
        n += 1
        got = json.loads(text).get("version") if res.status == 200 else None
        if got != int(version):
            bad += 1
            if bad <= 5:
                print(f"{key}: acknowledged at version {version}, GET -> {res.status} {text[:200]!r}")
print(f"read back {n - bad} of {n}")
sys.exit(1 if bad or n == 0 else 0)
PY
out="$(python3 "$work/readback.py" "$base" "$acks" "$load_acks")" || fail "kill: acknowledged writes lost: $out"
echo "kill: $out"
want "kill: the 200 keys" "$(wc -l <"$acks")" 200
stop_server

# ==============================================================================
# PostgreSQL primary, SQLite secondary.
echo "=== PostgreSQL primary"
G="$work/g"
mkdir -p "$G"
start_server "$server" "$work/g.log" --mode dual-write --data-dir "$G" --primary "$url" --secondary "sqlite:$G/s.db"
req_want "pg: PUT num" PUT /v1/records/num 200 '"outcome":"applied"' "${json[@]}" --data-binary "$num"
v_num="$(jget version <<<"$body")"
req GET /v1/records/num
[[ "$code" == 200 && "$body" == *"\"value\":$num}" ]] || fail "pg: GET num -> $code $body (wanted $num byte for byte)"
want "pg: num in the secondary" "$(row "$G/s.db" num)" "$v_num|$num|live"
records="$(python3 -c 'import json; print(json.dumps({"records": [{"key": "g%02d" % i, "value": {"g": i}} for i in range(20)]}))')"
req_want "pg: batch of 20" POST '/v1/records:batch' 200 '"applied":20' "${json[@]}" --data-binary "$records"
req_want "pg: DELETE g07" DELETE /v1/records/g07 200 '"deleted":true'
want "pg: g07 in the secondary" "$(row "$G/s.db" g07 | cut -d'|' -f3)" deleted
req_want "pg: status" GET /v1/status 200 '"primary":"postgresql"'
want "pg: status secondary" "$(jget secondary <<<"$body")" sqlite
req_want "pg: readyz" GET /readyz 200 '"ready":true'
want "pg: readyz primary store" "$(jget stores.primary.store <<<"$body")" postgresql
want "pg: readyz primary state" "$(jget stores.primary.state <<<"$body")" up
check_equal "pg: check"
db drop "$G/s.db" g11 || fail "pg: could not remove g11 from the secondary"
if run_job "pg: check after the drift" check '{"operation":"check"}'; then
  want "pg: differences" "$(diffs <<<"$job_body")" "g11:only_primary"
fi
run_job "pg: full" full '{"operation":"full"}'
check_equal "pg: check after full"
stop_server

echo "dual-write checks done: $failures failure(s)"
((failures == 0)) && echo "all dual-write checks passed"
exit $((failures > 0))
