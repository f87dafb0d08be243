#!/usr/bin/env python3
"""Deterministic keys and values for the end-to-end tests: write them, read
them back, and build a deeply nested SQLite row.

    kv_check.py put BASE PREFIX COUNT SIZE ACKFILE [--outcome O] [--connections N]
    kv_check.py check BASE PREFIX COUNT SIZE [--sample N]
    kv_check.py value PREFIX I SIZE
    kv_check.py hashes VALUE_FILE KEY VERSION
    kv_check.py sqlite-insert-nested DB KEY VERSION DEPTH

Key i is PREFIX<i>; its value is JSON text of exactly SIZE bytes (at least
~60) that only that key has, so a value read back under the wrong key, or
cut short, never matches.

put: CONNECTIONS threads (default 4), one keep-alive connection each, PUT
every key once (no ?version: the server assigns it). 429 and 503 are the
server asking for time (the pending bound is full); the PUT is sent again
until it is answered, however long that takes. Any other status, or (with
--outcome) another outcome, is an error: it is printed and the exit status
is 1. Each 200 appends "key version" to ACKFILE. Prints how many PUTs and
retries there were, and the outcomes.

check: GETs every key (or, with --sample N, a deterministic sample of N keys
plus the first and the last) and compares the value text byte for byte with
what put wrote. Prints the mismatches (at most 5) and exits 1 on any.

value: prints key i's value (no newline).

hashes: storesync's content hash (MurmurHash3 x64/128, seed 0, as the
16-byte SQLite blob: hi then lo, big-endian, in hex) and row hash (signed
64-bit) of a value, as include/storesync/core/entry.hpp defines them.

sqlite-insert-nested: inserts (or replaces) KEY at VERSION in the SQLite
table storesync_entries of DB (the layout of sqlite_store.hpp), its value an
array nested DEPTH deep ("[[[...]]]"), with the hashes storesync computes.
Prints the value's length in bytes.
"""
import hashlib
import http.client
import json
import random
import sqlite3
import struct
import sys
import threading
import time
import os
from urllib.parse import urlsplit

M64 = (1 << 64) - 1


