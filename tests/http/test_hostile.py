#!/usr/bin/python3
"""test_hostile.py - the hostile-input battery (issue 12, point 8), black box.

Malformed, truncated and 10,000-deep JSON, huge numbers, NaN, wrong types,
NUL and invalid UTF-8, 100,000-element seat arrays, duplicate keys, header
and query floods, pipelined garbage, half-closed and reset sockets, and slow
readers of a 50,000-seat map. Every case expects its clear answer (a JSON
error with the right status, or the library's refusal where it answers
itself), and after every case: /healthz answers, the server's memory stays
under a bound, `boxoffice verify` passes on the live database and the data
a user owns (a confirmed booking and a held cart) is unchanged.

Run from the repository root (BOXOFFICE_TEST_DB selects PostgreSQL):
    /usr/bin/python3 tests/http/test_hostile.py
    /usr/bin/python3 tests/http/test_hostile.py --valgrind   (memcheck, once)
"""

import json
import os
import socket
import struct
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import (check, eq, expect, new_show, raise_nofile_limit, read_until_close, short,  # noqa: E402
                     unique_user)

VALGRIND = "--valgrind" in sys.argv
RSS_MAX_MB = 1500 if VALGRIND else 400
HOLD = "/api/bookings/hold"


class ValgrindServer(harness.Server):
    """The server under valgrind memcheck: any error, or memory definitely
    lost at exit, makes it exit 99, which fails 'stopped cleanly'."""

    def command(self):
        return ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
                "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
                "--track-fds=no"] + super().command()


