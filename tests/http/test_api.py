#!/usr/bin/python3
"""test_api.py - black-box tests of the boxoffice HTTP API (API.md sections
1-8b and 10, /healthz and /readyz).

Run from the repository root:  /usr/bin/python3 tests/http/test_api.py
(BOXOFFICE_BIN selects the binary). Every test creates its own screens,
movies, shows and users through the admin API; servers are shared per
option set.
"""

import http.client
import json
import os
import select
import socket
import sqlite3
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (ADMIN_TOKEN, ON_POSTGRES, REF_RE, TestFailure, all_seats, check, create_movie,  # noqa: E402
                     create_screen, create_show, default_show_time, eq, expect, expect_error, expect_error_one_of,
                     fmt_time, natural, new_show, now_ms, parse_time, run, seat_key, short,
                     unique, unique_user)

SPECS = {
    "main": {"args": []},
    "notoken": {"args": [], "admin_token": None},
    "limits": {"args": ["--max-seats-per-user", "3", "--max-seats-per-request", "4"]},
    "ttl1": {"args": ["--hold-ttl", "1"]},
    "lifetime": {"args": ["--hold-ttl", "2", "--hold-max-lifetime", "3"]},
    "storage": {"args": []},
}

DEFAULT_TTL_MS = 1200 * 1000
STATUSES = ("STAGED", "CONFIRMED", "CANCELLED", "EXPIRED")
ACTIVE_KEYS = ("showId", "movieId", "movieName", "durationMinutes", "showTime", "screenId",
               "screenName", "totalSeats", "availableSeats")
SEAT_MAP_KEYS = ("showId", "movieName", "durationMinutes", "showTime", "screenName", "status", "rows",
                 "seatsPerRow", "totalSeats", "availableSeats", "heldSeats", "bookedSeats", "seats")
BOOKING_KEYS = ("bookingReference", "status", "username", "showId", "movieName", "screenName",
                "showTime", "seats", "totalSeats", "createdAt")
UNKNOWN_ID = 9223372036854775807  # a valid int64 no test ever creates
MISSING = object()


# --------------------------------------------------------------------------
# endpoint wrappers

def hold(c, user, show_id, seats):
    return c.post("/api/bookings/hold", {"username": user, "showId": show_id, "seats": seats})


def confirm(c, user, show_id, seats):
    return c.post("/api/bookings/confirm", {"username": user, "showId": show_id, "seats": seats})


def release(c, user, show_id, seats=None):
    body = {"username": user, "showId": show_id}
    if seats is not None:
        body["seats"] = seats
    return c.post("/api/bookings/release", body)


def cancel(c, user, ref):
    return c.post("/api/bookings/cancel", {"username": user, "bookingReference": ref})


def hold_best(c, user, show_id, count, allow_split=None):
    body = {"username": user, "showId": show_id, "count": count}
    if allow_split is not None:
        body["allowSplit"] = allow_split
    return c.post("/api/bookings/hold-best", body)


def details(c, user, ref):
    return c.get("/api/bookings/details?" + urllib.parse.urlencode({"username": user, "booking_reference": ref}))


def bookings_of(c, user):
    return c.get("/api/bookings/user?" + urllib.parse.urlencode({"username": user}))


def active(c):
    body = expect(c.get("/api/shows/active"), 200, "GET /api/shows/active")
    check(isinstance(body, list), "active shows is not an array: %s" % short(body))
    return body


# --------------------------------------------------------------------------
# shape checks

def check_booking(b, what, user=None, show=None, status=None, seats=None):
    check(isinstance(b, dict), "%s: booking is not an object: %s" % (what, short(b)))
    for k in BOOKING_KEYS:
        check(k in b, "%s: booking lacks %r: %s" % (what, k, short(b)))
    check(isinstance(b["bookingReference"], str) and REF_RE.match(b["bookingReference"]),
          "%s: bad bookingReference %r" % (what, b["bookingReference"]))
    st = b["status"]
    check(st in STATUSES, "%s: bad status %r" % (what, st))
    if status is not None:
        eq(st, status, "%s: status" % what)
    if user is not None:
        eq(b["username"], user, "%s: username" % what)
    if show is not None:
        eq(b["showId"], show["showId"], "%s: showId" % what)
        eq(b["movieName"], show["movieName"], "%s: movieName" % what)
        eq(b["screenName"], show["screenName"], "%s: screenName" % what)
        eq(parse_time(b["showTime"], what + " showTime"), show["showTime"], "%s: showTime" % what)
    check(isinstance(b["seats"], list) and all(isinstance(s, str) for s in b["seats"]),
          "%s: seats is not an array of strings: %s" % (what, short(b)))
    eq(b["seats"], natural(b["seats"]), "%s: seats in natural order, upper case" % what)
    check(type(b["totalSeats"]) is int, "%s: totalSeats not an integer" % what)
    eq(b["totalSeats"], len(b["seats"]), "%s: totalSeats == len(seats)" % what)
    if seats is not None:
        eq(b["seats"], natural(seats), "%s: seats" % what)
    created = parse_time(b["createdAt"], what + " createdAt")
    if st == "STAGED":
        exp = parse_time(b.get("expiresAt"), what + " expiresAt")
        check(exp > created, "%s: expiresAt %s not after createdAt %s" % (what, b["expiresAt"], b["createdAt"]))
    elif st in ("CONFIRMED", "CANCELLED"):
        check(b.get("expiresAt") is None, "%s: expiresAt must be absent or null when %s: %r"
              % (what, st, b.get("expiresAt")))
    if st == "CONFIRMED":
        check(parse_time(b.get("confirmedAt"), what + " confirmedAt") >= created,
              "%s: confirmedAt before createdAt" % what)
    elif st in ("STAGED", "EXPIRED"):
        check(b.get("confirmedAt") is None, "%s: confirmedAt set on a %s booking" % (what, st))
    if st == "CANCELLED":
        check(parse_time(b.get("cancelledAt"), what + " cancelledAt") >= created,
              "%s: cancelledAt before createdAt" % what)
    else:
        check(b.get("cancelledAt") is None, "%s: cancelledAt set on a %s booking" % (what, st))
    return b


def ok_booking(resp, what, **kw):
    return check_booking(expect(resp, 200, what), what, **kw)


def check_active_entry(e, what):
    check(isinstance(e, dict), "%s: entry not an object" % what)
    for k in ACTIVE_KEYS:
        check(k in e, "%s: active show lacks %r: %s" % (what, k, short(e)))
    for k in ("showId", "movieId", "durationMinutes", "screenId", "totalSeats", "availableSeats"):
        check(type(e[k]) is int, "%s: %s is not an integer: %r" % (what, k, e[k]))
    for k in ("movieName", "screenName"):
        check(isinstance(e[k], str), "%s: %s is not a string" % (what, k))
    parse_time(e["showTime"], what + " showTime")
    check(0 <= e["availableSeats"] <= e["totalSeats"], "%s: availableSeats out of range: %s" % (what, short(e)))


def seat_map(c, show, what="seat map"):
    m = expect(c.get("/api/shows/%d" % show["showId"]), 200, "%s of show %d" % (what, show["showId"]))
    check(isinstance(m, dict), "%s: not an object" % what)
    for k in SEAT_MAP_KEYS:
        check(k in m, "%s: lacks %r: %s" % (what, k, short(m)))
    eq(m["showId"], show["showId"], what + " showId")
    eq(m["movieName"], show["movieName"], what + " movieName")
    eq(m["screenName"], show["screenName"], what + " screenName")
    eq(m["durationMinutes"], show["durationMinutes"], what + " durationMinutes")
    eq(parse_time(m["showTime"], what + " showTime"), show["showTime"], what + " showTime")
    eq(m["rows"], show["rows"], what + " rows")
    eq(m["seatsPerRow"], show["seatsPerRow"], what + " seatsPerRow")
    eq(m["totalSeats"], show["totalSeats"], what + " totalSeats")
    seats = m["seats"]
    check(isinstance(seats, dict) and all(isinstance(seats.get(k), list) for k in ("available", "held", "booked")),
          "%s: seats must be {available,held,booked} arrays: %s" % (what, short(seats)))
    for k, count in (("available", "availableSeats"), ("held", "heldSeats"), ("booked", "bookedSeats")):
        lst = seats[k]
        check(all(isinstance(s, str) for s in lst), "%s: %s holds a non-string" % (what, k))
        eq(lst, natural(lst), "%s: seats.%s in natural order, upper case" % (what, k))
        eq(m[count], len(lst), "%s: %s == len(seats.%s)" % (what, count, k))
    union = sorted(seats["available"] + seats["held"] + seats["booked"], key=seat_key)
    check(union == all_seats(show["rows"], show["seatsPerRow"]),
          "%s: available+held+booked is not every seat exactly once" % what)
    return m


def expect_map(c, show, held=(), booked=(), what="seat map"):
    m = seat_map(c, show, what)
    eq(m["seats"]["held"], natural(held), what + ": held seats")
    eq(m["seats"]["booked"], natural(booked), what + ": booked seats")
    return m


def snapshot(c, show, users):
    m = expect(c.get("/api/shows/%d" % show["showId"]), 200, "snapshot seat map")
    ub = [expect(bookings_of(c, u), 200, "snapshot bookings of %s" % u) for u in users]
    return (m, ub)


def unchanged(c, before, show, users, what):
    after = snapshot(c, show, users)
    if after[0] != before[0]:
        b, a = before[0]["seats"], after[0]["seats"]
        diff = {k: (b.get(k) if len(b.get(k, [])) < 20 else "...", a.get(k) if len(a.get(k, [])) < 20 else "...")
                for k in ("held", "booked") if b.get(k) != a.get(k)}
        raise TestFailure("%s: the seat map changed: before/after %s" % (what, short(diff or after[0], 500)))
    for u, b, a in zip(users, before[1], after[1]):
        if a != b:
            raise TestFailure("%s: bookings of %s changed:\nbefore %s\nafter  %s"
                              % (what, u, short(b, 600), short(a, 600)))


# --------------------------------------------------------------------------
# health, conventions

def test_healthz_readyz(env):
    c = env.client("main")
    for path in ("/healthz", "/readyz"):
        expect(c.get(path), 200, "GET " + path)


def test_demo_data_active_nonempty(env):
    c = env.client("notoken")  # never touched by other tests: fresh demo data
    shows = active(c)
    check(len(shows) > 0, "GET /api/shows/active on a fresh server is empty")
    for i, e in enumerate(shows):
        check_active_entry(e, "demo show %d" % i)
        check(parse_time(e["showTime"]) > now_ms(), "demo show %d is not in the future" % i)
    keys = [(parse_time(e["showTime"]), e["showId"]) for e in shows]
    eq(keys, sorted(keys), "active shows order (showTime, showId)")