def value_of(prefix, i, size):
    head = '{"i":%d,"pad":"' % i
    tail = '"}'
    room = size - len(head) - len(tail)
    if room < 0:
        raise SystemExit(f"SIZE {size} is too small")
    seed = hashlib.sha256(f"{prefix}{i}".encode()).hexdigest()
    pad = (seed * (room // len(seed) + 1))[:room]
    return head + pad + tail


def connect(where):
    # The timeout guards against a hung server only: a slow answer on a
    # loaded machine is still an answer.
    return http.client.HTTPConnection(where.hostname, where.port, timeout=600)


def request(conn_box, where, method, path, body=None):
    """One request on a keep-alive connection (reopened when it fails)."""
    for attempt in range(50):
        if conn_box[0] is None:
            conn_box[0] = connect(where)
        conn = conn_box[0]
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body, headers)
            res = conn.getresponse()
            payload = res.read()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            conn_box[0] = None
            last = e
            time.sleep(0.05)
            continue
        if res.will_close:
            conn.close()
            conn_box[0] = None
        return res.status, payload
    raise SystemExit(f"{method} {path}: connection keeps failing: {last}")


def cmd_put(args):
    base, prefix, count, size, ackfile = args[0], args[1], int(args[2]), int(args[3]), args[4]
    want_outcome = None
    connections = 4
    rest = args[5:]
    while rest:
        flag, val = rest[0], rest[1]
        rest = rest[2:]
        if flag == "--outcome":
            want_outcome = val
        elif flag == "--connections":
            connections = int(val)
        else:
            raise SystemExit(f"unknown flag {flag}")
    where = urlsplit(base)
    fd = os.open(ackfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    lock = threading.Lock()
    stats = {"puts": 0, "retries": 0, "errors": 0, "outcomes": {}}

    def run(me):
        box = [None]
        for i in range(me, count, connections):
            key = f"{prefix}{i}"
            body = value_of(prefix, i, size)
            while True:
                status, payload = request(box, where, "PUT", f"/v1/records/{key}", body)
                if status in (429, 503):
                    with lock:
                        stats["retries"] += 1
                    time.sleep(0.01)  # the server asked for time; the PUT is sent again
                    continue
                break
            with lock:
                stats["puts"] += 1
                if status != 200:
                    stats["errors"] += 1
                    if stats["errors"] <= 5:
                        print(f"FAIL: PUT {key} -> {status} {payload[:300]!r}")
                    continue
                answer = json.loads(payload)
                outcome = answer.get("outcome")
                stats["outcomes"][outcome] = stats["outcomes"].get(outcome, 0) + 1
                if want_outcome is not None and outcome != want_outcome:
                    stats["errors"] += 1
                    if stats["errors"] <= 5:
                        print(f"FAIL: PUT {key} -> outcome {outcome!r}, wanted {want_outcome!r}: {payload!r}")
                os.write(fd, f"{key} {answer['version']}\n".encode())

    threads = [threading.Thread(target=run, args=(t,), daemon=True) for t in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"put {stats['puts']} keys ({prefix}0..{prefix}{count - 1}, {size} bytes each), "
          f"{stats['retries']} retries after 429/503, outcomes {stats['outcomes']}, {stats['errors']} errors")
    return 1 if stats["errors"] or stats["puts"] != count else 0


def cmd_check(args):
    base, prefix, count, size = args[0], args[1], int(args[2]), int(args[3])
    indices = list(range(count))
    if len(args) > 4:
        if args[4] != "--sample":
            raise SystemExit(f"unknown flag {args[4]}")
        n = int(args[5])
        rng = random.Random(20240611)  # deterministic
        indices = sorted(set(rng.sample(range(count), min(n, count))) | {0, count - 1})
    where = urlsplit(base)
    box = [None]
    bad = 0
    for i in indices:
        key = f"{prefix}{i}"
        want = value_of(prefix, i, size)
        status, payload = request(box, where, "GET", f"/v1/records/{key}")
        text = payload.decode("utf-8", "replace")
        marker = ',"value":'
        at = text.find(marker)
        got = text[at + len(marker):].rstrip("\n")[:-1] if at >= 0 else None
        if status != 200 or got != want:
            bad += 1
            if bad <= 5:
                print(f"FAIL: GET {key} -> {status} {text[:200]!r} (wanted the {size}-byte value written)")
    print(f"read back {len(indices)} keys of {count}: {len(indices) - bad} exact, {bad} wrong")
    return 1 if bad else 0


def fmix64(k):
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & M64
    k ^= k >> 33
    return k


def rotl64(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def murmur3_128(data, seed):
    c1, c2 = 0x87C37B91114253D5, 0x4CF5AD432745937F
    h1 = h2 = seed
    n = len(data) // 16
    for i in range(n):
        k1, k2 = struct.unpack_from("<QQ", data, i * 16)
        k1 = (k1 * c1) & M64
        k1 = rotl64(k1, 31)
        k1 = (k1 * c2) & M64
        h1 ^= k1
        h1 = rotl64(h1, 27)
        h1 = (h1 + h2) & M64
        h1 = (h1 * 5 + 0x52DCE729) & M64
        k2 = (k2 * c2) & M64
        k2 = rotl64(k2, 33)
        k2 = (k2 * c1) & M64
        h2 ^= k2
        h2 = rotl64(h2, 31)
        h2 = (h2 + h1) & M64
        h2 = (h2 * 5 + 0x38495AB5) & M64
    tail = data[n * 16:]
    k1 = k2 = 0
    for j in range(len(tail) - 1, 7, -1):
        k2 ^= tail[j] << (8 * (j - 8))
    if len(tail) > 8:
        k2 = (k2 * c2) & M64
        k2 = rotl64(k2, 33)
        k2 = (k2 * c1) & M64
        h2 ^= k2
    for j in range(min(len(tail), 8) - 1, -1, -1):
        k1 ^= tail[j] << (8 * j)
    if len(tail) > 0:
        k1 = (k1 * c1) & M64
        k1 = rotl64(k1, 31)
        k1 = (k1 * c2) & M64
        h1 ^= k1
    h1 ^= len(data)
    h2 ^= len(data)
    h1 = (h1 + h2) & M64
    h2 = (h2 + h1) & M64
    h1 = fmix64(h1)
    h2 = fmix64(h2)
    h1 = (h1 + h2) & M64
    h2 = (h2 + h1) & M64
    return h1, h2  # (lo, hi)


def hashes(key, value, version):
    """(16-byte blob, signed row hash) as storesync stores them in SQLite."""
    lo, hi = murmur3_128(value.encode(), 0)
    blob = struct.pack(">QQ", hi, lo)
    r = murmur3_128(key.encode(), 0x73746F726573796E)[0]
    r = fmix64(r ^ fmix64((version + 1) & M64))
    r = fmix64(r ^ lo)
    r = fmix64(r ^ hi)
    signed = r - (1 << 64) if r >= (1 << 63) else r
    return blob, signed


def cmd_hashes(args):
    with open(args[0], encoding="utf-8") as f:
        value = f.read()
    blob, row = hashes(args[1], value, int(args[2]))
    print(blob.hex(), row)
    return 0


def cmd_sqlite_insert_nested(args):
    db, key, version, depth = args[0], args[1], int(args[2]), int(args[3])
    value = "[" * depth + "]" * depth
    blob, row = hashes(key, value, version)
    con = sqlite3.connect(db)
    with con:
        con.execute(
            "INSERT OR REPLACE INTO storesync_entries"
            " (key, version, hash, row_hash, value, tombstone, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?)",
            (key, version, blob, row, value, int(time.time() * 1000)),
        )
    con.close()
    print(len(value))
    return 0


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "put":
        return cmd_put(args)
    if cmd == "check":
        return cmd_check(args)
    if cmd == "value":
        sys.stdout.write(value_of(args[0], int(args[1]), int(args[2])))
        return 0
    if cmd == "hashes":
        return cmd_hashes(args)
    if cmd == "sqlite-insert-nested":
        return cmd_sqlite_insert_nested(args)
    raise SystemExit(f"unknown command {cmd}\n{__doc__}")


if __name__ == "__main__":
    sys.exit(main())
