#!/usr/bin/env python3
"""Hostile clients against a running reference server, over raw sockets.

    hostile_clients.py BASE_URL SERVER_PID MAX_CONNECTIONS

The server must run with short read and write timeouts (the cases wait for
them to close connections) and --max-connections MAX_CONNECTIONS. Each case
prints one line; a failed check prints "FAIL: ..." and the exit status is the
number of failures. Waits follow progress (a closed socket, a descriptor
count); HANG_GUARD_S (the environment's STORESYNC_E2E_HANG_GUARD_S, 600 by
default) only guards against a hang.

Cases:
  slow loris     headers, then a body, trickled in a byte at a time: the
                 server closes the connection, and nothing is stored;
  oversized      headers above 16 KiB get 431, a Content-Length above the
                 body limit 413 before any body is sent, a chunked body
                 growing past it 413;
  pipelining     four requests in one write are answered in order;
  idle flood     10,000 idle connections: the server's descriptors stay
                 within the limit, and /healthz and a PUT are answered;
  non-reader     clients that pipeline GETs of a large value and never read:
                 the server's memory grows by at most a bounded amount (far
                 below what buffering every response would take), it keeps
                 answering, and it drops them after the write timeout.
"""
import errno
import json
import os
import resource
import socket
import sys
import time
from urllib.parse import urlsplit

HANG_GUARD_S = float(os.environ.get("STORESYNC_E2E_HANG_GUARD_S", "600"))
# Descriptors the server holds besides its connections (journal, SQLite,
# stdio, the listener); must match descriptors_reserved in http_server.cpp.
RESERVED_FDS = 128

failures = 0


def fail(message):
    global failures
    failures += 1
    print(f"FAIL: {message}", flush=True)


def connect(where):
    s = socket.create_connection((where.hostname, where.port), timeout=HANG_GUARD_S)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_response(f):
    """(status, headers, body) of one response from the buffered reader f;
    None when the connection closed before a status line."""
    line = f.readline()
    if not line:
        return None
    status = int(line.split()[1])
    headers = {}
    while True:
        line = f.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = f.read(int(headers.get("content-length", "0")))
    return status, headers, body


def request(where, raw):
    """Sends raw bytes on a new connection; returns the first response."""
    with connect(where) as s:
        s.sendall(raw)
        return read_response(s.makefile("rb"))


def get(where, path):
    return request(where, f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())