def test_keep_alive(env):
    c = env.client("main")
    show = new_show(c, 2, 4)
    c2 = env.server("main").client()
    user = unique_user()
    steps = [
        ("GET", "/healthz", None, 200),
        ("GET", "/api/shows/active", None, 200),
        ("GET", "/api/shows/%d" % show["showId"], None, 200),
        ("POST", "/api/bookings/hold", {"username": user, "showId": show["showId"], "seats": ["A1"]}, 200),
        ("GET", "/api/no-such-path", None, 404),
        ("POST", "/api/bookings/hold", {"username": user, "showId": show["showId"], "seats": []}, 400),
        ("GET", "/api/bookings/user?username=" + user, None, 200),
        ("GET", "/readyz", None, 200),
    ]
    for method, path, body, status in steps:
        r = c2.request(method, path, body=body)
        expect(r, status, "%s %s on a kept-alive connection" % (method, path))
        check("close" not in r[1].get("connection", "").lower(),
              "%s %s answered Connection: close" % (method, path))
    eq(c2.connects, 1, "TCP connections used for %d requests" % len(steps))
    c2.close()


# --------------------------------------------------------------------------
# 1. active shows

def test_active_shows_shape_and_order(env):
    c = env.client("main")
    movie = create_movie(c, 60)
    screens = [create_screen(c, 3, 4) for _ in range(3)]
    t0 = default_show_time()
    t1 = t0 + 3600 * 1000
    a = create_show(c, movie["movieId"], screens[0]["screenId"], t1)
    b = create_show(c, movie["movieId"], screens[1]["screenId"], t1)
    early = create_show(c, movie["movieId"], screens[2]["screenId"], t0)
    check(a["showId"] < b["showId"], "show ids are not increasing: %d then %d" % (a["showId"], b["showId"]))
    shows = active(c)
    for i, e in enumerate(shows):
        check_active_entry(e, "active show %d" % i)
        check(parse_time(e["showTime"]) > now_ms(), "active show %d (%d) already started" % (i, e["showId"]))
    keys = [(parse_time(e["showTime"]), e["showId"]) for e in shows]
    eq(keys, sorted(keys), "active shows order (showTime, showId)")
    ids = [e["showId"] for e in shows]
    for s in (a, b, early):
        check(s["showId"] in ids, "show %d missing from active shows" % s["showId"])
    check(ids.index(early["showId"]) < ids.index(a["showId"]) < ids.index(b["showId"]),
          "order of shows (earlier time, then same time by showId) is wrong: %s" % ids)
    entry = shows[ids.index(a["showId"])]
    expected = {"showId": a["showId"], "movieId": movie["movieId"], "movieName": movie["name"],
                "durationMinutes": 60, "showTime": fmt_time(t1), "screenId": screens[0]["screenId"],
                "screenName": screens[0]["name"], "totalSeats": 12, "availableSeats": 12}
    for k, v in expected.items():
        eq(entry[k], v, "active show %d field %s" % (a["showId"], k))
    user = unique_user()
    ok_booking(hold(c, user, a["showId"], ["A1", "A2", "B3"]), "hold 3")
    entry = [e for e in active(c) if e["showId"] == a["showId"]][0]
    eq(entry["availableSeats"], 9, "availableSeats after holding 3 of 12")
    ok_booking(confirm(c, user, a["showId"], ["A1", "A2"]), "confirm 2 of 3")
    entry = [e for e in active(c) if e["showId"] == a["showId"]][0]
    eq(entry["availableSeats"], 10, "availableSeats after confirming 2 and releasing 1")


def test_active_shows_excludes_cancelled(env):
    c = env.client("main")
    show = new_show(c, 2, 2)
    sid = show["showId"]
    check(sid in [e["showId"] for e in active(c)], "new show %d not in active shows" % sid)
    r = c.admin("/api/admin/shows/%d/cancel" % sid, None)
    body = expect(r, 200, "cancel show")
    eq(body.get("showId"), sid, "cancel show body showId")
    eq(body.get("status"), "CANCELLED", "cancel show body status")
    check(sid not in [e["showId"] for e in active(c)], "cancelled show %d still in active shows" % sid)
    body2 = expect(c.admin("/api/admin/shows/%d/cancel" % sid, None), 200, "cancel show again")
    eq(body2.get("status"), "CANCELLED", "second cancel status")
    m = seat_map(c, show, "seat map of a cancelled show")
    eq(m["status"], "CANCELLED", "seat map status of a cancelled show")


# --------------------------------------------------------------------------
# 2. seat map

def test_seat_map_shape_and_natural_order(env):
    c = env.client("main")
    show = new_show(c, 28, 12)
    m = seat_map(c, show)
    eq(m["status"], "ACTIVE", "status")
    eq((m["availableSeats"], m["heldSeats"], m["bookedSeats"]), (336, 0, 0), "counts of a new show")
    av = m["seats"]["available"]
    eq(av, all_seats(28, 12), "available seats of a new 28x12 show, natural order")
    check(av.index("A2") < av.index("A10"), "A2 must come before A10")
    check(av.index("Z12") < av.index("AA1"), "Z12 must come before AA1")
    eq(av[-1], "AB12", "last seat")
    u1, u2 = unique_user(), unique_user()
    b = ok_booking(hold(c, u1, show["showId"], ["aa3", "b10", "B2", "z1"]), "hold lower-case labels",
                   user=u1, show=show, status="STAGED")
    eq(b["seats"], ["B2", "B10", "Z1", "AA3"], "held seats, upper case natural order")
    ok_booking(confirm(c, u1, show["showId"], ["b10", "aa3"]), "confirm lower-case labels",
               status="CONFIRMED", seats=["B10", "AA3"])
    ok_booking(hold(c, u2, show["showId"], ["ab12", "a10", "A2"]), "hold", seats=["A2", "A10", "AB12"])
    m = expect_map(c, show, held=["A2", "A10", "AB12"], booked=["B10", "AA3"])
    eq((m["availableSeats"], m["heldSeats"], m["bookedSeats"]), (331, 3, 2), "counts")


def test_seat_map_bad_ids(env):
    c = env.client("main")
    for sid in ("abc", "0", "-1", "99999999999999999999", "9223372036854775808", "1.5", "1e3", "0x10", "1a"):
        expect_error(c.get("/api/shows/" + sid), 400, "INVALID_REQUEST", "GET /api/shows/" + sid)
    expect_error(c.get("/api/shows/%d" % UNKNOWN_ID), 404, "SHOW_NOT_FOUND", "GET unknown show")


# --------------------------------------------------------------------------
# 3. hold

def test_hold_basic(env):
    c = env.client("main")
    show = new_show(c)
    sid = show["showId"]
    user = unique_user()
    t_before = now_ms()
    b = ok_booking(hold(c, user, sid, ["A1", "a2"]), "hold", user=user, show=show, status="STAGED",
                   seats=["A1", "A2"])
    created, exp = parse_time(b["createdAt"]), parse_time(b["expiresAt"])
    check(t_before - 5000 <= created <= now_ms() + 5000, "createdAt %s is not now" % b["createdAt"])
    check(abs(exp - created - DEFAULT_TTL_MS) <= 1000,
          "expiresAt %s is not createdAt %s + 20 minutes" % (b["expiresAt"], b["createdAt"]))
    expect_map(c, show, held=["A1", "A2"])
    eq(expect(details(c, user, b["bookingReference"]), 200, "details"), b, "details of the cart")
    eq(expect(bookings_of(c, user), 200, "user bookings"), [b], "user bookings")
    b2 = ok_booking(hold(c, user, sid, ["B3"]), "second hold", status="STAGED", seats=["A1", "A2", "B3"])
    eq(b2["bookingReference"], b["bookingReference"], "second hold adds to the same cart")
    eq(b2["createdAt"], b["createdAt"], "cart createdAt")
    check(parse_time(b2["expiresAt"]) >= exp, "expiry moved backwards on a hold that adds seats")
    expect_map(c, show, held=["A1", "A2", "B3"])
    eq(len(expect(bookings_of(c, user), 200, "user bookings")), 1, "one cart per user and show")
    for i, name in enumerate(("x" * 63 + "y", "Az09._@-" + unique("v")[-4:], "a", "user@example.com")):
        ok_booking(hold(c, name, sid, ["E%d" % (i + 1)]), "hold with valid username %r" % name, user=name,
                   seats=["E%d" % (i + 1)])


def test_hold_retry_is_harmless(env):
    c = env.client("main")
    show = new_show(c)
    user = unique_user()
    b = ok_booking(hold(c, user, show["showId"], ["C1", "C2"]), "hold")
    before = snapshot(c, show, [user])
    for seats in (["C1", "C2"], ["c2", "c1"], ["C2"]):
        b2 = ok_booking(hold(c, user, show["showId"], seats), "retry hold %s" % seats)
        eq(b2, b, "retry hold %s returns the same cart, expiry unchanged" % seats)
        unchanged(c, before, show, [user], "retry hold %s" % seats)


def test_hold_all_or_nothing(env):
    c = env.client("main")
    show = new_show(c)
    sid = show["showId"]
    x, y = unique_user("x"), unique_user("y")
    ok_booking(hold(c, x, sid, ["B5", "A2", "A10"]), "x holds")
    before = snapshot(c, show, [x, y])
    expect_error(hold(c, y, sid, ["B4", "B5", "B6"]), 409, "SEATS_UNAVAILABLE", "y holds over x's B5",
                 seats=["B5"])
    unchanged(c, before, show, [x, y], "refused hold")
    expect_error(hold(c, y, sid, ["a10", "A1", "a2"]), 409, "SEATS_UNAVAILABLE", "y holds over A2, A10",
                 seats=["A2", "A10"])
    unchanged(c, before, show, [x, y], "refused hold")
    ok_booking(confirm(c, x, sid, ["B5", "A2", "A10"]), "x confirms", status="CONFIRMED")
    before = snapshot(c, show, [x, y])
    expect_error(hold(c, y, sid, ["C1", "b5"]), 409, "SEATS_UNAVAILABLE", "y holds a booked seat", seats=["B5"])
    unchanged(c, before, show, [x, y], "refused hold of a booked seat")
    expect_error(hold(c, x, sid, ["B5"]), 409, "SEATS_UNAVAILABLE", "x holds the seat x booked", seats=["B5"])
    expect_error(hold(c, x, sid, ["C1", "B5"]), 409, "SEATS_UNAVAILABLE", "x holds its booked seat + one",
                 seats=["B5"])
    unchanged(c, before, show, [x, y], "refused hold of own booked seat")
    ok_booking(hold(c, y, sid, ["C1"]), "y holds")
    before = snapshot(c, show, [x, y])
    expect_error(hold(c, x, sid, ["D1", "C1", "A2"]), 409, "SEATS_UNAVAILABLE", "x holds held+booked+free",
                 seats=["A2", "C1"])
    unchanged(c, before, show, [x, y], "refused mixed hold")


