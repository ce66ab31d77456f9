#!/usr/bin/python3
"""test_idempotency.py - black-box tests of the Idempotency-Key header
(API.md section 11) on every POST.

Run from the repository root:  /usr/bin/python3 tests/http/test_idempotency.py
(BOXOFFICE_BIN selects the binary, BOXOFFICE_TEST_DB a PostgreSQL URL).
"""

import os
import subprocess
import sqlite3
import sys
import threading
import urllib.request
import time
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (ON_POSTGRES, TEST_DB, check, eq, expect, expect_error, new_show, run,  # noqa: E402
                     short, unique_user)

SPECS = {
    "main": {"args": []},
    "shortkeys": {"args": ["--idempotency-ttl", "1"]},
}

HOLD = "/api/bookings/hold"


def key():
    return "k-" + uuid.uuid4().hex


def post(c, path, body, k):
    return c.post(path, body, headers={"Idempotency-Key": k})


def booking_count(c, user):
    return len(expect(c.get("/api/bookings/user?username=" + user), 200, "user bookings"))


def seat_map(c, show_id):
    return expect(c.get("/api/shows/%d" % show_id), 200, "seat map")["seats"]


def replayed(resp):
    return resp[1].get("idempotent-replayed") == "true"


def test_replay_is_byte_for_byte(env):
    c = env.server("main").client()
    show = new_show(c, 3, 6)
    sid, user, k = show["showId"], unique_user(), key()
    body = {"username": user, "showId": sid, "seats": ["A1", "A2"]}
    first = post(c, HOLD, body, k)
    expect(first, 200, "first hold")
    check(not replayed(first), "a first answer must not say Idempotent-Replayed")
    time.sleep(0.05)  # a replay must not rebuild the answer (times would differ)
    again = post(c, HOLD, body, k)
    expect(again, 200, "replayed hold")
    check(replayed(again), "the replay must carry Idempotent-Replayed: true, got %r" % again[1])
    eq(again[3], first[3], "replayed body")
    eq(booking_count(c, user), 1, "bookings after a replayed hold")

    # confirm: the replay returns the same booking and books nothing twice
    ck = key()
    conf = post(c, "/api/bookings/confirm", body, ck)
    expect(conf, 200, "confirm")
    conf2 = post(c, "/api/bookings/confirm", body, ck)
    check(replayed(conf2) and conf2[3] == conf[3], "confirm replay differs: %s" % short(conf2[3]))
    eq(seat_map(c, sid)["booked"], ["A1", "A2"], "booked seats")
    eq(booking_count(c, user), 1, "bookings after a replayed confirm")


def test_business_refusals_are_replayed(env):
    c = env.server("main").client()
    show = new_show(c, 2, 4)
    sid = show["showId"]
    a, b = unique_user(), unique_user()
    expect(c.post(HOLD, {"username": a, "showId": sid, "seats": ["A1"]}), 200, "a holds A1")
    k = key()
    body = {"username": b, "showId": sid, "seats": ["A1"]}
    first = post(c, HOLD, body, k)
    expect_error(first, 409, "SEATS_UNAVAILABLE", "b's hold of A1")
    # A1 becomes free; the same key still answers the stored refusal.
    expect(c.post("/api/bookings/release", {"username": a, "showId": sid}), 200, "a releases")
    again = post(c, HOLD, body, k)
    check(again[0] == 409 and replayed(again) and again[3] == first[3],
          "a stored 409 must be replayed byte for byte, got %d %s" % (again[0], short(again[3])))
    eq(seat_map(c, sid)["held"], [], "held seats after the replayed refusal")
    # A new key runs the request again.
    expect(post(c, HOLD, body, key()), 200, "a new key holds A1")


def test_same_key_other_body_is_422(env):
    c = env.server("main").client()
    show = new_show(c, 2, 4)
    sid, user, k = show["showId"], unique_user(), key()
    expect(post(c, HOLD, {"username": user, "showId": sid, "seats": ["A1"]}, k), 200, "hold A1")
    before = seat_map(c, sid)
    expect_error(post(c, HOLD, {"username": user, "showId": sid, "seats": ["A2"]}, k), 422,
                 "IDEMPOTENCY_KEY_REUSED", "same key, other body")
    expect_error(post(c, "/api/bookings/confirm", {"username": user, "showId": sid, "seats": ["A1"]}, k),
                 422, "IDEMPOTENCY_KEY_REUSED", "same key, other path")
    eq(seat_map(c, sid), before, "seat map after refused reuses")


