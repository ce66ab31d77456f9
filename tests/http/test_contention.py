#!/usr/bin/python3
"""test_contention.py - many clients at once against one boxoffice server.

(a) 1,000 clients, each on its own TCP connection, released together by a
    barrier, all hold the SAME seat: exactly one wins, 999 get 409
    SEATS_UNAVAILABLE, the seat map shows only that seat held, and the
    winner can confirm it.
(b) 200 clients hold and then confirm 200 distinct seats of one show at
    once: every hold and confirm succeeds and the seat map and every user's
    bookings show exactly those seats booked.
(b2) 150 hold-best clients and 50 clients holding the seats nearest the
    centre, all at once on one show: hold-best picks outside the SQLite
    writer, so a plain hold can take a seat it picked first; still every
    hold-best gets two adjacent seats, no seat is granted twice, and the
    seat map holds exactly the seats granted.
(c) Racing twins: for every write, TWIN_CLIENTS identical requests from one
    user on separate connections at once must answer exactly what the same
    requests answer one after another (a double-click, a browser retry).
    Each is repeated TWIN_ROUNDS times, so that a race lost one time in
    five still fails the suite with a probability of 1 - 0.8^20 = 99%.

Run from the repository root:  /usr/bin/python3 tests/http/test_contention.py
"""

import http.client
import os
import sys
import threading
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (ADMIN_TOKEN, raw_post, raise_nofile_limit, REF_RE, all_seats, check, eq, expect,  # noqa: E402
                     new_show, run, short, unique_user)

# The twins fire TWIN_CLIENTS identical writes of one user at once, five
# kinds in a row: a retry storm, which the per-username write limit
# (default 20/s, burst 40) exists to refuse with 429. These tests are about
# what the store answers each twin, so their server has that limit off.
SPECS = {"main": {"args": []}, "twins": {"args": ["--write-rate-per-user", "0"]}}
SOCKET_TIMEOUT = 30.0
BARRIER_TIMEOUT = 120.0
SAME_SEAT_CLIENTS = 1000
DISTINCT_ROWS, DISTINCT_PER_ROW = 10, 20  # 200 seats, one client each
TWIN_CLIENTS = 20
TWIN_ROUNDS = 20
MAX_SEATS_PER_USER = 10  # the server's default


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


BEST_CLIENTS, CENTRE_CLIENTS = 150, 50
BEST_ROWS, BEST_PER_ROW = 20, 25  # 500 seats: room for every hold-best


def test_hold_best_crowd(env):
    srv = env.server("main")
    c = srv.client()
    sid = new_show(c, BEST_ROWS, BEST_PER_ROW)["showId"]
    seats = all_seats(BEST_ROWS, BEST_PER_ROW)
    mid_r, mid_n = (BEST_ROWS - 1) / 2, (BEST_PER_ROW + 1) / 2
    centre = sorted(seats, key=lambda s: ((ord(s[0]) - 65 - mid_r) ** 2 + (int(s[1:]) - mid_n) ** 2,
                                          s))[:CENTRE_CLIENTS]
    users = [unique_user("crowd%d" % i) for i in range(BEST_CLIENTS + CENTRE_CLIENTS)]
    conns = open_connections(srv.port, len(users))

    def work(i, conn, barrier):
        if i < BEST_CLIENTS:
            path, body = "/api/bookings/hold-best", {"username": users[i], "showId": sid, "count": 2}
        else:
            path, body = "/api/bookings/hold", {"username": users[i], "showId": sid,
                                                "seats": [centre[i - BEST_CLIENTS]]}
        barrier.wait(BARRIER_TIMEOUT)
        return raw_post(conn, path, body)

    results = run_clients(conns, work)
    bad = [r for r in results if not isinstance(r, tuple) or r[0] == "exception"]
    check(not bad, "%d clients failed to get an answer: %s" % (len(bad), describe(bad)))
    granted = []
    for i, r in enumerate(results):
        if i < BEST_CLIENTS:
            eq(r[0], 200, "hold-best client %d: %s" % (i, short(r[3])))
            got = r[2]["seats"]
            eq(len(got), 2, "hold-best client %d: seats %s" % (i, got))
            check(got[0][0] == got[1][0] and int(got[1][1:]) == int(got[0][1:]) + 1,
                  "hold-best client %d: %s are not side by side" % (i, got))
        else:
            check(r[0] == 200 or (r[0] == 409 and r[2]["error"]["code"] == "SEATS_UNAVAILABLE"),
                  "centre client %d: %s" % (i, short(r[3])))
            got = r[2]["seats"] if r[0] == 200 else []
        granted += got
    eq(len(granted), len(set(granted)), "seats granted twice")
    m = expect(c.get("/api/shows/%d" % sid), 200, "seat map")
    eq(sorted(m["seats"]["held"]), sorted(granted), "held seats are the seats granted")
    eq(m["seats"]["booked"], [], "booked seats")
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % srv.port, timeout=30) as r:
        repicks = [line.split()[1] for line in r.read().decode().splitlines()
                   if line.startswith("boxoffice_hold_best_repicks_total ")]
    print("# hold-best crowd: %s picks lost a seat to a hold and were picked again"
          % (repicks[0] if repicks else "no count of"))