def test_hold_unknown_seats(env):
    c = env.client("main")
    show = new_show(c, 5, 10)
    user = unique_user()
    ok_booking(hold(c, user, show["showId"], ["A1"]), "hold")
    before = snapshot(c, show, [user])
    expect_error(hold(c, user, show["showId"], ["A1", "f1", "A11", "zz999", "B2"]), 400, "UNKNOWN_SEATS",
                 "hold seats outside a 5x10 screen", seats=["A11", "F1", "ZZ999"])
    unchanged(c, before, show, [user], "hold with unknown seats")
    expect_error(confirm(c, user, show["showId"], ["A1", "E11"]), 400, "UNKNOWN_SEATS", "confirm unknown seat",
                 seats=["E11"])
    unchanged(c, before, show, [user], "confirm with unknown seats")


def test_hold_max_seats_per_request_and_user(env):
    c = env.client("main")
    show = new_show(c, 5, 10)
    sid = show["showId"]
    u1, u2 = unique_user(), unique_user()
    ten = ["A%d" % i for i in range(1, 11)]
    ok_booking(hold(c, u1, sid, ten), "hold 10 seats (the default maximum)", seats=ten)
    before = snapshot(c, show, [u1, u2])
    eleven = ["B%d" % i for i in range(1, 11)] + ["C1"]
    expect_error(hold(c, u2, sid, eleven), 400, "INVALID_REQUEST", "hold 11 seats")
    expect_error(hold(c, u1, sid, ["B1"]), 409, "HOLD_LIMIT_EXCEEDED", "an 11th held seat")
    expect_error(hold(c, u1, sid, ["A1", "B1"]), 409, "HOLD_LIMIT_EXCEEDED", "retry + an 11th held seat")
    unchanged(c, before, show, [u1, u2], "refused holds")
    ok_booking(hold(c, u1, sid, ten), "a pure retry of 10 held seats is fine", seats=ten)


def test_hold_duplicates(env):
    c = env.client("main")
    show = new_show(c)
    user = unique_user()
    before = snapshot(c, show, [user])
    for seats in (["A1", "A1"], ["b2", "B2"], ["C3", "D4", "c3"]):
        expect_error(hold(c, user, show["showId"], seats), 400, "INVALID_REQUEST", "hold duplicates %s" % seats)
        expect_error(confirm(c, user, show["showId"], seats), 400, "INVALID_REQUEST",
                     "confirm duplicates %s" % seats)
        unchanged(c, before, show, [user], "duplicates %s" % seats)


def test_limits_server(env):
    c = env.client("limits")  # --max-seats-per-user 3 --max-seats-per-request 4
    show = new_show(c, 3, 6)
    other = new_show(c, 3, 6)
    sid = show["showId"]
    u, v = unique_user(), unique_user()
    ok_booking(hold(c, u, sid, ["A1", "A2"]), "hold 2 of 3")
    before = snapshot(c, show, [u, v])
    expect_error(hold(c, u, sid, ["A3", "A4"]), 409, "HOLD_LIMIT_EXCEEDED", "hold to 4 of 3")
    unchanged(c, before, show, [u, v], "refused by the per-user limit")
    ok_booking(hold(c, u, sid, ["A2", "A3"]), "hold to exactly 3", seats=["A1", "A2", "A3"])
    ok_booking(hold(c, u, sid, ["A1", "A2", "A3"]), "retry at the limit", seats=["A1", "A2", "A3"])
    before = snapshot(c, show, [u, v])
    expect_error(hold(c, u, sid, ["B1"]), 409, "HOLD_LIMIT_EXCEEDED", "a 4th seat")
    expect_error(hold(c, v, sid, ["B1", "B2", "B3", "B4", "B5"]), 400, "INVALID_REQUEST",
                 "5 seats with --max-seats-per-request 4")
    expect_error(hold(c, v, sid, ["B1", "B2", "B3", "B4"]), 409, "HOLD_LIMIT_EXCEEDED",
                 "4 seats in one request with --max-seats-per-user 3")
    expect_error_one_of(hold_best(c, v, sid, 5), [(400, "INVALID_REQUEST"), (409, "HOLD_LIMIT_EXCEEDED")],
                        "hold-best 5 with --max-seats-per-request 4")
    expect_error(hold_best(c, v, sid, 4), 409, "HOLD_LIMIT_EXCEEDED", "hold-best 4 with a per-user limit of 3")
    unchanged(c, before, show, [u, v], "refused holds")
    ok_booking(hold(c, u, other["showId"], ["A1", "A2", "A3"]), "the limit is per show")


# --------------------------------------------------------------------------
# 4. confirm

def test_confirm_and_retry(env):
    c = env.client("main")
    show = new_show(c)
    sid = show["showId"]
    user, other = unique_user(), unique_user()
    cart = ok_booking(hold(c, user, sid, ["A1", "A2", "A3"]), "hold")
    b = ok_booking(confirm(c, user, sid, ["A1", "A2", "A3"]), "confirm", user=user, show=show,
                   status="CONFIRMED", seats=["A1", "A2", "A3"])
    eq(b["bookingReference"], cart["bookingReference"], "confirmed reference == cart reference")
    eq(b["createdAt"], cart["createdAt"], "createdAt kept")
    expect_map(c, show, booked=["A1", "A2", "A3"])
    before = snapshot(c, show, [user, other])
    for seats in (["a3", "A1", "a2"], ["A2", "A3", "A1"]):
        b2 = ok_booking(confirm(c, user, sid, seats), "confirm retry %s" % seats)
        eq(b2, b, "confirm retry %s returns the same booking" % seats)
        unchanged(c, before, show, [user, other], "confirm retry")
    lst = expect(bookings_of(c, user), 200, "user bookings")
    eq(lst, [b], "user has exactly the one confirmed booking")
    eq(expect(details(c, user, b["bookingReference"]), 200, "details"), b, "details after confirm")
    expect_error(confirm(c, other, sid, ["A1", "A2", "A3"]), 409, "SEATS_NOT_HELD",
                 "another user confirms the same seats", seats=["A1", "A2", "A3"])
    unchanged(c, before, show, [user, other], "refused confirm")


def test_confirm_subset_releases_rest(env):
    c = env.client("main")
    show = new_show(c)
    sid = show["showId"]
    user, other = unique_user(), unique_user()
    cart = ok_booking(hold(c, user, sid, ["A1", "A2", "A3", "A4"]), "hold 4")
    b = ok_booking(confirm(c, user, sid, ["A3", "a2"]), "confirm 2 of 4", status="CONFIRMED", seats=["A2", "A3"])
    eq(b["bookingReference"], cart["bookingReference"], "reference kept")
    expect_map(c, show, booked=["A2", "A3"])
    eq(expect(bookings_of(c, user), 200, "bookings"), [b], "bookings after a partial confirm")
    eq(ok_booking(confirm(c, user, sid, ["A2", "A3"]), "retry"), b, "retry after a partial confirm")
    ok_booking(hold(c, other, sid, ["A1", "A4"]), "another user holds the released seats")


def test_seats_not_held(env):
    c = env.client("main")
    show = new_show(c)
    sid = show["showId"]
    x, y = unique_user("x"), unique_user("y")
    before = snapshot(c, show, [x, y])
    expect_error(confirm(c, x, sid, ["A1"]), 409, "SEATS_NOT_HELD", "confirm without a hold", seats=["A1"])
    unchanged(c, before, show, [x, y], "confirm without a hold")
    ok_booking(hold(c, y, sid, ["B1", "B2"]), "y holds")
    ok_booking(hold(c, x, sid, ["A1"]), "x holds")
    before = snapshot(c, show, [x, y])
    expect_error(confirm(c, x, sid, ["b1"]), 409, "SEATS_NOT_HELD", "confirm y's seat", seats=["B1"])
    expect_error(confirm(c, x, sid, ["A1", "a2"]), 409, "SEATS_NOT_HELD", "confirm held + unheld", seats=["A2"])
    expect_error(confirm(c, x, sid, ["B2", "A1", "C9"]), 409, "SEATS_NOT_HELD", "confirm mixed",
                 seats=["B2", "C9"])
    unchanged(c, before, show, [x, y], "refused confirms")
    ok_booking(confirm(c, x, sid, ["A1"]), "confirm the held seat", status="CONFIRMED", seats=["A1"])


# --------------------------------------------------------------------------
# show not bookable

def test_show_not_bookable_cancelled(env):
    c = env.client("main")
    show = new_show(c)
    sid = show["showId"]
    x, y = unique_user("x"), unique_user("y")
    ok_booking(hold(c, x, sid, ["A1", "A2"]), "x holds")
    ok_booking(hold(c, y, sid, ["B1"]), "y holds")
    ok_booking(confirm(c, y, sid, ["B1"]), "y confirms")
    expect(c.admin("/api/admin/shows/%d/cancel" % sid, None), 200, "cancel show")
    before = snapshot(c, show, [x, y])
    expect_error(hold(c, x, sid, ["A3"]), 409, "SHOW_NOT_BOOKABLE", "hold in a cancelled show")
    expect_error(hold(c, y, sid, ["C1"]), 409, "SHOW_NOT_BOOKABLE", "hold in a cancelled show")
    expect_error(hold(c, y, sid, ["Z1"]), 409, "SHOW_NOT_BOOKABLE", "bookability is checked before seat names")
    expect_error(confirm(c, x, sid, ["A1", "A2"]), 409, "SHOW_NOT_BOOKABLE", "confirm in a cancelled show")
    expect_error(hold_best(c, y, sid, 2), 409, "SHOW_NOT_BOOKABLE", "hold-best in a cancelled show")
    unchanged(c, before, show, [x, y], "refused operations on a cancelled show")
    expect_error(hold(c, x, UNKNOWN_ID, ["Z99"]), 404, "SHOW_NOT_FOUND", "hold in an unknown show")
    expect_error(confirm(c, x, UNKNOWN_ID, ["A1"]), 404, "SHOW_NOT_FOUND", "confirm in an unknown show")
    expect_error(hold_best(c, x, UNKNOWN_ID, 1), 404, "SHOW_NOT_FOUND", "hold-best in an unknown show")