def test_validation_failures_not_stored(env):
    c = env.server("main").client()
    show = new_show(c, 2, 4)
    sid, user, k = show["showId"], unique_user(), key()
    expect_error(post(c, HOLD, {"username": user, "showId": sid, "seats": []}, k), 400,
                 "INVALID_REQUEST", "empty seats")
    # Nothing was stored for the 400: the key is free for a valid request.
    r = post(c, HOLD, {"username": user, "showId": sid, "seats": ["B2"]}, k)
    expect(r, 200, "valid request after a 400 with the same key")
    check(not replayed(r), "the valid request must run, not replay")
    # UNKNOWN_SEATS is a 400 too: not stored.
    k2 = key()
    expect_error(post(c, HOLD, {"username": user, "showId": sid, "seats": ["Z9"]}, k2), 400,
                 "UNKNOWN_SEATS", "unknown seat")
    expect(post(c, HOLD, {"username": user, "showId": sid, "seats": ["B3"]}, k2), 200,
           "same key after UNKNOWN_SEATS")


def test_bad_keys(env):
    c = env.server("main").client()
    show = new_show(c, 2, 4)
    sid, user = show["showId"], unique_user()
    body = {"username": user, "showId": sid, "seats": ["A1"]}
    for bad, what in (("x" * 256, "256 characters"), ("caf\u00e9", "not ASCII"), ("a\tb", "a tab")):
        raw = bad.encode("utf-8")
        resp = c.request("POST", HOLD, body=body, headers={"Idempotency-Key": raw.decode("latin-1")})
        expect_error(resp, 400, "INVALID_REQUEST", "Idempotency-Key " + what)
    eq(seat_map(c, sid)["held"], [], "nothing held after bad keys")
    long_key = (key() + "x" * 255)[:255]  # unique: the database may outlive a run
    expect(post(c, HOLD, body, long_key), 200, "a 255-character key")


def test_every_post_takes_a_key(env):
    c = env.server("main").client()
    show = new_show(c, 3, 6)
    sid, user = show["showId"], unique_user()
    for path, body in (
            ("/api/bookings/hold-best", {"username": user, "showId": sid, "count": 2}),
            ("/api/bookings/release", {"username": user, "showId": sid}),
            ("/api/bookings/hold", {"username": user, "showId": sid, "seats": ["C1"]}),
            ("/api/bookings/confirm", {"username": user, "showId": sid, "seats": ["C1"]})):
        k = key()
        first = post(c, path, body, k)
        expect(first, 200, path)
        again = post(c, path, body, k)
        check(replayed(again) and again[3] == first[3], "%s: no byte-for-byte replay" % path)
    ref = expect(c.get("/api/bookings/user?username=" + user), 200, "bookings")[0]["bookingReference"]
    k = key()
    first = post(c, "/api/bookings/cancel", {"username": user, "bookingReference": ref}, k)
    expect(first, 200, "cancel")
    again = post(c, "/api/bookings/cancel", {"username": user, "bookingReference": ref}, k)
    check(replayed(again) and again[3] == first[3], "cancel: no byte-for-byte replay")
    # admin writes too
    k = key()
    screen = {"name": "idem-" + k, "rows": 2, "seatsPerRow": 2}
    first = c.request("POST", "/api/admin/screens", body=screen,
                      headers={"Authorization": "Bearer " + env_token(), "Idempotency-Key": k})
    expect(first, 201, "create screen")
    again = c.request("POST", "/api/admin/screens", body=screen,
                      headers={"Authorization": "Bearer " + env_token(), "Idempotency-Key": k})
    check(again[0] == 201 and replayed(again) and again[3] == first[3],
          "create screen: no replay (a second screen was made?) %s" % short(again[3]))


def env_token():
    from harness import ADMIN_TOKEN
    return ADMIN_TOKEN


LOCKER = "boxoffice-test-locker-%d" % os.getpid()


