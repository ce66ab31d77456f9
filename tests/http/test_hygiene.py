#!/usr/bin/python3
"""test_hygiene.py - connection hygiene and strict framing, black box
(issue 12, points 1, 2 and 6): per-address and global connection limits,
the header deadline counted from a request's first byte, the body deadline,
the idle timeout apart from both, trusted proxies, ambiguous framing and
control bytes, HEAD.

Each limit test runs a server with that limit made small; the others keep
the defaults. Run from the repository root:
    /usr/bin/python3 tests/http/test_hygiene.py
"""

import os
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import check, eq, expect, raise_nofile_limit, read_until_close, run, short  # noqa: E402

SPECS = {
    "main": {"args": []},
    "perip": {"args": ["--max-connections-per-ip", "5"]},
    "global": {"args": ["--max-connections", "12", "--max-connections-per-ip", "0"]},
    "deadlines": {"args": ["--header-timeout", "1", "--body-timeout", "1", "--idle-timeout", "4"]},
    "idle": {"args": ["--idle-timeout", "1"]},
    "off": {"args": ["--header-timeout", "0", "--body-timeout", "0", "--idle-timeout", "30"]},
    "proxy": {"args": ["--max-connections-per-ip", "3", "--trusted-proxy", "127.0.0.1/32"]},
}