def test_show_started(env):
    c = env.client("main")
    screen = create_screen(c, 4, 6)
    movie = create_movie(c, 30)
    start = now_ms() + 3000
    sh = create_show(c, movie["movieId"], screen["screenId"], start)
    show = {"showId": sh["showId"], "movieName": movie["name"], "screenName": screen["name"],
            "durationMinutes": 30, "showTime": start, "rows": 4, "seatsPerRow": 6, "totalSeats": 24}
    sid = show["showId"]
    x, y, z = unique_user("x"), unique_user("y"), unique_user("z")
    ok_booking(hold(c, x, sid, ["A1", "A2"]), "x holds")
    bx = ok_booking(confirm(c, x, sid, ["A1"]), "x confirms A1")
    ok_booking(hold(c, y, sid, ["B1"]), "y holds")
    ok_booking(hold(c, z, sid, ["C1"]), "z holds")
    bz = ok_booking(confirm(c, z, sid, ["C1"]), "z confirms")
    check(sid in [e["showId"] for e in active(c)], "show %d is not active before it starts" % sid)
    wait = start + 400 - now_ms()
    check(wait > 0, "setup took longer than the 3 s before the show started")
    time.sleep(wait / 1000.0)
    check(sid not in [e["showId"] for e in active(c)], "a started show is still in /api/shows/active")
    seat_map(c, show, "seat map of a started show")
    before = snapshot(c, show, [x, y, z])
    expect_error(hold(c, x, sid, ["A3"]), 409, "SHOW_NOT_BOOKABLE", "hold after the start")
    expect_error(confirm(c, y, sid, ["B1"]), 409, "SHOW_NOT_BOOKABLE", "confirm after the start")
    expect_error(hold_best(c, y, sid, 1), 409, "SHOW_NOT_BOOKABLE", "hold-best after the start")
    expect_error(cancel(c, z, bz["bookingReference"]), 409, "BOOKING_NOT_CANCELLABLE", "cancel after the start")
    eq(ok_booking(confirm(c, x, sid, ["a1"]), "retry of a successful confirm after the start"), bx,
       "confirm retry after the start")
    unchanged(c, before, show, [x, y, z], "refused operations on a started show")


# --------------------------------------------------------------------------
# 5, 6. details and user bookings

def test_details_and_user_bookings(env):
    c = env.client("main")
    shows = [new_show(c, 2, 3) for _ in range(3)]
    u, v = unique_user("u"), unique_user("v")
    ok_booking(hold(c, u, shows[0]["showId"], ["A1", "A2"]), "hold show 1")
    b1 = ok_booking(confirm(c, u, shows[0]["showId"], ["A1", "A2"]), "confirm show 1", status="CONFIRMED")
    time.sleep(0.02)
    b2 = ok_booking(hold(c, u, shows[1]["showId"], ["B3"]), "hold show 2", status="STAGED")
    time.sleep(0.02)
    ok_booking(hold(c, u, shows[2]["showId"], ["A3"]), "hold show 3")
    b3 = ok_booking(release(c, u, shows[2]["showId"]), "release all in show 3", status="CANCELLED", seats=[])
    lst = expect(bookings_of(c, u), 200, "user bookings")
    check(isinstance(lst, list), "user bookings is not an array")
    for i, b in enumerate(lst):
        check_booking(b, "user booking %d" % i, user=u)
    eq([b["bookingReference"] for b in lst], [b3["bookingReference"], b2["bookingReference"], b1["bookingReference"]],
       "user bookings, newest first")
    eq([b["status"] for b in lst], ["CANCELLED", "STAGED", "CONFIRMED"], "statuses")
    created = [parse_time(b["createdAt"]) for b in lst]
    eq(created, sorted(created, reverse=True), "createdAt newest first")
    for b, want, show in zip(lst, (b3, b2, b1), (shows[2], shows[1], shows[0])):
        eq(b, want, "listed booking equals the operation's answer")
        check_booking(b, "listed", show=show)
        eq(expect(details(c, u, b["bookingReference"]), 200, "details"), b, "details equals the listed booking")
    eq(expect(bookings_of(c, unique_user("nobody")), 200, "bookings of an unknown user"), [],
       "bookings of an unknown user")
    for ref in (b1["bookingReference"], b2["bookingReference"]):
        expect_error(details(c, v, ref), 404, "BOOKING_NOT_FOUND", "details of another user's booking")
    expect_error(details(c, u, "BX-22222222"), 404, "BOOKING_NOT_FOUND", "details of an unknown reference")
    for bad_ref in ("nonsense", "", "BX-", "BX-222222222"):
        r = details(c, u, bad_ref)
        expect_error_one_of(r, [(400, "INVALID_REQUEST"), (404, "BOOKING_NOT_FOUND")],
                            "details of a malformed reference %r" % bad_ref)
    ref = urllib.parse.quote(b1["bookingReference"])
    for q in ("username=%s" % u, "booking_reference=%s" % ref, "", "username=&booking_reference=%s" % ref,
              "username=a%%20b&booking_reference=%s" % ref,
              "username=%s&booking_reference=%s" % ("x" * 65, ref)):
        expect_error(c.get("/api/bookings/details?" + q), 400, "INVALID_REQUEST", "details?" + q)
    for q in ("", "user=%s" % u, "username=", "username=%s" % ("x" * 65), "username=a%20b", "username=%C3%BC",
              "username=a%2Fb"):
        expect_error(c.get("/api/bookings/user?" + q), 400, "INVALID_REQUEST", "user?" + q)
    expect_error(c.get("/api/bookings/user"), 400, "INVALID_REQUEST", "user bookings without a query")


def test_details_moviehub_alias(env):
    """bookingReference= (the original MovieHub client's spelling) is an
    alias of booking_reference=: same answers, same errors."""
    c = env.client("main")
    show = new_show(c, 2, 3)
    u, v = unique_user("u"), unique_user("v")
    ok_booking(hold(c, u, show["showId"], ["A1"]), "hold")
    b = ok_booking(confirm(c, u, show["showId"], ["A1"]), "confirm", status="CONFIRMED")
    ref = b["bookingReference"]

    def alias(params):
        return c.get("/api/bookings/details?" + urllib.parse.urlencode(params))

    eq(expect(alias({"username": u, "bookingReference": ref}), 200, "details?bookingReference="), b,
       "the alias answers the same booking")
    eq(expect(alias({"username": u, "bookingReference": ref, "booking_reference": ref}), 200,
              "both spellings, same value"), b, "both spellings")
    expect_error(alias({"username": v, "bookingReference": ref}), 404, "BOOKING_NOT_FOUND",
                 "alias: another user's booking")
    expect_error(alias({"username": u, "bookingReference": "BX-22222222"}), 404, "BOOKING_NOT_FOUND",
                 "alias: unknown reference")
    expect_error(alias({"username": u, "bookingReference": ""}), 400, "INVALID_REQUEST", "alias: empty")
    expect_error(alias({"bookingReference": ref}), 400, "INVALID_REQUEST", "alias without username")
    expect_error(alias({"username": u, "bookingReference": ref, "booking_reference": "BX-22222222"}),
                 400, "INVALID_REQUEST", "both spellings with different values")


# --------------------------------------------------------------------------
# 7. release

def test_release(env):
    c = env.client("main")
    show = new_show(c)
    sid = show["showId"]
    x, y, z = unique_user("x"), unique_user("y"), unique_user("z")
    cart = ok_booking(hold(c, x, sid, ["A1", "A2", "A3"]), "hold")
    b = ok_booking(release(c, x, sid, ["a2"]), "release one", status="STAGED", seats=["A1", "A3"])
    eq(b["bookingReference"], cart["bookingReference"], "reference after release")
    expect_map(c, show, held=["A1", "A3"])
    ok_booking(hold(c, y, sid, ["C1"]), "y holds")
    before = snapshot(c, show, [x, y])
    b2 = ok_booking(release(c, x, sid, ["B7"]), "release a seat not held", seats=["A1", "A3"])
    eq(b2, b, "release of an unheld seat changes nothing")
    ok_booking(release(c, x, sid, ["C1"]), "release y's seat", seats=["A1", "A3"])
    unchanged(c, before, show, [x, y], "release of seats not held by the caller")
    b3 = ok_booking(release(c, x, sid), "release all", status="CANCELLED", seats=[])
    eq(b3["bookingReference"], cart["bookingReference"], "reference of the cancelled cart")
    expect_map(c, show, held=["C1"])
    eq(expect(details(c, x, cart["bookingReference"]), 200, "details"), b3, "details of the cancelled cart")
    before = snapshot(c, show, [x, y, z])
    expect_error(release(c, x, sid), 404, "BOOKING_NOT_FOUND", "release with no cart left")
    expect_error(release(c, z, sid, ["A1"]), 404, "BOOKING_NOT_FOUND", "release by a user without a cart")
    unchanged(c, before, show, [x, y, z], "refused releases")
    time.sleep(0.01)
    cart2 = ok_booking(hold(c, x, sid, ["A5", "A6"]), "hold again")
    check(cart2["bookingReference"] != cart["bookingReference"], "a new cart needs a new reference")
    ok_booking(release(c, x, sid, ["A6", "a5"]), "release every seat by name", status="CANCELLED", seats=[])
    lst = expect(bookings_of(c, x), 200, "bookings")
    eq([(b["bookingReference"], b["status"]) for b in lst],
       [(cart2["bookingReference"], "CANCELLED"), (cart["bookingReference"], "CANCELLED")], "bookings of x")
    ok_booking(hold(c, z, sid, ["D1"]), "z holds")
    ok_booking(confirm(c, z, sid, ["D1"]), "z confirms")
    before = snapshot(c, show, [z])
    expect_error(release(c, z, sid), 404, "BOOKING_NOT_FOUND", "release after confirm (no cart)")
    unchanged(c, before, show, [z], "release after confirm")
    expect_error_one_of(release(c, z, UNKNOWN_ID), [(404, "SHOW_NOT_FOUND"), (404, "BOOKING_NOT_FOUND")],
                        "release in an unknown show")


# --------------------------------------------------------------------------
# 8. cancel

def test_cancel(env):
    c = env.client("main")
    show = new_show(c)
    sid = show["showId"]
    x, y, w = unique_user("x"), unique_user("y"), unique_user("w")
    ok_booking(hold(c, x, sid, ["A1", "A2"]), "hold")
    b = ok_booking(confirm(c, x, sid, ["A1", "A2"]), "confirm", status="CONFIRMED")
    ok_booking(hold(c, w, sid, ["B1"]), "w holds")
    bw = ok_booking(confirm(c, w, sid, ["B1"]), "w confirms")
    before = snapshot(c, show, [x, y, w])
    expect_error(cancel(c, y, b["bookingReference"]), 404, "BOOKING_NOT_FOUND", "cancel another user's booking")
    expect_error(cancel(c, x, bw["bookingReference"]), 404, "BOOKING_NOT_FOUND", "cancel another user's booking")
    expect_error(cancel(c, x, "BX-22222222"), 404, "BOOKING_NOT_FOUND", "cancel an unknown reference")
    unchanged(c, before, show, [x, y, w], "refused cancels")
    cb = ok_booking(cancel(c, x, b["bookingReference"]), "cancel", user=x, show=show, status="CANCELLED")
    eq(cb["bookingReference"], b["bookingReference"], "reference of the cancelled booking")
    expect_map(c, show, booked=["B1"])
    eq(ok_booking(cancel(c, x, b["bookingReference"]), "cancel again"), cb, "cancelling again")
    eq(expect(details(c, x, b["bookingReference"]), 200, "details"), cb, "details after cancel")
    ok_booking(hold(c, y, sid, ["A1", "A2"]), "cancelled seats can be held again")
    cart = ok_booking(hold(c, w, sid, ["C1", "C2"]), "w's new cart")
    cc = ok_booking(cancel(c, w, cart["bookingReference"]), "cancel a staged cart", status="CANCELLED")
    eq(cc["bookingReference"], cart["bookingReference"], "reference")
    expect_map(c, show, held=["A1", "A2"], booked=["B1"])
    r = cancel(c, x, "nonsense")
    expect_error_one_of(r, [(400, "INVALID_REQUEST"), (404, "BOOKING_NOT_FOUND")], "cancel a malformed reference")


