#!/usr/bin/env python3
"""soak.py's final check tells a landed in-flight operation from a lost one.

A key's last acknowledged operation must hold in the durable store; the
operation sent after it, unacknowledged when the server was killed, may
have landed, and then only at a newer version. Each case below is a log and
the durable store's rows, and the counts verify must report.
"""
import json
import os
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, here)
from soak import value_of  # noqa: E402


def verify(log, rows):
    with tempfile.TemporaryDirectory() as d:
        log_path, rows_path = os.path.join(d, "log"), os.path.join(d, "rows")
        with open(log_path, "w") as f:
            f.write("".join(line + "\n" for line in log))
        with open(rows_path, "w") as f:
            f.write("".join("\t".join(map(str, r)) + "\n" for r in rows))
        done = subprocess.run([sys.executable, os.path.join(here, "soak.py"), "verify", log_path, rows_path],
                              capture_output=True, text=True)
    return done.returncode, done.stdout


def put_row(key, seq, version):
    return (key, version, 0, value_of(key, seq))


cases = [
    # (name, log, rows, the count that must be 1, or None for a clean check)
    ("acknowledged PUT held", ["S k P 1", "A k P 1 10"], [put_row("k", 1, 10)], None),
    ("in-flight DELETE landed after a PUT", ["S k P 1", "A k P 1 10", "S k D 2"],
     [("k", 12, 1, "")], None),
    ("PUT lost under an older tombstone, DELETE in flight", ["S k D 1", "A k D 1 5", "S k P 2", "A k P 2 10", "S k D 3"],
     [("k", 5, 1, "")], "lost"),
    ("PUT lost, no row, DELETE in flight", ["S k P 1", "A k P 1 10", "S k D 2"], [], "lost"),
    ("in-flight PUT landed after a DELETE", ["S k D 1", "A k D 1 10", "S k P 2"], [put_row("k", 2, 12)], None),
    ("live row at the DELETE's own version, PUT in flight", ["S k D 1", "A k D 1 10", "S k P 2"],
     [put_row("k", 2, 10)], "wrong value"),
    ("DELETE undone by an older PUT", ["S k P 1", "A k P 1 5", "S k D 2", "A k D 2 10"], [put_row("k", 1, 5)],
     "resurrected"),
    ("landed in-flight PUT with another value", ["S k P 1", "A k P 1 10", "S k P 2"], [put_row("k", 1, 12)],
     "wrong value"),
]

failures = 0
for name, log, rows, expected in cases:
    code, out = verify(log, rows)
    want_code = 0 if expected is None else 1
    counted = out.splitlines()[0] if out else ""
    ok = code == want_code and (expected is None or f"1 {expected}" in counted)
    print(("ok  " if ok else "FAIL") + f" {name}: exit {code}, {counted}")
    failures += not ok
sys.exit(1 if failures else 0)
