#!/usr/bin/python3
"""test_limits.py - rate limits, the per-address held-seat cap, trusted
proxies, the admin API's absence and its bearer scheme, and the paged list
of a user's bookings (issue 12, points 2, 3, 5 and 6), black box.

Each limit runs on a server with that limit made small; "main" keeps the
defaults and checks that they do not throttle ordinary use. Run from the
repository root:  /usr/bin/python3 tests/http/test_limits.py
"""

import http.client
import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (ADMIN_TOKEN, check, eq, expect, expect_error, new_show, run,  # noqa: E402
                     short, unique_user)

SPECS = {
    "main": {"args": []},
    "user": {"args": ["--write-rate-per-user", "1/3"]},
    "userOff": {"args": ["--write-rate-per-user", "0"]},
    "ip": {"args": ["--write-rate-per-ip", "1/3"]},
    "read": {"args": ["--read-rate-per-ip", "1/3"]},
    "admin": {"args": ["--admin-rate-per-ip", "0.5/2"]},
    "proxy": {"args": ["--trusted-proxy", "127.0.0.1/32", "--write-rate-per-ip", "0.5/2"]},
    "held": {"args": ["--max-held-seats-per-ip", "5"]},
    "noadmin": {"args": [], "admin_token": None},
}

HOLD = "/api/bookings/hold"