# --------------------------------------------------------------------------
# 8b. hold-best

def free_runs_isolated(free):
    """Indexes of free seats with no free neighbour (a wall counts as taken)."""
    n = len(free)
    return {i for i in range(n) if free[i] and (i == 0 or not free[i - 1]) and (i == n - 1 or not free[i + 1])}


def test_hold_best_centre(env):
    c = env.client("main")
    for count, want in ((2, ["C5", "C6"]), (4, ["C4", "C5", "C6", "C7"]), (1, None)):
        show = new_show(c, 5, 10)
        user = unique_user()
        b = ok_booking(hold_best(c, user, show["showId"], count), "hold-best %d" % count, user=user, show=show,
                       status="STAGED")
        if want is None:  # one seat: middle row, one of the two middle seats
            check(b["seats"] in (["C5"], ["C6"]), "hold-best 1 on an empty 5x10 screen gave %s" % b["seats"])
        else:
            eq(b["seats"], want, "hold-best %d on an empty 5x10 screen" % count)
        expect_map(c, show, held=b["seats"])
        eq(ok_booking(confirm(c, user, show["showId"], b["seats"]), "confirm best")["seats"], b["seats"], "confirmed")


def test_hold_best_avoids_single_gaps(env):
    c = env.client("main")
    show = new_show(c, 1, 10)
    sid = show["showId"]
    x, y = unique_user("x"), unique_user("y")
    ok_booking(hold(c, y, sid, ["A3"]), "y takes A3")
    b = ok_booking(hold_best(c, x, sid, 2), "hold-best 2 next to a taken A3", status="STAGED")
    # A5-A6 is the most central pair but strands A4; A4-A5 and A6-A7 are as central and strand nothing.
    check(b["seats"] in (["A4", "A5"], ["A6", "A7"]),
          "hold-best 2 with A3 taken gave %s, expected A4-A5 or A6-A7 (no stranded single seat)" % b["seats"])
    taken = {"A3"} | set(b["seats"])
    free = ["A%d" % i not in taken for i in range(1, 11)]
    eq(free_runs_isolated(free), set(), "stranded single seats")
    # 1x8 with A2 and A7 taken: the centre pair A4-A5 would strand A3 and A6.
    show2 = new_show(c, 1, 8)
    ok_booking(hold(c, y, show2["showId"], ["A2", "A7"]), "y takes A2, A7")
    b2 = ok_booking(hold_best(c, x, show2["showId"], 2), "hold-best 2 in 1x8 with A2, A7 taken")
    check(b2["seats"] in (["A3", "A4"], ["A5", "A6"]),
          "hold-best 2 in 1x8 with A2, A7 taken gave %s, expected A3-A4 or A5-A6 (A4-A5 strands A3 and A6)"
          % b2["seats"])


def test_hold_best_unavailable_and_split(env):
    c = env.client("main")
    show = new_show(c, 2, 4)
    sid = show["showId"]
    x, y = unique_user("x"), unique_user("y")
    ok_booking(hold(c, y, sid, ["A2", "B3"]), "y takes A2 and B3")
    before = snapshot(c, show, [x, y])
    expect_error(hold_best(c, x, sid, 3), 409, "SEATS_UNAVAILABLE", "hold-best 3 with no 3 adjacent seats")
    expect_error(hold_best(c, x, sid, 3, False), 409, "SEATS_UNAVAILABLE", "hold-best 3 allowSplit false")
    expect_error(hold_best(c, x, sid, 7, True), 409, "SEATS_UNAVAILABLE", "hold-best 7 of 6 free, split allowed")
    unchanged(c, before, show, [x, y], "refused hold-best")
    b = ok_booking(hold_best(c, x, sid, 3, True), "hold-best 3 allowSplit", user=x, show=show, status="STAGED")
    eq(len(b["seats"]), 3, "seats of a split hold-best")
    check(set(b["seats"]) <= {"A1", "A3", "A4", "B1", "B2", "B4"}, "split hold-best took a taken seat: %s"
          % b["seats"])
    expect_map(c, show, held=["A2", "B3"] + b["seats"])
    show2 = new_show(c, 3, 5)
    ok_booking(hold(c, y, show2["showId"], ["A1"]), "y holds A1")
    b2 = ok_booking(hold_best(c, y, show2["showId"], 2), "hold-best adds to y's cart", status="STAGED")
    eq(len(b2["seats"]), 3, "cart after hold + hold-best 2")
    check("A1" in b2["seats"], "hold-best dropped the seat already in the cart: %s" % b2["seats"])
    eq(len(expect(bookings_of(c, y), 200, "bookings")), 2, "one cart per show (2 shows)")
    expect_map(c, show2, held=b2["seats"])


def test_hold_best_validation(env):
    c = env.client("main")
    show = new_show(c, 3, 5)
    sid = show["showId"]
    user = unique_user()
    ok_booking(hold(c, user, sid, ["A1"]), "hold")
    before = snapshot(c, show, [user])
    base = {"username": user, "showId": sid, "count": 2}
    for value in (0, -1, 1.5, 2.0, "2", None, True, [2], 99999999999999999999):
        expect_error(c.post("/api/bookings/hold-best", dict(base, count=value)), 400, "INVALID_REQUEST",
                     "hold-best count %r" % (value,))
    expect_error(c.post("/api/bookings/hold-best", {"username": user, "showId": sid}), 400, "INVALID_REQUEST",
                 "hold-best without count")
    for value in ("yes", 1, 0, "true"):
        expect_error(c.post("/api/bookings/hold-best", dict(base, allowSplit=value)), 400, "INVALID_REQUEST",
                     "hold-best allowSplit %r" % (value,))
    r = c.post("/api/bookings/hold-best", dict(base, count=11))
    expect_error_one_of(r, [(400, "INVALID_REQUEST"), (409, "HOLD_LIMIT_EXCEEDED")],
                        "hold-best 11 > max seats per request")
    unchanged(c, before, show, [user], "refused hold-best")


# --------------------------------------------------------------------------
# 10. admin

def test_admin_create_bodies(env):
    c = env.client("main")
    name = unique("Écran ü")
    r = c.admin("/api/admin/screens", {"name": name, "rows": 3, "seatsPerRow": 7})
    s = expect(r, 201, "create screen")
    for k, v in (("name", name), ("rows", 3), ("seatsPerRow", 7), ("totalSeats", 21)):
        eq(s.get(k), v, "screen body %s" % k)
    check(type(s.get("screenId")) is int and s["screenId"] > 0, "screenId: %s" % short(s))
    mname = unique("Movie")
    mv = expect(c.admin("/api/admin/movies", {"name": mname, "durationMinutes": 95, "lastShowDate": "2098-06-30"}),
                201, "create movie")
    for k, v in (("name", mname), ("durationMinutes", 95), ("lastShowDate", "2098-06-30")):
        eq(mv.get(k), v, "movie body %s" % k)
    check(type(mv.get("movieId")) is int and mv["movieId"] > 0, "movieId: %s" % short(mv))
    when = default_show_time()
    sh = expect(c.admin("/api/admin/shows", {"movieId": mv["movieId"], "screenId": s["screenId"],
                                             "showTime": fmt_time(when)}), 201, "create show")
    for k, v in (("movieId", mv["movieId"]), ("screenId", s["screenId"]), ("showTime", fmt_time(when)),
                 ("endTime", fmt_time(when + 95 * 60000)), ("status", "ACTIVE"), ("totalSeats", 21)):
        eq(sh.get(k), v, "show body %s" % k)
    check(type(sh.get("showId")) is int and sh["showId"] > 0, "showId: %s" % short(sh))
    show = {"showId": sh["showId"], "movieName": mname, "screenName": name, "durationMinutes": 95,
            "showTime": when, "rows": 3, "seatsPerRow": 7, "totalSeats": 21}
    m = expect_map(c, show)
    eq(m["availableSeats"], 21, "a new show has every seat available")
    for rows, per_row in ((702, 1), (1, 999), (200, 500)):
        body = create_screen(c, rows, per_row)
        eq(body.get("totalSeats"), rows * per_row, "totalSeats of %dx%d" % (rows, per_row))
    create_screen(c, 1, 1, name="n" * 200)
    create_screen(c, 1, 1, name="x")
    for d in (1, 1440):
        create_movie(c, d)
    create_movie(c, 10, "2096-02-29")
    big = new_show(c, 702, 1, duration=10)
    m = seat_map(c, big, "seat map of a 702-row show")
    av = m["seats"]["available"]
    eq((av[0], av[25], av[26], av[51], av[52], av[-1]), ("A1", "Z1", "AA1", "AZ1", "BA1", "ZZ1"),
       "row labels of a 702-row screen")
    ok_booking(hold(c, unique_user(), big["showId"], ["zz1", "aa1", "z1"]), "hold in rows ZZ, AA, Z",
               seats=["Z1", "AA1", "ZZ1"])


def test_admin_show_time_formats(env):
    c = env.client("main")
    screen = create_screen(c, 2, 2)
    day = time.gmtime(now_ms() / 1000 + 20 * 86400)
    last = "%04d-%02d-%02d" % (day.tm_year, day.tm_mon, day.tm_mday)
    nxt = time.gmtime(now_ms() / 1000 + 21 * 86400)
    next_day = "%04d-%02d-%02d" % (nxt.tm_year, nxt.tm_mon, nxt.tm_mday)
    movie = create_movie(c, 60, last)
    mk = lambda t: c.admin("/api/admin/shows", {"movieId": movie["movieId"], "screenId": screen["screenId"],
                                                "showTime": t})
    sh = expect(mk(last + "T10:00:00Z"), 201, "showTime without milliseconds")
    eq(sh.get("showTime"), last + "T10:00:00.000Z", "normalised showTime")
    sh = expect(mk(next_day + "T00:30:00.000+01:00"), 201, "showTime with an offset, UTC date == lastShowDate")
    eq(sh.get("showTime"), last + "T23:30:00.000Z", "offset showTime in UTC")
    eq(sh.get("endTime"), next_day + "T00:30:00.000Z", "endTime")
    expect_error(mk(next_day + "T01:30:00.000Z"), 400, "INVALID_REQUEST", "showTime after lastShowDate")
    expect_error(mk(last + "T23:59:00.000-01:00"), 400, "INVALID_REQUEST",
                 "showTime whose UTC date is after lastShowDate")