# --------------------------------------------------------------------------
# racing twins

def race_twins(port, path, body, headers=None):
    """TWIN_CLIENTS identical POSTs on separate connections, released
    together; returns their (status, Content-Type, JSON, raw) answers."""
    conns = open_connections(port, TWIN_CLIENTS)

    def work(i, conn, barrier):
        barrier.wait(BARRIER_TIMEOUT)
        return raw_post(conn, path, body, headers)

    results = run_clients(conns, work)
    bad = [r for r in results if not isinstance(r, tuple) or r[0] == "exception"]
    check(not bad, "%d twins failed to get an answer: %s" % (len(bad), describe(bad)))
    return results


def statuses(results):
    out = {}
    for r in results:
        key = r[0] if r[0] < 400 else "%d %s" % (r[0], (r[2] or {}).get("error", {}).get("code"))
        out[key] = out.get(key, 0) + 1
    return out


def all_ok_one_booking(results, what, status, seats):
    """Every twin answered 200 with the same booking: one reference, the
    given status and seats."""
    eq(statuses(results), {200: TWIN_CLIENTS}, "%s: answers" % what)
    refs = {r[2].get("bookingReference") for r in results}
    eq(len(refs), 1, "%s: distinct references among the twins" % what)
    check(REF_RE.match(next(iter(refs)) or ""), "%s: reference %r" % (what, refs))
    for r in results:
        eq((r[2].get("status"), r[2].get("seats")), (status, seats), "%s: booking" % what)
    return next(iter(refs))


def twin_rounds(env, fn):
    srv = env.server("twins")
    c = srv.client()
    for rnd in range(TWIN_ROUNDS):
        fn(srv, c, rnd)


def test_twin_holds(env):
    def one(srv, c, rnd):
        sid = new_show(c, 3, 10)["showId"]
        user = unique_user("twinhold")
        res = race_twins(srv.port, "/api/bookings/hold", {"username": user, "showId": sid,
                                                         "seats": ["A1", "A2", "A3"]})
        ref = all_ok_one_booking(res, "round %d: identical holds" % rnd, "STAGED", ["A1", "A2", "A3"])
        lst = expect(c.get("/api/bookings/user?username=" + user), 200, "bookings")
        eq([(b["bookingReference"], b["status"]) for b in lst], [(ref, "STAGED")], "round %d: one cart" % rnd)
    twin_rounds(env, one)


def test_twin_confirms(env):
    def one(srv, c, rnd):
        sid = new_show(c, 3, 10)["showId"]
        user = unique_user("twinconf")
        cart = expect(c.post("/api/bookings/hold", {"username": user, "showId": sid,
                                                    "seats": ["A1", "A2", "A3"]}), 200, "hold")
        res = race_twins(srv.port, "/api/bookings/confirm", {"username": user, "showId": sid,
                                                            "seats": ["A3", "a1", "A2"]})
        ref = all_ok_one_booking(res, "round %d: identical confirms" % rnd, "CONFIRMED", ["A1", "A2", "A3"])
        eq(ref, cart["bookingReference"], "round %d: confirmed reference is the cart's" % rnd)
        m = expect(c.get("/api/shows/%d" % sid), 200, "seat map")
        eq((m["seats"]["booked"], m["seats"]["held"]), (["A1", "A2", "A3"], []), "round %d: seats" % rnd)
        eq(len(expect(c.get("/api/bookings/user?username=" + user), 200, "bookings")), 1,
           "round %d: bookings of the user" % rnd)
    twin_rounds(env, one)


