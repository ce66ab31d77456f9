#!/usr/bin/python3
"""test_lazy_expiry.py - an expired hold is free everywhere at once, with no
sweeper at all (API.md: "A STAGED booking past its expiry is reported as
EXPIRED at once"; ARCHITECTURE.md: "correctness never waits for the sweeper").

The other suites wait until after the sweeper has run, so a server whose
reads ignored expiry would pass them while its sweeper was quick. Here the
server is the test build (tests/boxoffice_testing beside BOXOFFICE_BIN) with
BOXOFFICE_TEST_NO_SWEEPER=1: its sweeper never runs. Every test first shows
that the stored row is still HELD after expiresAt (and that the node's
expired-holds counter is 0), then that the API treats the seat as free:

 - the seat map (cached before the expiry, or read for the first time after
   it) lists the seat as available, with the counts to match, and so does the
   list of active shows;
 - another user can hold it (by label, and by hold-best);
 - the first user's confirm is 409 SEATS_NOT_HELD naming the seat;
 - the first user's booking reads EXPIRED, before and after all that.

Run from the repository root:  /usr/bin/python3 tests/http/test_lazy_expiry.py
(BOXOFFICE_BIN, BOXOFFICE_TESTING_BIN, BOXOFFICE_TEST_DB as for the other
HTTP suites; on PostgreSQL the stored rows are read with psql).
"""

import os
import sqlite3
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import (ON_POSTGRES, TEST_DB, check, eq, expect, expect_error, new_show, now_ms,  # noqa: E402
                     parse_time, run, seat_key, short, unique_user)

TESTING_BIN = os.environ.get("BOXOFFICE_TESTING_BIN") or os.path.join(
    os.path.dirname(os.path.abspath(harness.BIN)), "tests", "boxoffice_testing")
# Every server of this suite is the test build with its sweeper off (the
# build's own verify runs on its database when it stops).
harness.BIN = harness.servers.BIN = TESTING_BIN  # servers.py starts them
os.environ["BOXOFFICE_TEST_NO_SWEEPER"] = "1"

TTL_S = 1                 # --hold-ttl: the shortest the server accepts
AFTER_EXPIRY_MS = 100     # how far past expiresAt the checks start
CACHED_BEFORE_MS = 400    # how long before expiresAt a cached seat map is made
SPECS = {"nosweeper": {"args": ["--hold-ttl", str(TTL_S)]}}


def stored_seat(srv, show_id, row, number):
    """(status, held_expiry in ms or None) of a seat row, read from storage."""
    if ON_POSTGRES:
        sql = ("SELECT status, coalesce((extract(epoch FROM held_expiry) * 1000)::bigint::text, '') FROM seats "
               "WHERE show_id = %d AND seat_row = %d AND seat_number = %d" % (show_id, row, number))
        out = subprocess.run(["psql", "-X", "-At", "-F", "|", TEST_DB, "-c", sql], capture_output=True,
                             timeout=30, stdin=subprocess.DEVNULL)
        check(out.returncode == 0, "psql: %s" % out.stderr.decode())
        status, expiry = out.stdout.decode().strip().split("|")
        return status, int(expiry) if expiry else None
    db = sqlite3.connect("file:%s?mode=ro" % srv.db_path, uri=True)
    try:
        status, expiry = db.execute("SELECT status, held_expiry FROM seats WHERE show_id = ? AND seat_row = ? "
                                    "AND seat_number = ?", (show_id, row, number)).fetchone()
    finally:
        db.close()
    return status, expiry


def expired_counter(env):
    c = env.client("nosweeper", strict=False)  # /metrics is text, not JSON
    try:
        st, _, _, raw = c.request("GET", "/metrics")
    finally:
        c.close()
    eq(st, 200, "GET /metrics")
    for line in raw.decode().splitlines():
        if line.startswith("boxoffice_holds_expired_total "):
            return int(line.split()[1])
    raise AssertionError("no boxoffice_holds_expired_total in /metrics")


def sleep_until(ms):
    wait = ms - now_ms()
    if wait > 0:
        time.sleep(wait / 1000.0)


def hold_and_let_expire(c, show, seat, user, read_map_first):
    """Holds seat for user and waits until just past expiresAt. With
    read_map_first the seat map is read shortly before the expiry, so that
    the node holds a cached copy younger than its maximum age (1 s) when the
    hold expires: only the cache's own knowledge of the expiry can drop it."""
    sid = show["showId"]
    cart = expect(c.post("/api/bookings/hold", {"username": user, "showId": sid, "seats": [seat]}), 200,
                  "hold %s" % seat)
    expires = parse_time(cart["expiresAt"], "expiresAt")
    check(expires - now_ms() < (TTL_S + 5) * 1000, "expiresAt %s is not about %d s ahead" % (cart["expiresAt"], TTL_S))
    if read_map_first:
        sleep_until(expires - CACHED_BEFORE_MS)
        held = expect(c.get("/api/shows/%d" % sid), 200, "seat map while held")
        eq(held["seats"]["held"], [seat], "held seats before the expiry")
    sleep_until(expires + AFTER_EXPIRY_MS)
    return cart