def test_admin_validation(env):
    c = env.client("main")
    screen = create_screen(c, 2, 2)
    movie = create_movie(c, 60, "2099-12-31")
    shows_before = sorted(e["showId"] for e in active(c))

    def bad(path, body, what, status=400, code="INVALID_REQUEST"):
        if isinstance(body, (bytes, str)):
            r = c.request("POST", path, raw=body, headers={"Authorization": "Bearer " + ADMIN_TOKEN,
                                                           "Content-Type": "application/json"})
        else:
            r = c.admin(path, body)
        expect_error(r, status, code, "%s %s" % (what, short(body, 80)))

    ok_s = {"name": "S", "rows": 2, "seatsPerRow": 3}
    for field, values in (("name", [MISSING, None, "", "n" * 201, 123, ["S"]]),
                          ("rows", [MISSING, None, 0, 703, -1, "5", 5.0, True, 2 ** 63, 99999999999999999999]),
                          ("seatsPerRow", [MISSING, None, 0, 1000, -3, "10", 10.5, False])):
        for v in values:
            body = dict(ok_s)
            if v is MISSING:
                del body[field]
            else:
                body[field] = v
            bad("/api/admin/screens", body, "screen %s=%r" % (field, v if v is not MISSING else "missing"))
    bad("/api/admin/screens", {"name": "S", "rows": 101, "seatsPerRow": 991}, "screen over 100000 seats")
    bad("/api/admin/screens", {"name": "S", "rows": 400, "seatsPerRow": 251}, "screen over 100000 seats")
    ok_m = {"name": "M", "durationMinutes": 90, "lastShowDate": "2099-01-01"}
    for field, values in (("name", [MISSING, None, "", "n" * 201, 7]),
                          ("durationMinutes", [MISSING, None, 0, 1441, -5, "90", 90.5, 90.0, True]),
                          ("lastShowDate", [MISSING, None, "", "2025-02-30", "2025-13-01", "2025-00-10",
                                            "2025-01-00", "2025-1-01", "20250101", "2025-01-01T00:00:00Z",
                                            "tomorrow", 20250101, "2023-02-29", "2099-12-32", " 2099-01-01"])):
        for v in values:
            body = dict(ok_m)
            if v is MISSING:
                del body[field]
            else:
                body[field] = v
            bad("/api/admin/movies", body, "movie %s=%r" % (field, v if v is not MISSING else "missing"))
    future = fmt_time(default_show_time())
    ok_sh = {"movieId": movie["movieId"], "screenId": screen["screenId"], "showTime": future}
    for field, values in (("movieId", [MISSING, None, 0, -1, "1", 1.5, True, 99999999999999999999]),
                          ("screenId", [MISSING, None, 0, -7, "2", 2.0, 99999999999999999999]),
                          ("showTime", [MISSING, None, "", "tomorrow", "2030-01-01", "2030-01-01T25:00:00Z",
                                        "2030-02-30T10:00:00Z", "2030-01-01 10:00:00", 1900000000000,
                                        "2020-01-01T10:00:00.000Z", fmt_time(now_ms() - 60000)])):
        for v in values:
            body = dict(ok_sh)
            if v is MISSING:
                del body[field]
            else:
                body[field] = v
            bad("/api/admin/shows", body, "show %s=%r" % (field, v if v is not MISSING else "missing"))
    bad("/api/admin/shows", dict(ok_sh, movieId=UNKNOWN_ID), "unknown movie", 404, "MOVIE_NOT_FOUND")
    bad("/api/admin/shows", dict(ok_sh, screenId=UNKNOWN_ID), "unknown screen", 404, "SCREEN_NOT_FOUND")
    for path in ("/api/admin/screens", "/api/admin/movies", "/api/admin/shows"):
        for raw in ("", "{", "[]", "null", "42", '"x"', '{"name":"S",}', '{"rows":1e400}'):
            bad(path, raw, "malformed %s" % path)
    for sid in ("abc", "0", "-1", "99999999999999999999", "1.5"):
        bad("/api/admin/shows/%s/cancel" % sid, None, "cancel show %s" % sid)
    bad("/api/admin/shows/%d/cancel" % UNKNOWN_ID, None, "cancel unknown show", 404, "SHOW_NOT_FOUND")
    eq(sorted(e["showId"] for e in active(c)), shows_before, "active shows after refused admin requests")


def test_admin_screen_busy(env):
    c = env.client("main")
    screen = create_screen(c, 2, 2)
    other_screen = create_screen(c, 2, 2)
    movie = create_movie(c, 120)
    sid, mid = screen["screenId"], movie["movieId"]
    t = default_show_time() + 86400 * 1000
    minute = 60000
    a = create_show(c, mid, sid, t)

    def at(offset_min, screen_id=sid):
        return c.admin("/api/admin/shows", {"movieId": mid, "screenId": screen_id,
                                            "showTime": fmt_time(t + offset_min * minute)})

    before = sorted(e["showId"] for e in active(c))
    for off in (0, 119, -119, 30, -1):
        expect_error(at(off), 409, "SCREEN_BUSY", "show %+d min from another on the same screen" % off)
    eq(sorted(e["showId"] for e in active(c)), before, "active shows after SCREEN_BUSY")
    expect(at(120), 201, "show right after the first ends")
    expect(at(-120), 201, "show ending right when the first starts")
    expect(at(0, other_screen["screenId"]), 201, "same time, another screen")
    expect(c.admin("/api/admin/shows/%d/cancel" % a["showId"], None), 200, "cancel the first show")
    expect(at(0), 201, "a cancelled show does not keep its screen busy")


def test_admin_auth(env):
    c = env.client("main")
    show = new_show(c, 2, 2)
    movie = create_movie(c, 30)
    before = sorted(e["showId"] for e in active(c))
    requests = [
        ("/api/admin/screens", {"name": unique("s"), "rows": 2, "seatsPerRow": 2}),
        ("/api/admin/movies", {"name": unique("m"), "durationMinutes": 30, "lastShowDate": "2099-01-01"}),
        ("/api/admin/shows", {"movieId": movie["movieId"], "screenId": show["screenId"],
                              "showTime": fmt_time(show["showTime"] + 86400000)}),
        ("/api/admin/shows/%d/cancel" % show["showId"], None),
        ("/api/admin/screens", {}),
    ]
    for path, body in requests:
        for auth in (None, "Bearer wrong-token", "Bearer " + ADMIN_TOKEN + "x", "Bearer " + ADMIN_TOKEN[:-1],
                     "Basic " + ADMIN_TOKEN, ADMIN_TOKEN, "Bearer", "Bearer "):
            r = c.request("POST", path, body=body if body is not None else None,
                          headers={"Authorization": auth} if auth is not None else None)
            expect_error(r, 401, "UNAUTHORIZED", "POST %s with Authorization %r" % (path, auth))
    eq(sorted(e["showId"] for e in active(c)), before, "active shows after 401s")
    eq(seat_map(c, show)["status"], "ACTIVE", "show status after a refused cancel")


def test_admin_without_token(env):
    c = env.client("notoken")
    before = sorted(e["showId"] for e in active(c))
    for path, body in (("/api/admin/screens", {"name": "s", "rows": 2, "seatsPerRow": 2}),
                       ("/api/admin/movies", {"name": "m", "durationMinutes": 30, "lastShowDate": "2099-01-01"}),
                       ("/api/admin/shows", {"movieId": 1, "screenId": 1, "showTime": fmt_time(default_show_time())}),
                       ("/api/admin/shows/1/cancel", None)):
        for auth in (None, "Bearer " + ADMIN_TOKEN, "Bearer "):
            r = c.request("POST", path, body=body, headers={"Authorization": auth} if auth else None)
            expect_error(r, 404, "NOT_FOUND", "POST %s without a configured token (auth %r)" % (path, auth))
    eq(sorted(e["showId"] for e in active(c)), before, "active shows after refused admin requests")


# --------------------------------------------------------------------------
# expiry and the hold lifetime cap

def test_expiry(env):
    c = env.client("ttl1")  # --hold-ttl 1
    show = new_show(c, 2, 3)
    sid = show["showId"]
    x, y = unique_user("x"), unique_user("y")
    b = ok_booking(hold(c, x, sid, ["A1", "A2"]), "hold", status="STAGED")
    created, exp = parse_time(b["createdAt"]), parse_time(b["expiresAt"])
    check(abs(exp - created - 1000) <= 200, "expiresAt %s is not createdAt %s + 1 s" % (b["expiresAt"], b["createdAt"]))
    expect_map(c, show, held=["A1", "A2"])
    time.sleep(max(0.0, (exp + 300 - now_ms()) / 1000.0))
    m = expect_map(c, show, what="seat map after expiry")
    eq(m["availableSeats"], 6, "available seats after expiry")
    entry = [e for e in active(c) if e["showId"] == sid]
    check(len(entry) == 1, "show missing from active shows")
    eq(entry[0]["availableSeats"], 6, "active shows availableSeats after expiry")
    d = ok_booking(details(c, x, b["bookingReference"]), "details after expiry", status="EXPIRED")
    eq(d["bookingReference"], b["bookingReference"], "reference")
    lst = expect(bookings_of(c, x), 200, "bookings")
    eq([(e["bookingReference"], e["status"]) for e in lst], [(b["bookingReference"], "EXPIRED")], "bookings of x")
    before = snapshot(c, show, [x, y])
    expect_error(confirm(c, x, sid, ["A1", "A2"]), 409, "SEATS_NOT_HELD", "confirm an expired hold",
                 seats=["A1", "A2"])
    expect_error(cancel(c, x, b["bookingReference"]), 409, "BOOKING_NOT_CANCELLABLE", "cancel an expired cart")
    unchanged(c, before, show, [x, y], "refused operations on an expired cart")
    ok_booking(hold(c, y, sid, ["A1"]), "another user holds an expired seat", user=y, seats=["A1"])
    expect_map(c, show, held=["A1"])
    yb = ok_booking(confirm(c, y, sid, ["A1"]), "confirm quickly", status="CONFIRMED")
    expect_map(c, show, booked=["A1"])
    eq(yb["seats"], ["A1"], "y's seats")