def _block_writes(srv, seconds):
    """Holds the database's write lock from another process, so that a
    write request stays running, for at most `seconds`. Returns a function
    that lets go of it (early) and waits until it is gone."""
    if ON_POSTGRES:
        # EXCLUSIVE blocks every write of seats and no read (/metrics).
        proc = subprocess.Popen(["psql", "-X", "-q", TEST_DB, "-c",
                                 "BEGIN; LOCK TABLE seats IN EXCLUSIVE MODE; SELECT pg_sleep(%s); COMMIT;"
                                 % seconds], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=dict(os.environ, PGAPPNAME=LOCKER))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _pg_seats_locked():
            time.sleep(0.05)

        def release_pg():
            subprocess.run(["psql", "-X", "-qtA", TEST_DB, "-c",
                            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name = '%s'" % LOCKER], capture_output=True)
            proc.wait()
        return release_pg
    db = sqlite3.connect(srv.db_path, timeout=30, isolation_level=None, check_same_thread=False)
    db.execute("BEGIN EXCLUSIVE")
    done = threading.Event()

    def release():
        done.wait(seconds)
        db.execute("ROLLBACK")
        db.close()
    t = threading.Thread(target=release)
    t.start()

    def let_go():
        done.set()
        t.join()
    return let_go


def _pg_seats_locked():
    p = subprocess.run(["psql", "-X", "-qtA", TEST_DB, "-c",
                        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                        "WHERE c.relname = 'seats' AND l.mode = 'ExclusiveLock' AND l.granted"],
                       capture_output=True, text=True)
    return p.stdout.strip() not in ("", "0")


def _in_progress(srv):
    """boxoffice_http_requests_in_progress, this scrape included."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % srv.port, timeout=30) as r:
        body = r.read()
    for line in body.decode().splitlines():
        if line.startswith("boxoffice_http_requests_in_progress "):
            return int(line.split()[1])
    raise AssertionError("no boxoffice_http_requests_in_progress in /metrics")


def test_in_use_while_running(env):
    """The second request under a key is sent only once the server reports
    the first one in progress (it waits for the database, whose write lock
    another process holds), and the lock is let go only after the second
    answered: no sleep decides the outcome."""
    srv = env.server("main")
    c1, c2 = srv.client(), srv.client()
    show = new_show(c1, 2, 4)
    sid, user, k = show["showId"], unique_user(), key()
    body = {"username": user, "showId": sid, "seats": ["A3"]}
    let_go = _block_writes(srv, 20)
    first = {}

    def send():
        first["resp"] = post(c1, HOLD, body, k)
    t = threading.Thread(target=send)
    try:
        t.start()
        deadline = time.monotonic() + 10
        while _in_progress(srv) < 2:
            check(time.monotonic() < deadline, "the first request never showed as in progress")
            time.sleep(0.02)
        expect_error(post(c2, HOLD, body, k), 409, "IDEMPOTENCY_KEY_IN_USE", "same key while the first runs")
    finally:
        let_go()
        t.join(30)
    expect(first["resp"], 200, "the first request, once the lock is gone")
    again = post(c2, HOLD, body, k)
    check(replayed(again) and again[3] == first["resp"][3], "after it finished the key replays")


def test_keys_expire(env):
    c = env.server("shortkeys").client()
    show = new_show(c, 2, 4)
    sid, user, k = show["showId"], unique_user(), key()
    expect(post(c, HOLD, {"username": user, "showId": sid, "seats": ["A1"]}, k), 200, "hold")
    time.sleep(1.3)
    # Past --idempotency-ttl the key is forgotten: another body runs.
    r = post(c, HOLD, {"username": user, "showId": sid, "seats": ["A2"]}, k)
    expect(r, 200, "same key after its TTL, other body")
    check(not replayed(r), "an expired key must not replay")
    eq(seat_map(c, sid)["held"], ["A1", "A2"], "held seats")


TESTS = [
    ("replay is byte for byte; confirm never books twice", test_replay_is_byte_for_byte),
    ("business refusals (409) are stored and replayed", test_business_refusals_are_replayed),
    ("same key with another body or path: 422", test_same_key_other_body_is_422),
    ("400 answers are not stored", test_validation_failures_not_stored),
    ("malformed keys: 400, nothing changed", test_bad_keys),
    ("every POST takes a key (hold-best, release, cancel, admin)", test_every_post_takes_a_key),
    ("409 IDEMPOTENCY_KEY_IN_USE while the first request runs", test_in_use_while_running),
    ("keys expire after --idempotency-ttl", test_keys_expire),
]

if __name__ == "__main__":
    run(TESTS, SPECS, title="boxoffice Idempotency-Key tests")
