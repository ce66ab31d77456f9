#!/usr/bin/python3
"""test_verify_fails.py - `boxoffice verify` is seen to fail.

Every suite ends with `boxoffice verify`; this suite shows that it can say no.
A server makes a small, clean database (one show: a live cart, a confirmed
booking, a released cart), `verify` must exit 0 on it and name exactly the
invariants of src/store/verify_checks.h. Then, for each invariant, a copy of
that database is corrupted through SQL in exactly that one way, and `verify`
must exit 1, report that invariant as FAIL and every other one as ok. An
invariant in verify_checks.h without a corruption here fails the suite.

Backends: SQLite (files in a temporary directory), and PostgreSQL when
BOXOFFICE_TEST_DB is a postgres:// URL: databases of this suite's own
(boxoffice_verify_*) beside it on the same cluster, made and dropped here,
so other suites' data is never touched.

Run:  /usr/bin/python3 tests/verify/test_verify_fails.py   (BOXOFFICE_BIN, BOXOFFICE_TEST_DB)
The last line is "N passed, M failed"; the exit status is 1 on a failure.
"""

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "http"))

from harness import (ADMIN_TOKEN, BIN, ON_POSTGRES, TEST_DB, TestFailure, Client, check, eq, expect,  # noqa: E402
                     free_port, new_show, unique_user)

CHECKS_H = os.path.join(HERE, "..", "..", "src", "store", "verify_checks.h")
PG_PREFIX = "boxoffice_verify_%d" % os.getpid()

# The base data: show of 3 rows x 4 seats; alice holds A1 A2 (a live cart),
# bob booked B1 B2 (CONFIRMED), carol held and released C1 (CANCELLED).
# Each corruption: (SQLite SQL, PostgreSQL SQL), formatted with the names
# and references of the base data. NOWMS is SQLite's clock in ms.
NOWMS = "(CAST(strftime('%s','now') AS INTEGER) * 1000)"
USER = "(SELECT id FROM users WHERE username = '{%s}')"
BOOKING = "(SELECT id FROM bookings WHERE booking_reference = '{%s}')"
SEAT = "show_id = {show} AND seat_row = %d AND seat_number = %d"

CORRUPTIONS = {
    "every seat is in at most one live (STAGED or CONFIRMED) booking": (
        # carol gets a second live cart listing bob's booked B1
        "INSERT INTO bookings (show_id, user_id, status, total_seats, booking_reference, created_at, expires_at) "
        "VALUES ({show}, " + USER % "carol" + ", 'STAGED', 1, 'BX-CRRPT222', " + NOWMS + ", " + NOWMS +
        " + 3600000);"
        "INSERT INTO booking_seats (booking_id, show_id, seat_row, seat_number) VALUES ((SELECT id FROM bookings "
        "WHERE booking_reference = 'BX-CRRPT222'), {show}, 1, 1);",
        "INSERT INTO bookings (show_id, user_id, status, total_seats, booking_reference, expires_at) "
        "VALUES ({show}, " + USER % "carol" + ", 'STAGED', 1, 'BX-CRRPT222', now() + interval '1 hour');"
        "INSERT INTO booking_seats (booking_id, show_id, seat_row, seat_number) VALUES ((SELECT id FROM bookings "
        "WHERE booking_reference = 'BX-CRRPT222'), {show}, 1, 1);"),
    "BOOKED seats belong to a CONFIRMED booking of the same show": (
        # bob's booking cancelled, its seats left BOOKED
        "UPDATE bookings SET status = 'CANCELLED', cancelled_at = " + NOWMS +
        " WHERE booking_reference = '{bob_ref}';",
        "UPDATE bookings SET status = 'CANCELLED', cancelled_at = now() WHERE booking_reference = '{bob_ref}';"),
    "live HELD seats belong to the live STAGED booking of their holder": (
        # alice's held A1 said to be held by bob
        "UPDATE seats SET held_by_user_id = " + USER % "bob" + " WHERE " + SEAT % (0, 1) + ";",
        "UPDATE seats SET held_by_user_id = " + USER % "bob" + " WHERE " + SEAT % (0, 1) + ";"),
    "AVAILABLE seats belong to no booking": (
        # the free C4 pointing at bob's booking (past the CHECK that forbids it)
        "PRAGMA ignore_check_constraints = ON;"
        "UPDATE seats SET booking_id = " + BOOKING % "bob_ref" + " WHERE " + SEAT % (2, 4) + ";",
        "DO $$ DECLARE c text; BEGIN FOR c IN SELECT conname FROM pg_constraint WHERE conrelid = 'seats'::regclass "
        "AND contype = 'c' LOOP EXECUTE format('ALTER TABLE seats DROP CONSTRAINT %I', c); END LOOP; END $$;"
        "UPDATE seats SET booking_id = " + BOOKING % "bob_ref" + " WHERE " + SEAT % (2, 4) + ";"),
    "available + held + booked = total seats, per show": (
        # the free C4 gone
        "DELETE FROM seats WHERE " + SEAT % (2, 4) + ";",
        "DELETE FROM seats WHERE " + SEAT % (2, 4) + ";"),
    "CONFIRMED bookings hold exactly their seats, all BOOKED": (
        # bob's booking claims three seats, lists two
        "UPDATE bookings SET total_seats = total_seats + 1 WHERE booking_reference = '{bob_ref}';",
        "UPDATE bookings SET total_seats = total_seats + 1 WHERE booking_reference = '{bob_ref}';"),
    "booking references are unique": (
        # carol's released cart given bob's reference (past the UNIQUE
        # constraint: SQLite's cannot be dropped, so the table is rebuilt)
        "CREATE TABLE bookings_copy AS SELECT * FROM bookings; DROP TABLE bookings; "
        "ALTER TABLE bookings_copy RENAME TO bookings; "
        "UPDATE bookings SET booking_reference = '{bob_ref}' WHERE booking_reference = '{carol_ref}';",
        "ALTER TABLE bookings DROP CONSTRAINT bookings_booking_reference_key; "
        "UPDATE bookings SET booking_reference = '{bob_ref}' WHERE booking_reference = '{carol_ref}';"),
    "at most one STAGED cart per user and show": (
        # alice gets a second, expired, empty cart (past the unique index)
        "DROP INDEX bookings_cart; "
        "INSERT INTO bookings (show_id, user_id, status, total_seats, booking_reference, created_at, expires_at) "
        "VALUES ({show}, " + USER % "alice" + ", 'STAGED', 0, 'BX-CRRPT333', " + NOWMS + " - 7200000, " + NOWMS +
        " - 3600000);",
        "DROP INDEX bookings_cart; "
        "INSERT INTO bookings (show_id, user_id, status, total_seats, booking_reference, created_at, expires_at) "
        "VALUES ({show}, " + USER % "alice" + ", 'STAGED', 0, 'BX-CRRPT333', now() - interval '2 hours', "
        "now() - interval '1 hour');"),
    "seat versions count every change (held or booked seats changed at least once)": (
        # bob's booked B1 never changed, by its version
        "UPDATE seats SET version = 0 WHERE " + SEAT % (1, 1) + ";",
        "UPDATE seats SET version = 0 WHERE " + SEAT % (1, 1) + ";"),
}