def test_hold_lifetime_cap(env):
    c = env.client("lifetime")  # --hold-ttl 2 --hold-max-lifetime 3
    show = new_show(c, 2, 3)
    sid = show["showId"]
    x = unique_user()
    b = ok_booking(hold(c, x, sid, ["A1"]), "hold", status="STAGED")
    created = parse_time(b["createdAt"])
    exp1 = parse_time(b["expiresAt"])
    check(abs(exp1 - (created + 2000)) <= 50, "first expiresAt %s != createdAt %s + 2 s"
          % (b["expiresAt"], b["createdAt"]))
    time.sleep(max(0.0, (created + 400 - now_ms()) / 1000.0))
    r = ok_booking(hold(c, x, sid, ["a1"]), "pure retry")
    eq(r["expiresAt"], b["expiresAt"], "a pure retry leaves expiresAt alone")
    time.sleep(max(0.0, (created + 700 - now_ms()) / 1000.0))
    t_before = now_ms()
    b2 = ok_booking(hold(c, x, sid, ["A3"]), "hold adding a seat", seats=["A1", "A3"])
    t_after = now_ms()
    exp2 = parse_time(b2["expiresAt"])
    lo, hi = min(t_before + 2000, created + 3000), min(t_after + 2000, created + 3000)
    check(lo - 20 <= exp2 <= hi + 20, "expiresAt after adding a seat: %s, expected within [%s, %s]"
          % (b2["expiresAt"], fmt_time(lo), fmt_time(hi)))
    check(exp2 > exp1, "adding a seat did not refresh the expiry")
    time.sleep(max(0.0, (created + 1500 - now_ms()) / 1000.0))
    b3 = ok_booking(hold(c, x, sid, ["B2"]), "hold adding a seat 1.5 s later", seats=["A1", "A3", "B2"])
    eq(parse_time(b3["expiresAt"]), created + 3000, "expiresAt capped at createdAt + lifetime (%s + 3 s)"
       % b["createdAt"])
    eq(b3["createdAt"], b["createdAt"], "createdAt")
    b4 = ok_booking(hold(c, x, sid, ["B2", "A1", "A3"]), "retry at the cap")
    eq(b4["expiresAt"], b3["expiresAt"], "a pure retry keeps expiresAt")
    time.sleep(max(0.0, (created + 3300 - now_ms()) / 1000.0))
    ok_booking(details(c, x, b["bookingReference"]), "details after the cap", status="EXPIRED")
    expect_map(c, show, what="seat map after the cap")
    expect_error(confirm(c, x, sid, ["A1"]), 409, "SEATS_NOT_HELD", "confirm after the cap", seats=["A1"])


# --------------------------------------------------------------------------
# bad input of every kind: the JSON error and an unchanged database

BAD_USERNAMES = [None, 123, True, ["u"], {}, "", "x" * 65, "a b", " a", "a\tb", "ünïcode", "名前", "a/b", "a+b",
                 "a%b", "a\u0000b", "a\nb", "a#b"]


def bad_ids(show_id):
    return [None, str(show_id), float(show_id), 1.5, True, False, 0, -1, -show_id, 9223372036854775808, 2 ** 64,
            -9223372036854775809, [show_id], {}, 99999999999999999999]


RAW_MALFORMED = ["", " ", "{", "}", "{\"username\":", "{\"username\": \"u\",}", "[]", "null", "1", "\"x\"", "true",
                 "{'username': 'u'}", "{\"username\":\"u\"} x", "{}", "[" * 40000, "\x00", "{\"a\":1}{}"]


def raw_with(fields):
    """A JSON object written by hand, so it can hold numbers json.dumps cannot make."""
    return "{" + ",".join('"%s":%s' % kv for kv in fields) + "}"


class Fixture:
    def __init__(self, c):
        self.c = c
        self.show = new_show(c, 5, 10)
        self.sid = self.show["showId"]
        self.user = unique_user("owner")
        ok_booking(hold(c, self.user, self.sid, ["A1"]), "fixture hold")
        self.booked = ok_booking(confirm(c, self.user, self.sid, ["A1"]), "fixture confirm")
        self.cart = ok_booking(hold(c, self.user, self.sid, ["B1", "B2"]), "fixture cart")
        self.before = snapshot(c, self.show, [self.user])

    def bad(self, resp, status, code, what):
        expect_error(resp, status, code, what)
        unchanged(self.c, self.before, self.show, [self.user], what)

    def post_raw(self, path, raw, ctype="application/json"):
        return self.c.request("POST", path, raw=raw, headers={"Content-Type": ctype} if ctype else None)


def variants(base, field, values):
    for v in values:
        body = dict(base)
        if v is MISSING:
            del body[field]
        else:
            body[field] = v
        yield ("%s=%s" % (field, "missing" if v is MISSING else short(v, 40))), body


def test_bad_input_hold_and_confirm(env):
    c = env.client("main")
    f = Fixture(c)
    label_codes = ("INVALID_REQUEST", "UNKNOWN_SEATS")
    for path in ("/api/bookings/hold", "/api/bookings/confirm"):
        base = {"username": f.user, "showId": f.sid, "seats": ["C1"]} if path.endswith("hold") else \
            {"username": f.user, "showId": f.sid, "seats": ["B1"]}
        cases = list(variants(base, "username", [MISSING] + BAD_USERNAMES))
        cases += list(variants(base, "showId", [MISSING] + bad_ids(f.sid)))
        cases += list(variants(base, "seats", [MISSING, None, "C1", [], [1], [None], [["C1"]], [{}], [True],
                                               ["C1", "C1"], ["C1", "c1"],
                                               ["C%d" % i for i in range(1, 11)] + ["D1"]]))
        for what, body in cases:
            f.bad(c.post(path, body), 400, "INVALID_REQUEST", "%s %s" % (path, what))
        for label in ("", "C 1", " C1", "C1 ", "1C", "C", "11", "C1A", "CCC1", "C-1", "C0", "C01", "C1.0", "Ç1",
                      "C+1", "c\u00001", "AAA1", "C1000"):
            f.bad(c.post(path, dict(base, seats=[label])), 400, label_codes, "%s seat label %r" % (path, label))
        for raw in RAW_MALFORMED:
            f.bad(f.post_raw(path, raw), 400, "INVALID_REQUEST", "%s raw body %s" % (path, short(raw, 40)))
        f.bad(f.post_raw(path, b'{"username":"\xff\xfe","showId":1,"seats":["A1"]}'), 400, "INVALID_REQUEST",
              "%s invalid UTF-8" % path)
        f.bad(f.post_raw(path, b"\xff\xfe{}"), 400, "INVALID_REQUEST", "%s binary body" % path)
        for num in ("1e400", "99999999999999999999", "-1e400", "1e0", "1.0", "%d.0" % f.sid, "%de0" % f.sid,
                    "NaN", "Infinity", "-0", "0x1", "0%d" % f.sid, "\"%d\"" % f.sid):
            raw = raw_with([("username", '"%s"' % f.user), ("showId", num), ("seats", '["%s"]' % base["seats"][0])])
            f.bad(f.post_raw(path, raw), 400, "INVALID_REQUEST", "%s showId %s" % (path, num))


def test_bad_input_release_cancel_best(env):
    c = env.client("main")
    f = Fixture(c)
    base = {"username": f.user, "showId": f.sid, "seats": ["B1"]}
    cases = list(variants(base, "username", [MISSING] + BAD_USERNAMES))
    cases += list(variants(base, "showId", [MISSING] + bad_ids(f.sid)))
    cases += list(variants(base, "seats", ["B1", [1], [None], ["B1", "b1"],
                                           ["C%d" % i for i in range(1, 11)] + ["D1"]]))
    for what, body in cases:
        f.bad(c.post("/api/bookings/release", body), 400, "INVALID_REQUEST", "release %s" % what)
    base = {"username": f.user, "bookingReference": f.booked["bookingReference"]}
    cases = list(variants(base, "username", [MISSING] + BAD_USERNAMES))
    cases += list(variants(base, "bookingReference", [MISSING, None, 123, [], {}, True]))
    for what, body in cases:
        f.bad(c.post("/api/bookings/cancel", body), 400, "INVALID_REQUEST", "cancel %s" % what)
    base = {"username": f.user, "showId": f.sid, "count": 1}
    cases = list(variants(base, "username", [MISSING] + BAD_USERNAMES))
    cases += list(variants(base, "showId", [MISSING] + bad_ids(f.sid)))
    for what, body in cases:
        f.bad(c.post("/api/bookings/hold-best", body), 400, "INVALID_REQUEST", "hold-best %s" % what)
    for path in ("/api/bookings/release", "/api/bookings/cancel", "/api/bookings/hold-best"):
        for raw in RAW_MALFORMED:
            f.bad(f.post_raw(path, raw), 400, "INVALID_REQUEST", "%s raw body %s" % (path, short(raw, 40)))
    raw = raw_with([("username", '"%s"' % f.user), ("showId", str(f.sid)), ("count", "1e400")])
    f.bad(f.post_raw("/api/bookings/hold-best", raw), 400, "INVALID_REQUEST", "hold-best count 1e400")


def test_bad_input_path_ids_and_queries(env):
    c = env.client("main")
    f = Fixture(c)
    for sid in ("abc", "0", "-1", "99999999999999999999", "9223372036854775808", "1.5", "%20"):
        f.bad(c.get("/api/shows/" + sid), 400, "INVALID_REQUEST", "GET /api/shows/" + sid)
    for q in ("", "username=", "username=%s" % ("x" * 65), "username=a%20b", "username=%C3%BC", "user=" + f.user):
        f.bad(c.get("/api/bookings/user?" + q), 400, "INVALID_REQUEST", "user?" + q)
    ref = f.booked["bookingReference"]
    for q in ("username=" + f.user, "booking_reference=" + ref, "username=a%20b&booking_reference=" + ref):
        f.bad(c.get("/api/bookings/details?" + q), 400, "INVALID_REQUEST", "details?" + q)


def test_encoded_nul(env):
    """%00 in a path id or a query value must not be cut off at the NUL:
    "1\\0" is not a positive integer and "x\\0y" is not a valid username."""
    c = env.client("main")
    f = Fixture(c)
    f.bad(c.get("/api/shows/%d%%00" % f.sid), 400, "INVALID_REQUEST", "GET /api/shows/<id>%00")
    f.bad(c.get("/api/bookings/user?username=%s%%00x" % f.user), 400, "INVALID_REQUEST",
          "GET /api/bookings/user?username=<user>%00x")
    f.bad(c.get("/api/bookings/details?username=%s%%00x&booking_reference=%s"
                % (f.user, f.booked["bookingReference"])), 400, "INVALID_REQUEST", "details?username=<user>%00x")