class Ctx:
    def __init__(self):
        cls = ValgrindServer if VALGRIND else harness.Server
        if VALGRIND:
            harness.servers.START_TIMEOUT = max(harness.servers.START_TIMEOUT, 120)
            harness.servers.STOP_TIMEOUT = max(harness.servers.STOP_TIMEOUT, 60)
        self.srv = cls(name="hostile-valgrind" if VALGRIND else "hostile").start()
        self.c = self.srv.client(timeout=120 if VALGRIND else 30)
        show = new_show(self.c, 5, 10)
        self.sid = show["showId"]
        self.owner = unique_user("owner")
        self.write({"username": self.owner, "showId": self.sid, "seats": ["A1", "A2"]})
        self.write({"username": self.owner, "showId": self.sid, "seats": ["A1", "A2"]},
                   "/api/bookings/confirm")
        self.write({"username": self.owner, "showId": self.sid, "seats": ["B1"]})
        big = new_show(self.c, 100, 500)
        self.big_sid = big["showId"]
        expect(self.c.get("/api/shows/%d" % self.big_sid), 200, "the 50,000-seat map")
        self.snapshot = self.state()

    def write(self, body, path=HOLD):
        return expect(self.c.post(path, body), 200, "setup %s" % path)

    def state(self):
        seats = expect(self.c.get("/api/shows/%d" % self.sid), 200, "seat map")["seats"]
        mine = expect(self.c.get("/api/bookings/user?username=" + self.owner), 200, "owner's bookings")
        for b in mine:
            b.pop("expiresAt", None)  # a STAGED cart's expiry is its own business
        return json.dumps([seats, mine], sort_keys=True)

    def rss_mb(self):
        try:
            with open("/proc/%d/status" % self.srv.proc.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024.0
        except OSError:
            pass
        return 0.0

    def after(self, name):
        """The checks after every case."""
        check(self.srv.alive(), "%s: the server died:\n%s" % (name, self.srv.log_tail()))
        h = harness.Client(self.srv.port, timeout=120 if VALGRIND else 10)
        try:
            eq(h.get("/healthz")[0], 200, "%s: /healthz afterwards" % name)
        finally:
            h.close()
        rss = self.rss_mb()
        check(rss < RSS_MAX_MB, "%s: server RSS %.0f MB over %d MB" % (name, rss, RSS_MAX_MB))
        rc, out = harness.servers.run_verify(self.srv.db)
        check(rc == 0, "%s: boxoffice verify failed on the live database:\n%s" % (name, out))
        self.c.close()
        eq(self.state(), self.snapshot, "%s: the owner's data and the seat map are unchanged" % name)


# --------------------------------------------------------------------------
# raw sockets

def connect(ctx, timeout=None):
    s = socket.create_connection(("127.0.0.1", ctx.srv.port),
                                 timeout=timeout or (120 if VALGRIND else 10))
    return s


def status(data):
    parts = data.split(b"\r\n", 1)[0].split(b" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def raw(ctx, data, close_write=False):
    s = connect(ctx)
    try:
        try:
            s.sendall(data)
            if close_write:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_until_close(s)
        harness.record_raw(data, answer)  # for the spec check, when it is a whole answer of ours
        return answer
    finally:
        s.close()


def post_raw(ctx, body, ctype=b"application/json", extra=b"", path=HOLD.encode()):
    return raw(ctx, b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
               (b"Content-Type: " + ctype + b"\r\n" if ctype else b"") + extra +
               b"Content-Length: %d\r\n\r\n" % len(body) + body)


def json_error(data, want_status, want_code, what):
    eq(status(data), want_status, "%s: status (%s)" % (what, short(data)))
    head, _, body = data.partition(b"\r\n\r\n")
    check(b"application/json" in head.lower(), "%s: answer is not JSON: %s" % (what, short(data)))
    try:
        err = json.loads(body.decode("utf-8"))["error"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise AssertionError("%s: not a JSON error: %s" % (what, short(body)))
    check(isinstance(err.get("message"), str) and err["message"], "%s: error has a message" % what)
    if want_code is not None:
        eq(err.get("code"), want_code, "%s: error code" % what)


def bad_bodies(ctx, bodies, what, code="INVALID_REQUEST", want=400):
    for b in bodies:
        json_error(post_raw(ctx, b), want, code, "%s %s" % (what, short(b, 60)))


def valid_body(ctx, **kw):
    body = {"username": unique_user("h"), "showId": ctx.sid, "seats": ["E9"]}
    body.update(kw)
    return body


# --------------------------------------------------------------------------
# cases

def case_malformed_json(ctx):
    bad_bodies(ctx, [b"{", b"}", b"{\"username\":}", b"[1,2", b"nul", b"{\"a\" 1}", b"{'a':1}",
                     b"{\"username\":\"x\"} x", b"", b" ", b"\"just a string\"", b"[]", b"42",
                     b"{\"username\":\"x\",}", b"{,}", b"\xef\xbb\xbf{}"], "malformed")


def case_truncated_json(ctx):
    full = json.dumps(valid_body(ctx)).encode()
    bad_bodies(ctx, [full[:n] for n in range(1, len(full), max(1, len(full) // 12))], "truncated")


def case_deep_json(ctx):
    bad_bodies(ctx, [b"[" * 10000 + b"]" * 10000,
                     b"{\"a\":" * 10000 + b"1" + b"}" * 10000,
                     b"{\"username\":" + b"[" * 10000 + b"]" * 10000 + b"}",
                     b"[" * 30000], "10,000-deep")


def case_huge_numbers(ctx):
    bodies = []
    for v in ("1e400", "99999999999999999999999999999", "9223372036854775808", "-1", "0", "1.5",
              "1e3", "-0", "0x10", "+1", "01", "-9223372036854775809"):
        bodies.append(b'{"username":"u1","showId":' + v.encode() + b',"seats":["A1"]}')
    bad_bodies(ctx, bodies, "huge or odd number")


def case_nan(ctx):
    bad_bodies(ctx, [b'{"username":"u1","showId":NaN,"seats":["A1"]}',
                     b'{"username":"u1","showId":Infinity,"seats":["A1"]}',
                     b'{"username":"u1","showId":-Infinity,"seats":["A1"]}',
                     b'{"username":NaN,"showId":1,"seats":["A1"]}'], "NaN/Infinity")


def case_wrong_types(ctx):
    bodies = []
    for field, vals in (("username", ["5", "null", "[]", "{}", "true", '["u"]']),
                        ("showId", ['"%d"' % ctx.sid, "true", "null", "[1]", "{}"]),
                        ("seats", ['"A1"', "[1]", "[null]", "[[]]", "{}", "[true]", "null", "[]",
                                   '["A1",["A2"]]'])):
        for v in vals:
            b = valid_body(ctx)
            text = json.dumps(b)
            text = text.replace(json.dumps(field) + ": " + json.dumps(b[field]),
                                json.dumps(field) + ": " + v)
            bodies.append(text.encode())
    bad_bodies(ctx, bodies, "wrong type")
    json_error(post_raw(ctx, b'{"username":"u1","showId":%d,"seats":["A1","a1"]}' % ctx.sid), 400,
               None, "a seat twice")


def case_nul_and_utf8(ctx):
    sid = str(ctx.sid).encode()
    bad_bodies(ctx, [b'{"username":"us\\u0000er","showId":' + sid + b',"seats":["A1"]}',
                     b'{"username":"user","showId":' + sid + b',"seats":["A\\u00001"]}',
                     b'{"username":"us\x00er","showId":' + sid + b',"seats":["A1"]}',
                     b'{"username":"\xff\xfe","showId":' + sid + b',"seats":["A1"]}',
                     b'{"username":"\xc0\xaf","showId":' + sid + b',"seats":["A1"]}',
                     b'{"username":"\xed\xa0\x80","showId":' + sid + b',"seats":["A1"]}',
                     b'{"username":"\\ud800","showId":' + sid + b',"seats":["A1"]}',
                     b'{"username":"caf\xc3\xa9","showId":' + sid + b',"seats":["A1"]}',
                     b'{"username":"u","showId":' + sid + b',"seats":["\xe2\x82\xac1"]}'],
               "NUL / invalid UTF-8")
    c = harness.Client(ctx.srv.port)
    try:
        for path in ("/api/bookings/user?username=a%00b", "/api/shows/1%00",
                     "/api/bookings/user?username=%ff%fe", "/api/shows/%ed%a0%80"):
            r = c.get(path)
            check(r[0] in (400, 404), "GET %s: expected 400/404, got %d" % (path, r[0]))
    finally:
        c.close()


def case_huge_seat_arrays(ctx):
    base = b'{"username":"u1","showId":%d,"seats":[' % ctx.sid
    json_error(post_raw(ctx, base + b",".join([b'"A1"'] * 100000) + b"]}"), 413,
               "PAYLOAD_TOO_LARGE", "100,000-element seat array")
    json_error(post_raw(ctx, base + b",".join([b"1"] * 100000) + b"]}"), 413,
               "PAYLOAD_TOO_LARGE", "100,000-element number array")
    # a body over 64 KiB is refused on every path, a GET's included
    for path in (b"/healthz", b"/api/shows/%d" % ctx.sid):
        data = raw(ctx, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                   b"Content-Length: 70000\r\n\r\n" + b"x" * 70000)
        json_error(data, 413, "PAYLOAD_TOO_LARGE", "GET %s with a 70,000-byte body" % path.decode())
    seats = [("%s%d" % (chr(65 + i // 999 % 26), 1 + i % 999)).encode() for i in range(6000)]
    json_error(post_raw(ctx, base + b",".join(b'"' + s + b'"' for s in seats) + b"]}"), 400,
               None, "6,000 distinct seats (within the body limit)")


def case_duplicate_keys(ctx):
    sid = ctx.sid
    bad_bodies(ctx, [b'{"username":"u1","username":"u2","showId":%d,"seats":["A1"]}' % sid,
                     b'{"username":"u1","showId":%d,"showId":%d,"seats":["A1"]}' % (sid, sid),
                     b'{"username":"u1","showId":%d,"seats":["A1"],"seats":["A2"]}' % sid],
               "duplicate keys")


def case_content_type(ctx):
    body = json.dumps(valid_body(ctx)).encode()
    for ct in (b"text/plain", b"application/x-www-form-urlencoded", b"application/json\x01"):
        data = post_raw(ctx, body, ctype=ct)
        check(status(data) in (400, 415), "Content-Type %r: 400/415, got %s" % (ct, short(data)))


def case_header_flood(ctx):
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(3000))
    data = raw(ctx, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    check(status(data) in (None, 400, 431), "3,000 headers: refused (431) or closed: %s" % short(data))
    data = raw(ctx, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n")
    check(status(data) in (None, 400, 431), "a 200 KB header: refused or closed: %s" % short(data))
    data = raw(ctx, b"GET /" + b"a" * 200000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    check(status(data) in (None, 400, 414), "a 200 KB URL: refused or closed: %s" % short(data))
    q = b"&".join(b"p%d=v" % i for i in range(4000))
    data = raw(ctx, b"GET /api/bookings/user?username=u1&" + q + b" HTTP/1.1\r\nHost: x\r\n"
               b"Connection: close\r\n\r\n")
    # Beyond its per-connection memory libmicrohttpd closes without an answer.
    check(status(data) in (None, 200, 400, 414, 431), "4,000 query parameters: %s" % short(data))
    q = b"&".join(b"p%d=v" % i for i in range(300))
    data = raw(ctx, b"GET /api/bookings/user?username=u1&" + q + b" HTTP/1.1\r\nHost: x\r\n"
               b"Connection: close\r\n\r\n")
    check(status(data) in (200, 400), "300 query parameters: answered: %s" % short(data))


def case_header_values(ctx):
    body = json.dumps(valid_body(ctx)).encode()
    for key in (b"k\x01ey", b"k" * 256, b"", b"k\x7f", b"caf\xc3\xa9"):
        data = post_raw(ctx, body, extra=b"Idempotency-Key: " + key + b"\r\n")
        json_error(data, 400, None, "Idempotency-Key %r" % key[:20])
    data = post_raw(ctx, body, extra=b"Content-Length: %d\r\n" % len(body))
    json_error(data, 400, "INVALID_REQUEST", "Content-Length twice")
    # refused before routing, so on every path alike: the health and
    # metrics paths, which no rate limit ever refuses, and the page
    for path in (b"/healthz", b"/readyz", b"/metrics", b"/", b"/api/shows/active"):
        data = raw(ctx, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-A: a\x01b\r\n\r\n")
        json_error(data, 400, "INVALID_REQUEST", "GET %s with a control byte in a header" % path.decode())


def case_pipelined_garbage(ctx):
    data = raw(ctx, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + b"\x00\xff garbage \r\n\r\n" * 50)
    check(data.startswith(b"HTTP/1.1 200"), "the valid first request is answered: %s" % short(data))
    check(data.count(b"HTTP/1.1 200") == 1, "garbage after it is not answered 200")
    data = raw(ctx, bytes(range(256)) * 40)
    check(status(data) in (None, 400, 505), "binary garbage: refused or closed: %s" % short(data))
    many = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 200
    data = raw(ctx, many + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    eq(data.count(b"HTTP/1.1 200"), 201, "201 pipelined requests, 201 answers")


def case_half_closed(ctx):
    data = raw(ctx, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", close_write=True)
    check(data.startswith(b"HTTP/1.1 200"), "request then half-close: still answered: %s" % short(data))
    # A request that can never complete, its client having half-closed,
    # is closed long before its 10 s deadline: libmicrohttpd's
    # edge-triggered epoll can miss a FIN that arrives together with the
    # last bytes, and then the reaper sees the half-close (and a
    # connection like that once held a graceful stop for its deadline).
    bound = 60 if VALGRIND else 5
    for _ in range(5):
        t0 = time.monotonic()
        raw(ctx, b"GET /healthz HTTP/1.1\r\nHost: ", close_write=True)
        took = time.monotonic() - t0
        check(took < bound, "half-sent headers then half-close: closed after %.1f s" % took)
    body = json.dumps(valid_body(ctx)).encode()
    for _ in range(5):
        t0 = time.monotonic()
        raw(ctx, b"POST /api/bookings/hold HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body[:10], close_write=True)
        took = time.monotonic() - t0
        check(took < bound, "half-sent body then half-close: closed after %.1f s" % took)
    for _ in range(20):  # reset in the middle of a body
        s = connect(ctx)
        s.sendall(b"POST /api/bookings/hold HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 500\r\n\r\n" + body[:20])
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()


def case_slow_readers(ctx):
    """Readers of the 50,000-seat map that read nothing: others are served
    meanwhile, and memory stays bounded (the map is one shared body)."""
    n = 10 if VALGRIND else 40
    readers = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(30)
        s.connect(("127.0.0.1", ctx.srv.port))
        s.sendall(b"GET /api/shows/%d HTTP/1.1\r\nHost: x\r\n\r\n" % ctx.big_sid)
        readers.append(s)
    try:
        time.sleep(1.0)
        c = harness.Client(ctx.srv.port, timeout=120 if VALGRIND else 10)
        try:
            for _ in range(20):
                eq(c.get("/api/shows/%d" % ctx.sid)[0], 200, "served while slow readers wait")
        finally:
            c.close()
        check(ctx.rss_mb() < RSS_MAX_MB, "RSS with %d stalled 50,000-seat answers" % n)
        got = readers[0].recv(100)
        check(got.startswith(b"HTTP/1.1 200"), "a slow reader still gets its answer: %s" % short(got))
    finally:
        for s in readers:
            s.close()


CASES = [
    ("malformed JSON", case_malformed_json),
    ("truncated JSON", case_truncated_json),
    ("10,000-deep JSON", case_deep_json),
    ("huge and odd numbers", case_huge_numbers),
    ("NaN and Infinity", case_nan),
    ("wrong types", case_wrong_types),
    ("NUL and invalid UTF-8", case_nul_and_utf8),
    ("100,000-element seat arrays", case_huge_seat_arrays),
    ("duplicate keys", case_duplicate_keys),
    ("wrong content types", case_content_type),
    ("header, URL and query floods", case_header_flood),
    ("bad header values", case_header_values),
    ("pipelined garbage", case_pipelined_garbage),
    ("half-closed and reset sockets", case_half_closed),
    ("slow readers of a 50,000-seat map", case_slow_readers),
]


def main():
    raise_nofile_limit()
    passed = failed = 0
    print("# hostile-input battery (server %s%s, %s)" % (harness.BIN, " under valgrind" if VALGRIND else "",
                                                       "PostgreSQL" if harness.ON_POSTGRES else "SQLite"))
    ctx = None
    try:
        ctx = Ctx()
        for name, fn in CASES:
            try:
                fn(ctx)
                ctx.after(name)
            except Exception as e:  # noqa: BLE001 - every failure is reported
                failed += 1
                print("FAIL - %s: %s: %s" % (name, type(e).__name__, e))
            else:
                passed += 1
                print("ok - %s" % name)
            sys.stdout.flush()
    except Exception as e:  # noqa: BLE001
        failed += 1
        print("FAIL - setup: %s: %s" % (type(e).__name__, e))
    finally:
        if ctx is not None:
            ctx.srv.stop()
            srv = ctx.srv
            problem = (srv.sanitizer_report or
                       (None if srv.exit_code == 0 else "exit code %s:\n%s" % (srv.exit_code, srv.log_tail())) or
                       srv.verify_report)
            if problem:
                failed += 1
                print("FAIL - server stopped cleanly, database verified: %s" % problem)
            else:
                passed += 1
                print("ok - server stopped cleanly%s, database verified"
                      % (" (valgrind: no error, nothing definitely lost)" if VALGRIND else ""))
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