def connect(port, src="127.0.0.1", timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def closed_by_server(s, within):
    """True when the server closes s (EOF or reset) within `within` seconds."""
    s.settimeout(within)
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def served(port, src="127.0.0.1"):
    s = connect(port, src)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return read_until_close(s, 1 << 20).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
    finally:
        s.close()


def status_of(data):
    line = data.split(b"\r\n", 1)[0].split(b" ")
    return int(line[1]) if len(line) > 1 and line[1].isdigit() else None


def raw(env, name, request):
    srv = env.server(name)
    s = connect(srv.port)
    try:
        s.sendall(request)
        return read_until_close(s, 1 << 20)
    finally:
        s.close()


def expect_400_json(data, what):
    check(status_of(data) == 400, "%s: expected 400, got %s" % (what, short(data)))
    check(b"application/json" in data.split(b"\r\n\r\n", 1)[0],
          "%s: the 400 is not JSON: %s" % (what, short(data)))
    check(data.count(b"HTTP/1.1 ") == 1,
          "%s: more than one answer (the rest was read as a request): %s" % (what, short(data)))


# --------------------------------------------------------------------------
# strict framing

def test_duplicate_content_length(env):
    body = b'{"username":"a","showId":1,"seats":["A1"]}'
    req = (b"POST /api/bookings/hold HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(body), len(body))) + body
    expect_400_json(raw(env, "main", req), "two equal Content-Length headers")


def test_conflicting_content_length_smuggles_nothing(env):
    smuggled = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    req = (b"POST /api/bookings/hold HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: 2\r\nContent-Length: %d\r\n\r\n{}" % (2 + len(smuggled))) + smuggled
    expect_400_json(raw(env, "main", req), "conflicting Content-Length headers")


def test_content_length_with_transfer_encoding(env):
    req = (b"POST /api/bookings/hold HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
    expect_400_json(raw(env, "main", req), "Content-Length with Transfer-Encoding")


def test_control_byte_in_header(env):
    for ch in (b"\x01", b"\x1b", b"\x7f"):
        req = (b"GET /api/shows/active HTTP/1.1\r\nHost: x\r\nX-Request-Id: ab" + ch +
               b"cd\r\n\r\n")
        expect_400_json(raw(env, "main", req), "header with byte %r" % ch)
    req = (b"POST /api/bookings/hold HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Idempotency-Key: k\x02ey\r\nContent-Length: 2\r\n\r\n{}")
    expect_400_json(raw(env, "main", req), "Idempotency-Key with a control byte")


def test_tab_in_header_is_fine(env):
    data = raw(env, "main", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Note: a\tb\r\n"
               b"Connection: close\r\n\r\n")
    eq(status_of(data), 200, "a tab in a header value is legal")


def test_head_wherever_get(env):
    c = env.server("main").client()
    for path in ("/api/shows/active", "/healthz"):
        g = c.get(path)
        eq(g[0], 200, "GET " + path)
        data = raw(env, "main", b"HEAD " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                   b"Connection: close\r\n\r\n")
        eq(status_of(data), 200, "HEAD " + path)
        head, _, rest = data.partition(b"\r\n\r\n")
        eq(rest, b"", "HEAD %s sends no body" % path)
        check(b"content-length: %d" % len(g[3]) in head.lower(),
              "HEAD %s: Content-Length of the GET answer (%d): %s" % (path, len(g[3]), short(head)))


# --------------------------------------------------------------------------
# connection limits

def hold_served(port, n, src="127.0.0.1"):
    """n keep-alive connections from src, each answered once. Retries for a
    few seconds: connections this test closed just before may not yet be
    closed on the server's side."""
    deadline = time.monotonic() + 5
    while True:
        held = [connect(port, src) for _ in range(n)]
        ok = True
        for s in held:
            try:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                ok = ok and s.recv(4096).startswith(b"HTTP/1.1 200")
            except OSError:
                ok = False
        if ok:
            return held
        for s in held:
            s.close()
        check(time.monotonic() < deadline, "%d connections from %s under the cap served" % (n, src))
        time.sleep(0.2)


def test_per_ip_connection_cap(env):
    srv = env.server("perip")
    held = hold_served(srv.port, 5)
    try:
        extra = connect(srv.port)
        t0 = time.monotonic()
        check(closed_by_server(extra, 2.0), "the 6th connection from one address is refused")
        check(time.monotonic() - t0 < 1.0, "refused at once, not queued")
        extra.close()
        check(served(srv.port, "127.0.0.2"), "another address is still served")
    finally:
        for s in held:
            s.close()
    deadline = time.monotonic() + 5
    while not served(srv.port) and time.monotonic() < deadline:
        time.sleep(0.05)
    check(served(srv.port), "served again once the address's connections closed")


def test_global_connection_limit_refuses_fast(env):
    srv = env.server("global")
    held = []
    try:
        for i in range(12):
            s = connect(srv.port, "127.0.0.%d" % (2 + i % 3))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            check(s.recv(4096).startswith(b"HTTP/1.1 200"), "connection %d served" % i)
            held.append(s)
        t0 = time.monotonic()
        extra = connect(srv.port, "127.0.0.9")
        check(closed_by_server(extra, 2.0), "beyond the global limit: refused")
        check(time.monotonic() - t0 < 1.0, "refused at once, not left in the backlog")
        extra.close()
    finally:
        for s in held:
            s.close()


def test_trusted_proxy_is_not_capped(env):
    srv = env.server("proxy")
    held = hold_served(srv.port, 8)  # a trusted proxy: not capped per address
    try:
        others = hold_served(srv.port, 3, "127.0.0.2")
        extra = connect(srv.port, "127.0.0.2")
        check(closed_by_server(extra, 2.0), "an untrusted address is still capped")
        for s in others + [extra]:
            s.close()
    finally:
        for s in held:
            s.close()


# --------------------------------------------------------------------------
# deadlines

def test_slowloris_headers_cut_by_deadline(env):
    srv = env.server("deadlines")
    s = connect(srv.port)
    t0 = time.monotonic()
    closed = False
    try:
        for ch in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Drip: " + b"a" * 200:
            s.sendall(bytes([ch]))
            if closed_by_server(s, 0.2):
                closed = True
                break
            if time.monotonic() - t0 > 8:
                break
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    finally:
        s.close()
    took = time.monotonic() - t0
    check(closed, "a header dripped a byte every 0.2 s is cut (idle timeout never fires)")
    check(took < 4, "cut by the 1 s header deadline (+ one reaper pass), took %.1f s" % took)
    check(served(srv.port), "served afterwards")


def test_idle_keepalive_outlives_header_deadline(env):
    srv = env.server("deadlines")
    s = connect(srv.port)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        check(s.recv(4096).startswith(b"HTTP/1.1 200"), "first request")
        check(not closed_by_server(s, 2.5),
              "an idle keep-alive connection is governed by the idle timeout (4 s), "
              "not the header deadline (1 s)")
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        check(s.recv(4096).startswith(b"HTTP/1.1 200"), "second request on the same connection")
    finally:
        s.close()


def test_idle_timeout(env):
    srv = env.server("idle")
    s = connect(srv.port)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        check(s.recv(4096).startswith(b"HTTP/1.1 200"), "first request")
        t0 = time.monotonic()
        check(closed_by_server(s, 5.0), "closed after the 1 s idle timeout")
        check(time.monotonic() - t0 >= 0.5, "not before the idle timeout")
    finally:
        s.close()


def test_slow_body_cut_by_deadline(env):
    srv = env.server("deadlines")
    s = connect(srv.port)
    t0 = time.monotonic()
    closed = False
    try:
        s.sendall(b"POST /api/bookings/hold HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1000\r\n\r\n")
        for _ in range(40):
            s.sendall(b" ")
            if closed_by_server(s, 0.2):
                closed = True
                break
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    finally:
        s.close()
    took = time.monotonic() - t0
    check(closed, "a body dripped a byte every 0.2 s is cut")
    check(took < 4, "cut by the 1 s body deadline, took %.1f s" % took)


def test_endless_chunked_upload_cut(env):
    srv = env.server("deadlines")
    s = connect(srv.port)
    t0 = time.monotonic()
    closed = False
    try:
        s.sendall(b"POST /api/bookings/hold HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"1000\r\n" + b" " * 4096 + b"\r\n"
        while time.monotonic() - t0 < 8:
            s.sendall(chunk)
            if closed_by_server(s, 0.01):
                closed = True
                break
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    finally:
        s.close()
    check(closed, "an endless chunked upload is cut")
    check(time.monotonic() - t0 < 5, "cut by the body deadline")


def test_deadlines_off(env):
    srv = env.server("off")
    s = connect(srv.port)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        for _ in range(6):
            check(not closed_by_server(s, 0.4), "with the deadlines off a slow header is kept")
            s.sendall(b"X: y\r\n")
        s.sendall(b"Host: x\r\n\r\n")
        check(s.recv(4096).startswith(b"HTTP/1.1 200"), "and answered")
    finally:
        s.close()


TESTS = [
    ("duplicate Content-Length is 400", test_duplicate_content_length),
    ("conflicting Content-Length is 400, nothing smuggled", test_conflicting_content_length_smuggles_nothing),
    ("Content-Length with Transfer-Encoding is 400", test_content_length_with_transfer_encoding),
    ("control byte in a header is 400", test_control_byte_in_header),
    ("a tab in a header value is accepted", test_tab_in_header_is_fine),
    ("HEAD is answered wherever GET is", test_head_wherever_get),
    ("per-address connection cap, other addresses served", test_per_ip_connection_cap),
    ("global connection limit refuses at once", test_global_connection_limit_refuses_fast),
    ("trusted proxy exempt from the per-address cap", test_trusted_proxy_is_not_capped),
    ("slowloris headers cut by the header deadline", test_slowloris_headers_cut_by_deadline),
    ("idle keep-alive outlives the header deadline", test_idle_keepalive_outlives_header_deadline),
    ("idle timeout closes a silent connection", test_idle_timeout),
    ("slow body cut by the body deadline", test_slow_body_cut_by_deadline),
    ("endless chunked upload cut", test_endless_chunked_upload_cut),
    ("deadlines 0 turns them off", test_deadlines_off),
]

if __name__ == "__main__":
    raise_nofile_limit()
    run(TESTS, SPECS, title="connection hygiene and strict framing")
