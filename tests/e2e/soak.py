#!/usr/bin/env python3
"""The kill soak's loader and its final check.

    soak.py load BASE_URL LOG CONNECTIONS KEYS_PER_CONNECTION RUN
    soak.py verify LOG ROWS

load: CONNECTIONS processes, each with one keep-alive connection and its
own keys (c<n>-<i>, so one key's operations are never concurrent), send
PUTs (90 %) and DELETEs (10 %) of random keys, each PUT with a value that
only it has (operations are numbered from RUN x 10^9, so the loaders of
successive runs, one per server start, never reuse a number). Before each
request a thread appends "S key op seq" to LOG;
after a 200, "A key op seq version". A failed connection (the server was
killed) is reopened and the next operation sent, so the load runs across
restarts. SIGTERM ends it after each process's request in flight is answered
(or fails).

verify: LOG as load wrote it, ROWS the durable store's rows as tab-separated
"key version tombstone value" lines (tombstone 1/0 or t/f). For each key
the last acknowledged operation must hold: a PUT's exact value at its
version, or a DELETE's absence (no row, or a tombstone at its version). A
key whose last sent operation was not acknowledged (in flight at a kill)
may instead hold that operation's effect, at a newer version. Prints the
counts (lost, older, resurrected, wrong value) and exits 1 if any is not 0.
"""
import json
import os
import random
import signal
import sys
import threading  # the stop flag
from urllib.parse import urlsplit

from keepalive import KeepAlive

stopping = threading.Event()


def value_of(key, seq):
    return json.dumps({"key": key, "seq": seq, "pad": "v" * 120}, separators=(",", ":"))


def run(where, log, me, keys, first_seq):
    rng = random.Random(first_seq + me)
    conn = KeepAlive(where, timeout=600)
    seq = first_seq
    while not stopping.is_set():
        key = f"c{me}-{rng.randrange(keys)}"
        op = "D" if rng.random() < 0.1 else "P"
        seq += 1
        log(f"S {key} {op} {seq}")
        path = f"/v1/records/{key}"
        answer = conn.send("PUT", path, value_of(key, seq)) if op == "P" else conn.send("DELETE", path)
        if answer is None:
            continue
        res, payload = answer
        if res.status == 200:
            log(f"A {key} {op} {seq} {json.loads(payload)['version']}")
        elif res.status not in (429, 503):
            print(f"unexpected {res.status} for {op} {key}: {payload[:200]!r}", flush=True)


def load(base, path, connections, keys, run_number):
    # One process per connection: Python threads would share one core.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    # One write(2) per line on an O_APPEND descriptor: lines never interleave.
    log = lambda line: os.write(fd, (line + "\n").encode())
    first_seq = run_number * 1_000_000_000
    children = []
    for t in range(connections):
        child = os.fork()
        if child == 0:
            signal.signal(signal.SIGTERM, lambda *_: stopping.set())
            run(urlsplit(base), log, t, keys, first_seq)
            os._exit(0)
        children.append(child)
    signal.signal(signal.SIGTERM, lambda *_: [os.kill(c, signal.SIGTERM) for c in children])
    for child in children:
        while True:
            try:
                os.waitpid(child, 0)
                break
            except InterruptedError:
                continue


def verify(log_path, rows_path):
    last_acked = {}  # key -> (op, seq, version)
    last_sent = {}   # key -> (op, seq)
    acked = 0
    with open(log_path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 4:
                continue  # a line cut by a kill of the loader (never happens: it is stopped)
            if parts[0] == "S":
                last_sent[parts[1]] = (parts[2], int(parts[3]))
            elif parts[0] == "A" and len(parts) == 5:
                last_acked[parts[1]] = (parts[2], int(parts[3]), int(parts[4]))
                acked += 1
    rows = {}
    with open(rows_path) as f:
        for line in f:
            key, version, tombstone, value = line.rstrip("\n").split("\t", 3)
            rows[key] = (int(version), tombstone in ("1", "t", "true"), value)
    counts = {"lost": 0, "older": 0, "resurrected": 0, "wrong value": 0}
    examples = []

    def bad(kind, key, detail):
        counts[kind] += 1
        if len(examples) < 5:
            examples.append(f"{kind}: {key}: {detail}")

    for key, (op, seq, version) in last_acked.items():
        row = rows.get(key)
        sent_op, sent_seq = last_sent[key]
        unacked_after = sent_seq > seq  # the last one sent was in flight at a kill
        if row is not None and unacked_after and row[0] > version:
            # The in-flight operation reached the journal: its effect, newer.
            if sent_op == "P" and (row[1] or json.loads(row[2]) != json.loads(value_of(key, sent_seq))):
                bad("wrong value", key, f"newer row {row} is not the in-flight PUT {sent_seq}")
            continue
        # An in-flight operation that landed is newer than the acknowledged
        # one (handled above): from here on the row must be exactly that one.
        if op == "P":
            if row is None or row[1]:
                bad("lost", key, f"PUT {seq} at {version} acknowledged, row {row}")
            elif row[0] < version:
                bad("older", key, f"PUT {seq} at {version} acknowledged, row at {row[0]}")
            elif row[0] > version:
                bad("wrong value", key, f"row at {row[0]}, newer than any acknowledged or sent operation")
            elif json.loads(row[2]) != json.loads(value_of(key, seq)):
                bad("wrong value", key, f"row {row[2][:80]} is not PUT {seq}")
        else:
            if row is not None and not row[1]:
                if row[0] < version:
                    bad("resurrected", key, f"DELETE at {version} acknowledged, row at {row[0]}")
                else:
                    bad("wrong value", key, f"DELETE at {version} acknowledged, live row at {row[0]}")
            elif row is not None and row[0] < version:
                bad("older", key, f"DELETE at {version} acknowledged, tombstone at {row[0]}")
    print(f"{acked} acknowledged writes on {len(last_acked)} keys; " +
          ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    for e in examples:
        print("  " + e)
    sys.exit(1 if any(counts.values()) else 0)


def main():
    if sys.argv[1] == "load":
        load(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
    elif sys.argv[1] == "verify":
        verify(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown command {sys.argv[1]}")


if __name__ == "__main__":
    main()
