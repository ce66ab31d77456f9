#!/usr/bin/python3
"""test_contention.py - many clients at once against one boxoffice server.

(a) 1,000 clients, each on its own TCP connection, released together by a
    barrier, all hold the SAME seat: exactly one wins, 999 get 409
    SEATS_UNAVAILABLE, the seat map shows only that seat held, and the
    winner can confirm it.
(b) 200 clients hold and then confirm 200 distinct seats of one show at
    once: every hold and confirm succeeds and the seat map and every user's
    bookings show exactly those seats booked.

Run from the repository root:  /usr/bin/python3 tests/http/test_contention.py
"""

import http.client
import os
import sys
import threading
import urllib.parse

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (raw_post, raise_nofile_limit, REF_RE, all_seats, check, eq, expect, new_show, run, short,  # noqa: E402
                     unique_user)

SPECS = {"main": {"args": []}}
SOCKET_TIMEOUT = 30.0
BARRIER_TIMEOUT = 120.0
SAME_SEAT_CLIENTS = 1000
DISTINCT_ROWS, DISTINCT_PER_ROW = 10, 20  # 200 seats, one client each


def open_connections(port, n):
    conns = []
    try:
        for _ in range(n):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=SOCKET_TIMEOUT)
            conn.connect()
            conns.append(conn)
    except OSError as e:
        for conn in conns:
            conn.close()
        raise AssertionError("could only open %d of %d connections: %s" % (len(conns), n, e))
    return conns


def run_clients(conns, work):
    """Runs work(i, conn, barrier) in one thread per connection, all released
    together by a barrier. Returns the per-client results (exceptions caught)."""
    n = len(conns)
    results = [None] * n
    barrier = threading.Barrier(n)

    def body(i):
        try:
            results[i] = work(i, conns[i], barrier)
        except Exception as e:  # recorded and reported by the caller
            results[i] = ("exception", "%s: %s" % (type(e).__name__, e))
        finally:
            conns[i].close()

    old = threading.stack_size()
    threading.stack_size(256 * 1024)
    threads = []
    try:
        for i in range(n):
            t = threading.Thread(target=body, args=(i,), daemon=True)
            t.start()
            threads.append(t)
    finally:
        threading.stack_size(old)
    for t in threads:
        t.join(BARRIER_TIMEOUT + 2 * SOCKET_TIMEOUT + 30)
    stuck = sum(1 for t in threads if t.is_alive())
    check(stuck == 0, "%d client threads never finished" % stuck)
    return results


def describe(results, limit=5):
    out = []
    for i, r in enumerate(results):
        out.append("client %d: %s" % (i, short(r if isinstance(r, str) else repr(r), 200)))
        if len(out) >= limit:
            break
    return "; ".join(out)


def test_same_seat(env):
    srv = env.server("main")
    c = srv.client()
    show = new_show(c, 6, 10)
    sid = show["showId"]
    seat = "C5"
    users = [unique_user("same%d" % i) for i in range(SAME_SEAT_CLIENTS)]
    conns = open_connections(srv.port, SAME_SEAT_CLIENTS)

    def work(i, conn, barrier):
        barrier.wait(BARRIER_TIMEOUT)
        return raw_post(conn, "/api/bookings/hold", {"username": users[i], "showId": sid, "seats": [seat]})

    results = run_clients(conns, work)
    winners = [i for i, r in enumerate(results) if r[0] == 200]
    losers = [i for i, r in enumerate(results) if r[0] == 409 and isinstance(r[2], dict)
              and r[2].get("error", {}).get("code") == "SEATS_UNAVAILABLE"
              and r[2]["error"].get("seats") == [seat]]
    other = [r for i, r in enumerate(results) if i not in set(winners) and i not in set(losers)]
    check(not other, "%d answers neither 200 nor 409 SEATS_UNAVAILABLE [%s]: %s"
          % (len(other), seat, describe(other)))
    eq(len(winners), 1, "number of clients that got the seat")
    eq(len(losers), SAME_SEAT_CLIENTS - 1, "number of 409 SEATS_UNAVAILABLE")
    for r in results:
        check(r[1].split(";")[0].strip() == "application/json", "Content-Type %r" % r[1])
    w = winners[0]
    cart = results[w][2]
    eq(cart.get("status"), "STAGED", "winner's cart status")
    eq(cart.get("seats"), [seat], "winner's cart seats")
    eq(cart.get("username"), users[w], "winner's username")
    m = expect(c.get("/api/shows/%d" % sid), 200, "seat map")
    eq(m["seats"]["held"], [seat], "held seats after the race")
    eq(m["seats"]["booked"], [], "booked seats after the race")
    eq(m["seats"]["available"], [s for s in all_seats(6, 10) if s != seat], "available seats after the race")
    eq((m["availableSeats"], m["heldSeats"], m["bookedSeats"]), (59, 1, 0), "counts after the race")
    b = expect(c.post("/api/bookings/confirm", {"username": users[w], "showId": sid, "seats": [seat]}),
               200, "winner confirms")
    eq(b.get("status"), "CONFIRMED", "confirmed status")
    eq(b.get("bookingReference"), cart.get("bookingReference"), "confirmed reference == cart reference")
    m = expect(c.get("/api/shows/%d" % sid), 200, "seat map")
    eq((m["seats"]["held"], m["seats"]["booked"]), ([], [seat]), "held/booked after confirm")
    for i in losers:
        lst = expect(c.get("/api/bookings/user?" + urllib.parse.urlencode({"username": users[i]})), 200,
                     "bookings of a loser")
        eq(lst, [], "bookings of losing client %d" % i)