def put(where, key, body):
    head = (f"PUT /v1/records/{key} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return request(where, head.encode() + body)


def closed_by_server(s):
    """True once the server has closed s (EOF or reset); never blocks long."""
    try:
        s.settimeout(0.05)
        data = s.recv(65536)
        return data == b""
    except socket.timeout:
        return False
    except OSError:
        return True


def trickle_until_closed(where, head, drip):
    """Sends head, then drip a byte at a time (again and again) until the
    server closes the connection; returns the bytes it answered, or None on
    a hang."""
    start = time.monotonic()
    with connect(where) as s:
        s.sendall(head)
        i = 0
        while time.monotonic() - start < HANG_GUARD_S:
            try:
                s.sendall(drip[i % len(drip):i % len(drip) + 1])
            except OSError:
                return b""
            i += 1
            if closed_by_server(s):
                return b""
            time.sleep(0.05)
    return None


def proc_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def proc_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def wait_until(what, check):
    start = time.monotonic()
    while not check():
        if time.monotonic() - start >= HANG_GUARD_S:
            fail(f"{what}: not reached after {HANG_GUARD_S:.0f}s, a hang")
            return False
        time.sleep(0.05)
    return True


def case_slow_loris(where):
    header_drip = b"X-Slow: " + b"a" * 64 + b"\r\n"
    got = trickle_until_closed(where, b"GET /healthz HTTP/1.1\r\nHost: t\r\n", header_drip)
    if got is None:
        fail("slow loris headers: the connection stayed open")
    body_head = (b"PUT /v1/records/slowloris HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000000\r\n\r\n\"")
    got = trickle_until_closed(where, body_head, b"a")
    if got is None:
        fail("slow loris body: the connection stayed open")
    res = get(where, "/v1/records/slowloris")
    if res is None or res[0] != 404:
        fail(f"slow loris body: a cut-off body was stored: {res}")
    print("slow loris: header and body trickles were cut off, nothing stored", flush=True)


def case_oversized(where):
    res = request(where, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * (20 << 10) + b"\r\n\r\n")
    if res is None or res[0] != 431:
        fail(f"headers of 20 KiB: wanted 431, got {res and res[0]}")
    # No body follows: the refusal must come from the header alone.
    res = request(where, b"PUT /v1/records/big HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1073741824\r\n\r\n")
    if res is None or res[0] != 413:
        fail(f"Content-Length of 1 GiB: wanted 413, got {res and res[0]}")
    chunk = b'"' + b"a" * 65534 + b'"'
    with connect(where) as s:
        s.sendall(b"PUT /v1/records/big HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        f = s.makefile("rb")
        try:
            for _ in range(64):  # 4 MiB, four times the limit
                s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        except OSError:
            pass  # the server answered and closed mid-body
        res = read_response(f)
    if res is None or res[0] != 413:
        fail(f"chunked body past the limit: wanted 413, got {res and res[0]}")
    res = get(where, "/v1/records/big")
    if res is None or res[0] != 404:
        fail(f"an oversized body was stored: {res}")
    print("oversized: 431 for headers, 413 for a declared and a chunked body, nothing stored", flush=True)


def case_pipelining(where):
    body = b'{"pipelined":1}'
    raw = (b"PUT /v1/records/pipe1 HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n%s" % (len(body), body) +
           b"GET /v1/records/pipe1 HTTP/1.1\r\nHost: t\r\n\r\n"
           b"GET /v1/records/pipe-missing HTTP/1.1\r\nHost: t\r\n\r\n"
           b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    with connect(where) as s:
        s.sendall(raw)
        f = s.makefile("rb")
        answers = [read_response(f) for _ in range(4)]
    codes = [a and a[0] for a in answers]
    if codes != [200, 200, 404, 200]:
        fail(f"pipelined requests: wanted 200 200 404 200 in order, got {codes}")
    elif json.loads(answers[1][2]).get("value") != {"pipelined": 1}:
        fail(f"pipelined GET read {answers[1][2]!r}, not what the PUT before it wrote")
    print(f"pipelining: four requests in one write answered in order {codes}", flush=True)


def case_idle_flood(where, pid, max_connections):
    count = 10_000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = count + 256
    if soft < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(need, soft), max(need, hard)))
        except (ValueError, OSError) as e:
            fail(f"idle flood: cannot raise this client's descriptor limit to {need}: {e}")
            return
    held = []
    try:
        for _ in range(count):
            held.append(connect(where))
        fds = proc_fds(pid)
        if fds > max_connections + RESERVED_FDS:
            fail(f"idle flood: the server holds {fds} descriptors with {count} idle clients "
                 f"(limit {max_connections} connections + {RESERVED_FDS})")
        res = get(where, "/healthz")
        if res is None or res[0] != 200:
            fail(f"idle flood: /healthz answered {res and res[0]} with {count} idle clients")
        res = put(where, "flood", b'{"still":"writing"}')
        if res is None or res[0] != 200:
            fail(f"idle flood: a PUT answered {res and res[0]} with {count} idle clients")
        print(f"idle flood: {count} idle clients, the server holds {fds} descriptors "
              f"(limit {max_connections}); /healthz and a PUT answered", flush=True)
    finally:
        for s in held:
            s.close()


def case_non_reader(where, pid):
    value = json.dumps({"pad": "x" * (512 << 10)}).encode()
    res = put(where, "large", value)
    if res is None or res[0] != 200:
        fail(f"non-reader: PUT of the large value answered {res and res[0]}")
        return
    baseline_fds = proc_fds(pid)
    rss_before = proc_rss_kb(pid)
    one = b"GET /v1/records/large HTTP/1.1\r\nHost: t\r\n\r\n"
    clients, sent = 20, 0
    held = []
    for _ in range(clients):
        s = connect(where)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setblocking(False)
        # Pipeline GETs until the kernel's buffers are full: the server has
        # read one of them and is stuck writing its answer.
        batch = one * 256
        while True:
            try:
                sent += s.send(batch) // len(one)
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    break
                raise
        held.append(s)
    unbounded_kb = sent * len(value) // 1024
    grew_kb = proc_rss_kb(pid) - rss_before
    # Each stuck connection holds one response, its request buffer and the
    # socket's buffers: a few MiB at most, against every answer buffered.
    allowed_kb = clients * 4 * len(value) // 1024 + 32 * 1024
    # A sanitizer's shadow memory and quarantine grow RSS on their own.
    if grew_kb > allowed_kb and not ({"ASAN_OPTIONS", "TSAN_OPTIONS"} & os.environ.keys()):
        fail(f"non-reader: RSS grew {grew_kb} kB with {clients} clients that never read "
             f"({sent} GETs pipelined; allowed {allowed_kb} kB)")
    res = get(where, "/healthz")
    if res is None or res[0] != 200:
        fail(f"non-reader: /healthz answered {res and res[0]} while clients did not read")
    # The write timeout drops them: the server's descriptors fall back.
    if wait_until("non-readers dropped after the write timeout", lambda: proc_fds(pid) <= baseline_fds):
        print(f"non-reader: {clients} clients pipelined {sent} GETs of a {len(value) >> 10} KiB value "
              f"({unbounded_kb >> 10} MiB if every answer were buffered); RSS grew {grew_kb >> 10} MiB; "
              f"all dropped after the write timeout", flush=True)
    for s in held:
        s.close()


def main():
    where = urlsplit(sys.argv[1])
    pid, max_connections = int(sys.argv[2]), int(sys.argv[3])
    case_slow_loris(where)
    case_oversized(where)
    case_pipelining(where)
    case_idle_flood(where, pid, max_connections)
    case_non_reader(where, pid)
    sys.exit(failures)


if __name__ == "__main__":
    main()