def stated_invariants():
    """The invariant names of verify_checks.h, in order."""
    with open(CHECKS_H) as f:
        text = f.read()
    body = text[text.index("verify_checks[] = {"):]
    body = body[:body.index("};")]
    return re.findall(r'^\s*\{"([^"]+)",', body, re.M)


def pg_admin_url():
    return TEST_DB.rsplit("/", 1)[0] + "/postgres"


def psql(url, sql):
    p = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql], capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=60)
    if p.returncode != 0:
        raise TestFailure("psql failed (%s): %s" % (sql[:200], p.stderr.decode("utf-8", "replace")))


def pg_create(name, template=None):
    sql = "CREATE DATABASE %s%s" % (name, " TEMPLATE " + template if template else "")
    for attempt in range(20):  # the template may still have a session ending
        try:
            psql(pg_admin_url(), "DROP DATABASE IF EXISTS %s" % name)
            psql(pg_admin_url(), sql)
            return
        except TestFailure:
            if attempt == 19:
                raise
            time.sleep(0.25)


def verify(db):
    """(exit code, {name: "ok"|"FAIL"}, output) of `boxoffice verify`."""
    p = subprocess.run([BIN, "verify", "--db", db], capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
    out = (p.stdout + p.stderr).decode("utf-8", "replace")
    results = {}
    for line in out.splitlines():
        m = re.match(r"^(ok|FAIL) +(.+?)(: \d+ rows, e\.g\. .*)?$", line)
        if m:
            results[m.group(2)] = m.group(1)
    return p.returncode, results, out


class Backend:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="boxoffice-verify-")
        self.names = {}
        self.made = []

    def base_url(self):
        if ON_POSTGRES:
            return TEST_DB.rsplit("/", 1)[0] + "/" + PG_PREFIX + "_base"
        return "sqlite:" + os.path.join(self.tmp, "base.db")

    def make_base(self):
        """A server makes the base data through the API, then stops cleanly."""
        if ON_POSTGRES:
            pg_create(PG_PREFIX + "_base")
            self.made.append(PG_PREFIX + "_base")
        port = free_port()
        log = open(os.path.join(self.tmp, "server.log"), "wb")
        proc = subprocess.Popen([BIN, "serve", "--db", self.base_url(), "--listen", "127.0.0.1:%d" % port,
                                 "--admin-token", ADMIN_TOKEN, "--no-demo", "--log-level", "warn",
                                 "--hold-ttl", "3600"], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            c = Client(port)
            deadline = time.monotonic() + 20
            while True:
                try:
                    if c.get("/readyz")[0] == 200:
                        break
                except OSError:
                    c.close()
                check(proc.poll() is None and time.monotonic() < deadline, "base server did not start")
                time.sleep(0.05)
            show = new_show(c, rows=3, seats_per_row=4)["showId"]
            n = self.names
            n["show"] = show
            n["alice"], n["bob"], n["carol"] = unique_user("alice"), unique_user("bob"), unique_user("carol")

            def hold(user, seats):
                return expect(c.post("/api/bookings/hold", {"username": user, "showId": show, "seats": seats}),
                              200, "hold %s" % seats)
            n["alice_ref"] = hold(n["alice"], ["A1", "A2"])["bookingReference"]
            hold(n["bob"], ["B1", "B2"])
            n["bob_ref"] = expect(c.post("/api/bookings/confirm", {"username": n["bob"], "showId": show,
                                                                   "seats": ["B1", "B2"]}), 200, "confirm")[
                "bookingReference"]
            n["carol_ref"] = hold(n["carol"], ["C1"])["bookingReference"]
            released = expect(c.post("/api/bookings/release", {"username": n["carol"], "showId": show}), 200,
                              "release")
            eq(released.get("status"), "CANCELLED", "carol's released cart")
            c.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=15)
            log.close()
        check(rc == 0, "base server exit code %d" % rc)

    def copy(self, index):
        """A fresh copy of the base database; returns its URL."""
        if ON_POSTGRES:
            name = "%s_%d" % (PG_PREFIX, index)
            pg_create(name, PG_PREFIX + "_base")
            self.made.append(name)
            return TEST_DB.rsplit("/", 1)[0] + "/" + name
        path = os.path.join(self.tmp, "case%d.db" % index)
        base = self.base_url()[len("sqlite:"):]
        shutil.copyfile(base, path)
        check(not os.path.exists(base + "-wal") or os.path.getsize(base + "-wal") == 0,
              "the base database was left with a WAL")
        return "sqlite:" + path

    def corrupt(self, url, sql_pair):
        sql = sql_pair[1 if ON_POSTGRES else 0].format(**self.names)
        if ON_POSTGRES:
            psql(url, sql)
            return
        db = sqlite3.connect(url[len("sqlite:"):], isolation_level=None)
        try:
            db.executescript(sql)
        finally:
            db.close()

    def close(self):
        for name in self.made:
            try:
                psql(pg_admin_url(), "DROP DATABASE IF EXISTS %s" % name)
            except TestFailure:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    backend = "postgres" if ON_POSTGRES else "sqlite"
    print("# boxoffice verify seen to fail (%s, %s)" % (backend, BIN))
    passed = failed = 0

    def result(name, problem):
        nonlocal passed, failed
        if problem is None:
            passed += 1
            print("ok - %s" % name)
        else:
            failed += 1
            print("FAIL - %s: %s" % (name, problem))
        sys.stdout.flush()

    be = Backend()
    try:
        names = stated_invariants()
        missing = [n for n in names if n not in CORRUPTIONS]
        stale = [n for n in CORRUPTIONS if n not in names]
        result("every invariant of verify_checks.h (%d) has a corruption here" % len(names),
               None if names and not missing and not stale else
               "no corruption for %s; corruptions for invariants no longer stated: %s" % (missing, stale))
        try:
            be.make_base()
            rc, res, out = verify(be.base_url())
            problem = None
            if rc != 0 or res != {n: "ok" for n in names}:
                problem = "exit %d, expected 0 and every invariant ok:\n%s" % (rc, out)
            result("verify exits 0 on the clean database and names every invariant ok", problem)
        except (TestFailure, OSError, subprocess.SubprocessError) as e:
            result("verify exits 0 on the clean database and names every invariant ok", str(e))
            names = []
        for i, name in enumerate(names):
            if name not in CORRUPTIONS:
                continue
            what = "corrupted so that \"%s\" is false: verify exits 1 naming it, and only it" % name
            try:
                url = be.copy(i)
                be.corrupt(url, CORRUPTIONS[name])
                rc, res, out = verify(url)
                expected = {n: ("FAIL" if n == name else "ok") for n in names}
                problem = None
                if rc != 1 or res != expected:
                    problem = "exit %d, expected 1 with only this invariant failing:\n%s" % (rc, out)
                result(what, problem)
            except (TestFailure, OSError, subprocess.SubprocessError, sqlite3.Error) as e:
                result(what, "%s: %s" % (type(e).__name__, e))
    finally:
        be.close()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