def check_not_swept(env, show, seat):
    """The stored row is still HELD, expired, and the sweeper expired
    nothing: what the API said it worked out by itself."""
    row, number = seat_key(seat)
    status, expiry = stored_seat(env.server("nosweeper"), show["showId"], row, number)
    eq(status, "HELD", "stored status of %s after expiresAt (the sweeper must be off)" % seat)
    check(expiry is not None and expiry <= now_ms(), "stored held_expiry %r is not in the past" % expiry)
    eq(expired_counter(env), 0, "holds expired by the node's sweeper")


def check_booking_expired(c, user, ref, what):
    b = expect(c.get("/api/bookings/details?username=%s&booking_reference=%s" % (user, ref)), 200,
               "details of %s" % what)
    eq(b.get("status"), "EXPIRED", "status of %s" % what)
    mine = expect(c.get("/api/bookings/user?username=%s" % user), 200, "bookings of the user")
    eq([x.get("status") for x in mine if x.get("bookingReference") == ref], ["EXPIRED"],
       "status of %s in the user's bookings" % what)


def check_map_free(c, show, seat, what):
    sid, total = show["showId"], show["totalSeats"]
    m = expect(c.get("/api/shows/%d" % sid), 200, "seat map %s" % what)
    check(seat in m["seats"]["available"], "seat map %s: %s not available: %s" % (what, seat, short(m["seats"])))
    eq(m["seats"]["held"], [], "held seats %s" % what)
    eq((m["availableSeats"], m["heldSeats"], m["bookedSeats"]), (total, 0, 0), "seat counts %s" % what)
    active = expect(c.get("/api/shows/active"), 200, "active shows")
    mine = [s for s in active if s.get("showId") == sid]
    eq([s.get("availableSeats") for s in mine], [total], "availableSeats in the active shows %s" % what)


def run_case(env, read_map_first):
    c = env.client("nosweeper")
    show = new_show(c, rows=2, seats_per_row=5)
    sid, seat = show["showId"], "B3"
    alice, bob = unique_user("alice"), unique_user("bob")
    cart = hold_and_let_expire(c, show, seat, alice, read_map_first)
    what = "the cached map after the expiry" if read_map_first else "first read after the expiry"
    check_map_free(c, show, seat, what)
    check_not_swept(env, show, seat)
    check_booking_expired(c, alice, cart["bookingReference"], "the expired cart")
    body = {"username": bob, "showId": sid, "seats": [seat]}
    held = expect(c.post("/api/bookings/hold", body), 200, "another user holds the expired seat")
    eq(held.get("seats"), [seat], "seats of the other user's hold")
    expect_error(c.post("/api/bookings/confirm", {"username": alice, "showId": sid, "seats": [seat]}),
                 409, "SEATS_NOT_HELD", "confirm of the expired hold", seats=[seat])
    check_booking_expired(c, alice, cart["bookingReference"], "the expired cart after the confirm")
    m = expect(c.get("/api/shows/%d" % sid), 200, "seat map after the other hold")
    eq(m["seats"]["held"], [seat], "held seats after the other user's hold")
    booked = expect(c.post("/api/bookings/confirm", body), 200, "the other user confirms")
    eq(booked.get("status"), "CONFIRMED", "the other user's booking")


def test_cached_map(env):
    run_case(env, read_map_first=True)


def test_cold_map(env):
    run_case(env, read_map_first=False)


def test_hold_best_takes_expired_seat(env):
    c = env.client("nosweeper")
    show = new_show(c, rows=1, seats_per_row=1)
    alice, bob = unique_user("alice"), unique_user("bob")
    cart = hold_and_let_expire(c, show, "A1", alice, read_map_first=True)
    check_not_swept(env, show, "A1")
    best = expect(c.post("/api/bookings/hold-best", {"username": bob, "showId": show["showId"], "count": 1}),
                  200, "hold-best on a show whose only seat's hold expired")
    eq(best.get("seats"), ["A1"], "hold-best's seats")
    expect_error(c.post("/api/bookings/confirm", {"username": alice, "showId": show["showId"], "seats": ["A1"]}),
                 409, "SEATS_NOT_HELD", "confirm of the expired hold", seats=["A1"])
    check_booking_expired(c, alice, cart["bookingReference"], "the expired cart")


TESTS = [
    ("expired hold, seat map cached before the expiry: available, held by another, confirm 409, EXPIRED",
     test_cached_map),
    ("expired hold, seat map first read after the expiry: available, held by another, confirm 409, EXPIRED",
     test_cold_map),
    ("expired hold: hold-best gives the seat to another user", test_hold_best_takes_expired_seat),
]

if __name__ == "__main__":
    run(TESTS, SPECS, title="boxoffice lazy expiry with the sweeper off (%s)" % ("postgres" if ON_POSTGRES
                                                                                 else "sqlite"))