def test_distinct_seats(env):
    srv = env.server("main")
    c = srv.client()
    show = new_show(c, DISTINCT_ROWS, DISTINCT_PER_ROW)
    sid = show["showId"]
    seats = all_seats(DISTINCT_ROWS, DISTINCT_PER_ROW)
    users = [unique_user("dist%d" % i) for i in range(len(seats))]
    conns = open_connections(srv.port, len(seats))

    def work(i, conn, barrier):
        body = {"username": users[i], "showId": sid, "seats": [seats[i]]}
        barrier.wait(BARRIER_TIMEOUT)
        h = raw_post(conn, "/api/bookings/hold", body)
        if h[0] != 200:
            return ("hold", h[0], h[3])
        f = raw_post(conn, "/api/bookings/confirm", body)
        if f[0] != 200:
            return ("confirm", f[0], f[3])
        return ("ok", h[2], f[2])

    results = run_clients(conns, work)
    bad = [r for r in results if r[0] != "ok"]
    check(not bad, "%d of %d clients failed: %s" % (len(bad), len(results), describe(bad)))
    refs = set()
    for i, (_, cart, booking) in enumerate(results):
        eq(cart.get("seats"), [seats[i]], "client %d cart seats" % i)
        eq(booking.get("status"), "CONFIRMED", "client %d status" % i)
        eq(booking.get("seats"), [seats[i]], "client %d booked seats" % i)
        eq(booking.get("bookingReference"), cart.get("bookingReference"), "client %d reference" % i)
        check(REF_RE.match(booking.get("bookingReference") or ""), "client %d reference %r"
              % (i, booking.get("bookingReference")))
        refs.add(booking["bookingReference"])
    eq(len(refs), len(seats), "distinct booking references")
    m = expect(c.get("/api/shows/%d" % sid), 200, "seat map")
    eq(m["seats"]["booked"], seats, "booked seats")
    eq((m["seats"]["held"], m["seats"]["available"]), ([], []), "held and available seats")
    eq((m["availableSeats"], m["heldSeats"], m["bookedSeats"]), (0, 0, len(seats)), "counts")
    for i, u in enumerate(users):
        lst = expect(c.get("/api/bookings/user?" + urllib.parse.urlencode({"username": u})), 200, "bookings")
        check(isinstance(lst, list) and len(lst) == 1, "user %s has %s bookings: %s"
              % (u, len(lst) if isinstance(lst, list) else "?", short(lst)))
        eq((lst[0].get("status"), lst[0].get("seats")), ("CONFIRMED", [seats[i]]), "booking of %s" % u)


TESTS = [
    ("1000 clients race for one seat", test_same_seat),
    ("200 clients hold and confirm 200 distinct seats", test_distinct_seats),
]


if __name__ == "__main__":
    limit = raise_nofile_limit()
    if limit < SAME_SEAT_CLIENTS + 200:
        print("# warning: RLIMIT_NOFILE is only %d" % limit)
    run(TESTS, SPECS, title="boxoffice contention tests")