def test_bad_input_http_level(env):
    c = env.client("main")
    f = Fixture(c)
    valid = {"username": f.user, "showId": f.sid, "seats": ["C1"]}
    raw = json_bytes(valid)
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                  "text/json", "application/xml", "json", "*/*"):
        f.bad(f.post_raw("/api/bookings/hold", raw, ctype), 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type %s" % ctype)
    for method, path in (("GET", "/api/nope"), ("GET", "/api"), ("POST", "/api/bookings"),
                         ("GET", "/api/shows/%d/seats" % f.sid), ("POST", "/api/bookings/holdx"),
                         ("GET", "/api/bookings/details/x"), ("GET", "/api/shows/active/x"),
                         ("GET", "/nope")):
        body = valid if method == "POST" else None
        f.bad(c.request(method, path, body=body), 404, "NOT_FOUND", "%s %s" % (method, path))
    for method, path, allow in (("POST", "/api/shows/active", "GET"), ("DELETE", "/api/shows/active", "GET"),
                                ("GET", "/api/bookings/hold", "POST"), ("PUT", "/api/bookings/confirm", "POST"),
                                ("DELETE", "/api/shows/%d" % f.sid, "GET"), ("PATCH", "/api/bookings/cancel", "POST"),
                                ("GET", "/api/bookings/release", "POST"), ("GET", "/api/bookings/hold-best", "POST"),
                                ("POST", "/api/bookings/user?username=" + f.user, "GET"),
                                ("PUT", "/api/bookings/details?username=%s&booking_reference=%s"
                                 % (f.user, f.booked["bookingReference"]), "GET")):
        body = valid if method in ("POST", "PUT", "PATCH") else None
        r = c.request(method, path, body=body)
        f.bad(r, 405, "METHOD_NOT_ALLOWED", "%s %s" % (method, path))
        allowed = [m.strip().upper() for m in r[1].get("allow", "").split(",")]
        check(allow in allowed, "%s %s: Allow header %r lacks %s" % (method, path, r[1].get("allow"), allow))


def post_large(port, path, body, chunked=False):
    """POSTs a big body the way a careful client does: stops sending as soon as
    the server answers early, then reads that answer. Returns (status,
    headers, json, raw) like Client.request. chunked=True sends it with
    Transfer-Encoding: chunked (no Content-Length to refuse it by)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        framing = "Transfer-Encoding: chunked" if chunked else "Content-Length: %d" % len(body)
        head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                "%s\r\n\r\n" % (path, port, framing)).encode()
        sock.sendall(head)
        if chunked:
            step = 8192
            body = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + step]), body[i:i + step])
                            for i in range(0, len(body), step)) + b"0\r\n\r\n"
        sent = 0
        while sent < len(body):
            if select.select([sock], [], [], 0)[0]:
                break  # an early answer: read it
            try:
                sent += sock.send(body[sent:sent + 16384])
            except (BrokenPipeError, ConnectionResetError):
                break
        resp = http.client.HTTPResponse(sock, method="POST")
        try:
            resp.begin()
            raw = resp.read()
        except (ConnectionResetError, http.client.RemoteDisconnected) as e:
            raise TestFailure("POST %s with a %d-byte body: no HTTP answer (%s: %s)"
                              % (path, len(body), type(e).__name__, e))
        headers = {k.lower(): v for k, v in resp.getheaders()}
        try:
            parsed = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            parsed = None
        ctype = headers.get("content-type", "")
        check(ctype.split(";")[0].strip().lower() == "application/json",
              "POST %s -> %d: Content-Type %r" % (path, resp.status, ctype))
        return (resp.status, headers, parsed, raw)
    finally:
        sock.close()


def test_payload_too_large(env):
    c = env.client("main")
    f = Fixture(c)
    port = env.server("main").port
    prefix = b'{"username":"%s","showId":%d,"seats":["C1"],"pad":"' % (f.user.encode(), f.sid)
    for size in (65537, 70000, 1024 * 1024):
        body = prefix + b"x" * (size - len(prefix) - 2) + b'"}'
        f.bad(post_large(port, "/api/bookings/hold", body), 413, "PAYLOAD_TOO_LARGE", "a %d-byte body" % size)
        f.bad(post_large(port, "/api/bookings/hold", body, chunked=True), 413, "PAYLOAD_TOO_LARGE",
              "a %d-byte chunked body" % size)
    small = b'{"username":"%s","showId":%d,"seats":["C1"]}' % (unique_user().encode(), f.sid)
    b = ok_booking(post_large(port, "/api/bookings/hold", small, chunked=True), "a small chunked body",
                   seats=["C1"])
    ok_booking(release(c, b["username"], f.sid), "release", status="CANCELLED")
    expect(c.get("/healthz"), 200, "server still answers")


def test_media_type_prefix(env):
    c = env.client("main")
    f = Fixture(c)
    raw = json_bytes({"username": f.user, "showId": f.sid, "seats": ["C1"]})
    for ctype in ("application/jsonx", "application/json-patch+json", "application/json5"):
        f.bad(f.post_raw("/api/bookings/hold", raw, ctype), 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type %s" % ctype)


def json_bytes(obj):
    return json.dumps(obj).encode()


def test_content_types_accepted(env):
    c = env.client("main")
    show = new_show(c)
    sid = show["showId"]
    for i, ctype in enumerate((None, "application/json", "application/json; charset=utf-8",
                               "application/json;charset=UTF-8", "APPLICATION/JSON")):
        user = unique_user()
        r = c.request("POST", "/api/bookings/hold", raw=json_bytes({"username": user, "showId": sid,
                                                                   "seats": ["A%d" % (i + 1)]}),
                      headers={"Content-Type": ctype} if ctype else None)
        ok_booking(r, "hold with Content-Type %r" % ctype, seats=["A%d" % (i + 1)])
    user = unique_user()
    body = b'{"username":"%s","showId":%d,"seats":["B1"]}' % (user.encode(), sid)
    body = body[:-1] + b" " * (60000 - len(body)) + b"}"
    ok_booking(c.request("POST", "/api/bookings/hold", raw=body, headers={"Content-Type": "application/json"}),
               "a 60000-byte body (under 64 KiB) is processed", seats=["B1"])
    expect_map(c, show, held=["A1", "A2", "A3", "A4", "A5", "B1"])


def test_storage_unavailable(env):
    """Another process holds SQLite's write lock: writes answer 503 UNAVAILABLE
    (after the server's busy timeout) and change nothing; once the lock is
    gone the same request succeeds."""
    srv = env.server("storage")
    c = srv.client()
    show = new_show(c, 2, 4)
    sid = show["showId"]
    x = unique_user()
    ok_booking(hold(c, x, sid, ["A1", "A2"]), "hold")
    before = snapshot(c, show, [x])
    db = sqlite3.connect(srv.db_path, timeout=30, isolation_level=None)
    try:
        db.execute("BEGIN EXCLUSIVE")
        expect_error(confirm(c, x, sid, ["A1"]), 503, "UNAVAILABLE", "confirm while the database is locked")
        r = hold(c, x, sid, ["B1"])
        expect_error(r, 503, "UNAVAILABLE", "hold while the database is locked")
        check(r[1].get("retry-after", "").isdigit(), "a 503 says when to retry (Retry-After): %s" % r[1])
        db.execute("ROLLBACK")
    finally:
        db.close()
    unchanged(c, before, show, [x], "writes refused with 503")
    ok_booking(confirm(c, x, sid, ["A1"]), "confirm once the lock is gone", status="CONFIRMED", seats=["A1"])
    expect_map(c, show, booked=["A1"])


TESTS = [
    ("healthz and readyz", test_healthz_readyz),
    ("demo data: active shows non-empty on a fresh server", test_demo_data_active_nonempty),
    ("keep-alive: many requests on one connection", test_keep_alive),
    ("active shows: shape, order, counts", test_active_shows_shape_and_order),
    ("active shows: cancelled show absent; admin cancel", test_active_shows_excludes_cancelled),
    ("seat map: shape, counts, natural order, labels", test_seat_map_shape_and_natural_order),
    ("seat map: bad and unknown ids", test_seat_map_bad_ids),
    ("hold: basic, cart, expiry, details", test_hold_basic),
    ("hold: retry is harmless", test_hold_retry_is_harmless),
    ("hold: all or nothing", test_hold_all_or_nothing),
    ("hold: UNKNOWN_SEATS", test_hold_unknown_seats),
    ("hold: max seats per request and per user (defaults)", test_hold_max_seats_per_request_and_user),
    ("hold: duplicates", test_hold_duplicates),
    ("hold: --max-seats-per-user / --max-seats-per-request", test_limits_server),
    ("confirm: reference, retry never books twice", test_confirm_and_retry),
    ("confirm: subset releases the rest", test_confirm_subset_releases_rest),
    ("confirm: SEATS_NOT_HELD", test_seats_not_held),
    ("SHOW_NOT_BOOKABLE: cancelled show", test_show_not_bookable_cancelled),
    ("SHOW_NOT_BOOKABLE: started show", test_show_started),
    ("details and user bookings", test_details_and_user_bookings),
    ("details: bookingReference= alias (MovieHub spelling)", test_details_moviehub_alias),
    ("release", test_release),
    ("cancel", test_cancel),
    ("hold-best: centre", test_hold_best_centre),
    ("hold-best: no single-seat gaps", test_hold_best_avoids_single_gaps),
    ("hold-best: SEATS_UNAVAILABLE and allowSplit", test_hold_best_unavailable_and_split),
    ("hold-best: validation", test_hold_best_validation),
    ("admin: 201 bodies and limits", test_admin_create_bodies),
    ("admin: showTime formats and lastShowDate", test_admin_show_time_formats),
    ("admin: 400/404 validation", test_admin_validation),
    ("admin: SCREEN_BUSY", test_admin_screen_busy),
    ("admin: 401 wrong or missing token", test_admin_auth),
    ("admin: 404 without a configured token", test_admin_without_token),
    ("expiry (--hold-ttl 1)", test_expiry),
    ("hold lifetime cap (--hold-ttl 2 --hold-max-lifetime 3)", test_hold_lifetime_cap),
    ("bad input: hold and confirm", test_bad_input_hold_and_confirm),
    ("bad input: release, cancel, hold-best", test_bad_input_release_cancel_best),
    ("bad input: path ids and query parameters", test_bad_input_path_ids_and_queries),
    ("bad input: 415, 404, 405", test_bad_input_http_level),
    ("bad input: %00 in a path id or query value", test_encoded_nul),
    ("413: bodies over 64 KiB", test_payload_too_large),
    ("415: a media type that only starts with application/json", test_media_type_prefix),
    ("content types accepted; body under 64 KiB", test_content_types_accepted),
]
# SQLite's write lock is how this suite makes storage fail; on PostgreSQL
# the outage test (tests/multinode) stops the database itself instead.
if not ON_POSTGRES:
    TESTS.append(("storage locked: 503 UNAVAILABLE, nothing changed", test_storage_unavailable))


if __name__ == "__main__":
    run(TESTS, SPECS, title="boxoffice HTTP API tests")