def call(port, method, path, body=None, headers=None, src="127.0.0.1"):
    """One request from source address src: (status, headers dict, JSON or None)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(src, 0))
    try:
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=hdrs)
        r = c.getresponse()
        raw = r.read()
        try:
            parsed = json.loads(raw.decode())
        except (ValueError, UnicodeDecodeError):
            parsed = None
        return r.status, {k.lower(): v for k, v in r.getheaders()}, parsed, raw
    finally:
        c.close()


def expect_429(resp, what):
    expect_error(resp, 429, "RATE_LIMITED", what)
    retry = resp[1].get("retry-after", "")
    check(retry.isdigit() and int(retry) >= 1, "%s: Retry-After in whole seconds: %r" % (what, retry))
    return int(retry)


def hold_body(show, user, seat):
    return {"username": user, "showId": show["showId"], "seats": [seat]}


def metric(port, name):
    """Value of one metric line (name with labels), or None."""
    st, _, _, raw = call(port, "GET", "/metrics")
    eq(st, 200, "/metrics")
    for line in raw.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def test_defaults_do_not_throttle(env):
    srv = env.server("main")
    c = srv.client()
    show = new_show(c, 5, 10)
    user = unique_user()
    # 40 writes at once by one user: the default burst. Others unlimited.
    for i in range(40):
        r = c.post(HOLD if i % 2 == 0 else "/api/bookings/release",
                   hold_body(show, user, "A1"))
        check(r[0] == 200, "write %d by one user within the default burst: %d %s" % (i, r[0], short(r[3])))
    for i in range(60):
        r = c.post(HOLD, hold_body(show, unique_user(), "B%d" % (1 + i % 10)))
        check(r[0] in (200, 409), "writes by many users from one address are never 429 (%d)" % r[0])
    for _ in range(100):
        eq(c.get("/api/shows/%d" % show["showId"])[0], 200, "reads are not limited by default")


def test_per_user_write_rate(env):
    srv = env.server("user")
    c = srv.client()
    show = new_show(c, 3, 5)
    user = unique_user()
    for i in range(3):
        expect(c.post(HOLD, hold_body(show, user, "A%d" % (i + 1))), 200, "hold %d in the burst" % i)
    retry = expect_429(c.post(HOLD, hold_body(show, user, "A4")), "the 4th write at once")
    check(retry <= 2, "Retry-After names the refill time (1 a second): %d" % retry)
    expect(c.post(HOLD, hold_body(show, unique_user(), "B1")), 200, "another user is not limited")
    expect(c.get("/api/shows/%d" % show["showId"]), 200, "reads are not limited by it")
    time.sleep(1.1)
    expect(c.post(HOLD, hold_body(show, user, "A4")), 200, "allowed again after Retry-After")
    check((metric(srv.port, 'boxoffice_rate_limited_total{limit="write_per_user"}') or 0) >= 1,
          "/metrics counts the refusal")


def test_per_user_write_rate_off(env):
    c = env.server("userOff").client()
    show = new_show(c, 3, 5)
    user = unique_user()
    for i in range(100):
        r = c.post(HOLD if i % 2 == 0 else "/api/bookings/release", hold_body(show, user, "A1"))
        eq(r[0], 200, "write %d with the per-user limit off" % i)


def test_per_ip_write_rate(env):
    srv = env.server("ip")
    c = srv.client()
    show = new_show(c, 3, 5)
    for i in range(3):
        expect(c.post(HOLD, hold_body(show, unique_user(), "A%d" % (i + 1))), 200, "write %d" % i)
    expect_429(c.post(HOLD, hold_body(show, unique_user(), "A4")), "4th write from one address")
    r = call(srv.port, "POST", HOLD, hold_body(show, unique_user(), "A5"), src="127.0.0.2")
    expect(r, 200, "another address is not limited")
    expect(c.get("/api/shows/%d" % show["showId"]), 200, "reads are limited apart from writes")
    expect(c.admin("/api/admin/movies", {"name": unique_user("m"), "durationMinutes": 90,
                                         "lastShowDate": "2099-01-01"}), 201,
           "admin is limited apart from sales")


def test_per_ip_read_rate(env):
    srv = env.server("read")
    c = srv.client()
    for i in range(3):
        expect(c.get("/api/shows/active"), 200, "read %d" % i)
    expect_429(c.get("/api/shows/active"), "4th read at once")
    for _ in range(10):
        eq(c.get("/healthz")[0], 200, "/healthz is never limited")
    eq(call(srv.port, "GET", "/api/shows/active", src="127.0.0.2")[0], 200, "another address")
    check((metric(srv.port, 'boxoffice_rate_limited_total{limit="read_per_ip"}') or 0) >= 1,
          "/metrics counts it")


def test_per_ip_admin_rate(env):
    srv = env.server("admin")
    c = srv.client()
    body = lambda: {"name": unique_user("m"), "durationMinutes": 90, "lastShowDate": "2099-01-01"}  # noqa: E731
    for i in range(2):
        expect(c.admin("/api/admin/movies", body()), 201, "admin write %d" % i)
    expect_429(c.admin("/api/admin/movies", body()), "3rd admin write at once")
    expect(c.get("/api/shows/active"), 200, "reads are not limited by the admin limit")


def test_trusted_proxy_forwarded_for(env):
    srv = env.server("proxy")
    c = srv.client()
    show = new_show(c, 3, 9)

    def hold(xff, seat):
        hdrs = {} if xff is None else {"X-Forwarded-For": xff}
        return c.post(HOLD, hold_body(show, unique_user(), seat), headers=hdrs)

    expect(hold("203.0.113.5", "A1"), 200, "client 203.0.113.5, 1st")
    expect(hold("198.51.100.1, 203.0.113.5", "A2"), 200, "client 203.0.113.5, 2nd (left part is the client's)")
    expect_429(hold("203.0.113.6, 203.0.113.5", "A3"),
               "the rightmost untrusted hop decides: a forged left entry does not escape")
    expect(hold("203.0.113.6", "A4"), 200, "another client through the same proxy")
    # haproxy adds its own line after the client's.
    c2 = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    body = json.dumps(hold_body(show, unique_user(), "A5")).encode()
    c2.putrequest("POST", HOLD)
    c2.putheader("Content-Type", "application/json")
    c2.putheader("Content-Length", str(len(body)))
    c2.putheader("X-Forwarded-For", "203.0.113.9")
    c2.putheader("X-Forwarded-For", "203.0.113.5")
    c2.endheaders(body)
    r = c2.getresponse()
    r.read()
    c2.close()
    eq(r.status, 429, "two X-Forwarded-For lines: the last one's address counts")
    r = call(srv.port, "POST", HOLD, hold_body(show, unique_user(), "B1"),
             headers={"X-Forwarded-For": "203.0.113.77"}, src="127.0.0.2")
    expect(r, 200, "an untrusted peer's X-Forwarded-For is ignored (its own address counts)")
    for i in range(2):
        call(srv.port, "POST", HOLD, hold_body(show, unique_user(), "B%d" % (2 + i)),
             headers={"X-Forwarded-For": "203.0.113.%d" % (100 + i)}, src="127.0.0.2")
    expect_429(call(srv.port, "POST", HOLD, hold_body(show, unique_user(), "B5"),
                    headers={"X-Forwarded-For": "203.0.113.200"}, src="127.0.0.2"),
               "changing X-Forwarded-For does not help an untrusted peer")


def test_held_seats_per_ip(env):
    srv = env.server("held")
    c = srv.client()
    show = new_show(c, 3, 9)
    u1, u2, u3 = unique_user(), unique_user(), unique_user()
    expect(c.post(HOLD, {"username": u1, "showId": show["showId"], "seats": ["A1", "A2"]}), 200, "u1 holds 2")
    expect(c.post(HOLD, {"username": u2, "showId": show["showId"], "seats": ["A3", "A4"]}), 200, "u2 holds 2")
    expect_error(c.post(HOLD, {"username": u3, "showId": show["showId"], "seats": ["A5", "A6"]}), 409,
                 "HOLD_LIMIT_EXCEEDED", "a 3rd user from the same address: 6 > 5")
    expect(c.post(HOLD, {"username": u3, "showId": show["showId"], "seats": ["A5"]}), 200, "5 is allowed")
    r = call(srv.port, "POST", HOLD, {"username": unique_user(), "showId": show["showId"],
                                      "seats": ["B1", "B2", "B3"]}, src="127.0.0.2")
    expect(r, 200, "another address has its own cap")
    other = new_show(c, 2, 5)
    expect(c.post(HOLD, {"username": u1, "showId": other["showId"], "seats": ["A1", "A2", "A3"]}), 200,
           "the cap is per show")
    expect(c.post("/api/bookings/release", {"username": u1, "showId": show["showId"]}), 200, "u1 releases")
    expect(c.post(HOLD, {"username": u2, "showId": show["showId"], "seats": ["A6", "A7"]}), 200,
           "released seats no longer count")
    expect(c.post("/api/bookings/confirm", {"username": u2, "showId": show["showId"],
                                            "seats": ["A3", "A4", "A6", "A7"]}), 200, "u2 confirms")
    expect(c.post(HOLD, {"username": u1, "showId": show["showId"], "seats": ["B5", "B6", "B7", "B8"]}), 200,
           "confirmed seats are not held: they no longer count")
    check((metric(srv.port, 'boxoffice_rate_limited_total{limit="held_seats_per_ip"}') or 0) >= 1,
          "/metrics counts the refusal")


def test_admin_absent_without_token(env):
    srv = env.server("noadmin")
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
        for path in ("/api/admin/screens", "/api/admin/shows/1/cancel", "/api/admin/movies"):
            r = call(srv.port, method, path, body={} if method in ("POST", "PUT", "PATCH") else None,
                     headers={"Authorization": "Bearer x"})
            expect_error(r, 404, "NOT_FOUND", "%s %s without an admin token" % (method, path))
            check("allow" not in r[1], "%s %s: no Allow header reveals the path" % (method, path))


def test_admin_method_with_token(env):
    srv = env.server("main")
    r = call(srv.port, "GET", "/api/admin/screens", headers={"Authorization": "Bearer " + ADMIN_TOKEN})
    expect_error(r, 405, "METHOD_NOT_ALLOWED", "GET on an admin path with the token configured")
    eq(r[1].get("allow"), "POST", "Allow")
    r = call(srv.port, "POST", "/api/shows/active")
    expect_error(r, 405, "METHOD_NOT_ALLOWED", "POST on a GET route")
    eq(r[1].get("allow"), "GET, HEAD", "a GET route allows HEAD too")


def test_bearer_scheme_case_insensitive(env):
    srv = env.server("main")
    body = lambda: {"name": unique_user("m"), "durationMinutes": 90, "lastShowDate": "2099-01-01"}  # noqa: E731
    for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):
        r = call(srv.port, "POST", "/api/admin/movies", body(),
                 headers={"Authorization": scheme + " " + ADMIN_TOKEN})
        expect(r, 201, "scheme %r" % scheme)
    for auth in ("Bearer " + ADMIN_TOKEN + "x", "Bearer " + ADMIN_TOKEN[:-1], "Basic " + ADMIN_TOKEN,
                 "Bearer", "Bearer ", ADMIN_TOKEN, "Bearer" + ADMIN_TOKEN):
        r = call(srv.port, "POST", "/api/admin/movies", body(), headers={"Authorization": auth})
        expect_error(r, 401, "UNAUTHORIZED", "Authorization %r" % auth[:24])


def make_bookings(c, show, user, n):
    """n bookings of user: each hold/release cycle leaves a CANCELLED cart."""
    for i in range(n):
        expect(c.post(HOLD, hold_body(show, user, "A1")), 200, "hold %d" % i)
        expect(c.post("/api/bookings/release", {"username": user, "showId": show["showId"]}), 200,
               "release %d" % i)


def next_link(resp):
    link = resp[1].get("link")
    if link is None:
        return None
    m = re.match(r'^<(/api/bookings/user\?[^>]+)>; rel="next"$', link)
    check(m is not None, "Link header shape: %r" % link)
    return m.group(1)


def test_user_bookings_paged(env):
    srv = env.server("userOff")
    c = srv.client()
    show = new_show(c, 2, 5)
    user = unique_user()
    make_bookings(c, show, user, 7)
    whole = expect(c.get("/api/bookings/user?username=%s&limit=1000" % user), 200, "all at once")
    eq(len(whole), 7, "seven bookings")
    r = c.get("/api/bookings/user?username=" + user)
    check(next_link(r) is None, "the default page (100) holds all seven: no Link")
    eq(r[2], whole, "the default page")
    pages, path = [], "/api/bookings/user?username=%s&limit=3" % user
    while path is not None and len(pages) < 10:
        r = c.get(path)
        page = expect(r, 200, "page %d" % len(pages))
        check(isinstance(page, list) and len(page) <= 3, "a page holds at most limit bookings")
        pages.append(page)
        path = next_link(r)
    eq([len(p) for p in pages], [3, 3, 1], "pages of 3, 3 and 1; no Link after the last")
    eq([b["bookingReference"] for p in pages for b in p], [b["bookingReference"] for b in whole],
       "the pages, in turn, are the whole list newest first, nothing twice or missed")
    # A booking made between pages comes first in a new listing, but does not
    # shift the pages already begun (the cursor is a position, not an offset).
    first = c.get("/api/bookings/user?username=%s&limit=3" % user)
    make_bookings(c, show, user, 1)
    rest = expect(c.get(next_link(first)), 200, "the second page after a new booking")
    eq([b["bookingReference"] for b in rest], [b["bookingReference"] for b in whole[3:6]],
       "the second page is unchanged by the new booking")


def test_user_bookings_page_parameters(env):
    c = env.server("main").client()
    user = unique_user()
    for q in ("limit=0", "limit=1001", "limit=abc", "limit=-1", "limit=", "cursor=xyz", "cursor=",
              "cursor=1", "cursor=1.2.3", "cursor=%2Fetc", "cursor=" + "f" * 40 + ".1"):
        expect_error(c.get("/api/bookings/user?username=%s&%s" % (user, q)), 400, "INVALID_REQUEST",
                     "user bookings with " + q)
    eq(expect(c.get("/api/bookings/user?username=%s&limit=1000&cursor=1.1" % user), 200, "a cursor"), [],
       "an unknown user's page is empty")


TESTS = [
    ("defaults do not throttle ordinary use", test_defaults_do_not_throttle),
    ("per-username write rate: 429 with Retry-After", test_per_user_write_rate),
    ("per-username write rate off", test_per_user_write_rate_off),
    ("per-address write rate, apart from reads and admin", test_per_ip_write_rate),
    ("per-address read rate, /healthz never limited", test_per_ip_read_rate),
    ("per-address admin rate", test_per_ip_admin_rate),
    ("trusted proxy: X-Forwarded-For names the client", test_trusted_proxy_forwarded_for),
    ("seats held per address per show capped", test_held_seats_per_ip),
    ("admin paths absent without a token, every method", test_admin_absent_without_token),
    ("405 with Allow once the admin API exists; HEAD allowed with GET", test_admin_method_with_token),
    ("Bearer scheme case-insensitive, token exact", test_bearer_scheme_case_insensitive),
    ("user bookings paged: limit, cursor, Link", test_user_bookings_paged),
    ("user bookings page parameters checked", test_user_bookings_page_parameters),
]

if __name__ == "__main__":
    run(TESTS, SPECS, title="rate limits, trusted proxies, admin access")
