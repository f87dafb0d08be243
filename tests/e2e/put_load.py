#!/usr/bin/env python3
"""Keep-alive PUT load for the end-to-end tests.

    put_load.py BASE_URL PREFIX COUNT ACKFILE [CONNECTIONS [KEYS]]

CONNECTIONS threads (default 4) each keep one HTTP/1.1 connection and PUT
~200-byte JSON values to PREFIX0 .. PREFIX<KEYS-1> (default 300 keys, so
most PUTs overwrite), COUNT requests in all. A 200
appends "key version" to ACKFILE, written and flushed before that thread's
next request, so a line exists only for a write the server acknowledged (a
kill between the response and the line only makes the check weaker). Any
other status appends "code retry-after" to ACKFILE.rejected (retry-after
"-" when the header is missing). When the connection fails
(the server was killed or is shutting down) the thread reconnects and goes
on, so the load survives a restart; stop it with SIGTERM.
"""
import json
import os
import sys
import threading
from urllib.parse import urlsplit

from keepalive import KeepAlive


def appender(path):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    # One write(2) per line on an O_APPEND descriptor: lines from different
    # threads never interleave.
    return lambda line: os.write(fd, (line + "\n").encode())


def run(base, prefix, count, keys, acks, rejected, connections, me):
    conn = KeepAlive(urlsplit(base), timeout=120)
    for i in range(me, count, connections):
        key = f"{prefix}{i % keys}"
        answer = conn.send("PUT", f"/v1/records/{key}", json.dumps({"i": i, "pad": f"{i:0150d}"}))
        if answer is None:
            continue
        res, payload = answer
        if res.status == 200:
            acks(f"{key} {json.loads(payload)['version']}")
        else:
            rejected(f"{res.status} {res.getheader('Retry-After') or '-'}")


def main():
    base, prefix, count, ackfile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    connections = int(sys.argv[5]) if len(sys.argv) > 5 else 4
    keys = int(sys.argv[6]) if len(sys.argv) > 6 else 300
    acks, rejected = appender(ackfile), appender(ackfile + ".rejected")
    threads = [
        threading.Thread(target=run, args=(base, prefix, count, keys, acks, rejected, connections, t), daemon=True)
        for t in range(connections)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