def test_twin_releases(env):
    def one(srv, c, rnd):
        sid = new_show(c, 3, 10)["showId"]
        user = unique_user("twinrel")
        expect(c.post("/api/bookings/hold", {"username": user, "showId": sid, "seats": ["A1", "A2", "A3"]}),
               200, "hold")
        res = race_twins(srv.port, "/api/bookings/release", {"username": user, "showId": sid, "seats": ["A1"]})
        all_ok_one_booking(res, "round %d: identical releases of one seat" % rnd, "STAGED", ["A2", "A3"])
        # Releasing the whole cart: the first empties it (CANCELLED), the
        # rest find no cart, exactly as when sent one after another.
        res = race_twins(srv.port, "/api/bookings/release", {"username": user, "showId": sid})
        eq(statuses(res), {200: 1, "404 BOOKING_NOT_FOUND": TWIN_CLIENTS - 1},
           "round %d: identical releases of the whole cart" % rnd)
        won = [r[2] for r in res if r[0] == 200][0]
        eq((won.get("status"), won.get("seats")), ("CANCELLED", []), "round %d: the emptied cart" % rnd)
        m = expect(c.get("/api/shows/%d" % sid), 200, "seat map")
        eq((m["heldSeats"], m["bookedSeats"]), (0, 0), "round %d: nothing held or booked" % rnd)
    twin_rounds(env, one)


def test_twin_cancels(env):
    def one(srv, c, rnd):
        sid = new_show(c, 3, 10)["showId"]
        user = unique_user("twincan")
        body = {"username": user, "showId": sid, "seats": ["B4", "B5"]}
        expect(c.post("/api/bookings/hold", body), 200, "hold")
        ref = expect(c.post("/api/bookings/confirm", body), 200, "confirm")["bookingReference"]
        res = race_twins(srv.port, "/api/bookings/cancel", {"username": user, "bookingReference": ref})
        eq(all_ok_one_booking(res, "round %d: identical cancels" % rnd, "CANCELLED", ["B4", "B5"]), ref,
           "round %d: cancelled reference" % rnd)
        m = expect(c.get("/api/shows/%d" % sid), 200, "seat map")
        eq((m["availableSeats"], m["heldSeats"], m["bookedSeats"]), (30, 0, 0), "round %d: counts" % rnd)
    twin_rounds(env, one)


def test_twin_hold_best(env):
    per = 2
    wins = MAX_SEATS_PER_USER // per

    def one(srv, c, rnd):
        sid = new_show(c, 10, 20)["showId"]
        user = unique_user("twinbest")
        res = race_twins(srv.port, "/api/bookings/hold-best", {"username": user, "showId": sid, "count": per})
        eq(statuses(res), {200: wins, "409 HOLD_LIMIT_EXCEEDED": TWIN_CLIENTS - wins},
           "round %d: identical hold-best answers" % rnd)
        sizes = sorted(len(r[2]["seats"]) for r in res if r[0] == 200)
        eq(sizes, list(range(per, MAX_SEATS_PER_USER + 1, per)), "round %d: the cart grew by %d each time"
           % (rnd, per))
        eq(len({r[2]["bookingReference"] for r in res if r[0] == 200}), 1, "round %d: one cart" % rnd)
        m = expect(c.get("/api/shows/%d" % sid), 200, "seat map")
        eq(m["heldSeats"], MAX_SEATS_PER_USER, "round %d: seats held" % rnd)
    twin_rounds(env, one)


def test_twin_show_cancels(env):
    def one(srv, c, rnd):
        sid = new_show(c, 2, 5)["showId"]
        res = race_twins(srv.port, "/api/admin/shows/%d/cancel" % sid, {},
                         headers={"Authorization": "Bearer " + ADMIN_TOKEN})
        eq(statuses(res), {200: TWIN_CLIENTS}, "round %d: identical show cancels" % rnd)
        for r in res:
            eq((r[2].get("showId"), r[2].get("status")), (sid, "CANCELLED"), "round %d: answer" % rnd)
        expect(c.get("/api/shows/%d" % sid), 200, "seat map")
    twin_rounds(env, one)


TESTS = [
    ("1000 clients race for one seat", test_same_seat),
    ("200 clients hold and confirm 200 distinct seats", test_distinct_seats),
    ("150 hold-best clients and 50 holds of the centre seats at once", test_hold_best_crowd),
    ("racing twins: identical holds", test_twin_holds),
    ("racing twins: identical confirms", test_twin_confirms),
    ("racing twins: identical releases", test_twin_releases),
    ("racing twins: identical cancels", test_twin_cancels),
    ("racing twins: identical hold-best", test_twin_hold_best),
    ("racing twins: identical show cancels", test_twin_show_cancels),
]


if __name__ == "__main__":
    limit = raise_nofile_limit()
    if limit < SAME_SEAT_CLIENTS + 200:
        print("# warning: RLIMIT_NOFILE is only %d" % limit)
    run(TESTS, SPECS, title="boxoffice contention tests")
