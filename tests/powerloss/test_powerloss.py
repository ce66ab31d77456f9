#!/usr/bin/python3
"""test_powerloss.py - acknowledged bookings survive a power cut (SQLite).

`kill -9` keeps the operating system's page cache, so it proves only that the
process may die. This test throws away what the disk had not been told to
keep: the server runs as the test build (tests/boxoffice_testing) with the
power-loss VFS of crashvfs.c, which remembers every write made since each
file's last xSync. Under load from POWERLOSS_USERS threads (each booking by a
user of its own: hold 1-2 seats, confirm, sometimes cancel), at a random
moment the test sends SIGUSR2: the VFS leaves on disk exactly the synced data
plus a random subset of the unsynced sectors (dropped, kept, torn, garbage
beyond the synced size; files never synced vanish; -shm removed) and the
process ends at once with code 86. Cuts rotate through the VFS's modes
(drop, subset, tear); every other cut the server checkpoints its WAL every
4 pages (BOXOFFICE_TEST_SQLITE_CHECKPOINT, test build only), so that cuts
also land in checkpoints, with database pages written and not yet synced
(the summary says how many did). After every cut:

 (1) `boxoffice verify` exits 0 on what survived;
 (2) every acknowledged booking is there exactly once: its user has exactly
     one booking, with the acknowledged reference, seats and status (CONFIRMED,
     or CANCELLED when a cancel was acknowledged; either when the cancel was
     in flight), and the seats of a confirmed one are BOOKED by it; every
     acknowledged show exists (read from the database file);
 (3) after the restart, the same bookings read back through
     GET /api/bookings/details.

The negative run: the same load and cuts on a store weakened to
synchronous=OFF (BOXOFFICE_TEST_SQLITE_SYNCHRONOUS, honoured only by the test
build). The test fails unless those cuts lose acknowledged writes (or leave a
database that verify rejects or that cannot be opened): a power-loss test
that cannot tell OFF from FULL proves nothing.

Run:  /usr/bin/python3 tests/powerloss/test_powerloss.py
Env:  BOXOFFICE_BIN (the server; the test build is tests/boxoffice_testing
      beside it unless BOXOFFICE_TESTING_BIN says otherwise), POWERLOSS_SEED
      (printed first), POWERLOSS_CUTS (default 20), POWERLOSS_NEGATIVE_CUTS
      (default 4), POWERLOSS_USERS (default 8).
The last line is "N passed, M failed"; the exit status is 1 on a failure.
"""

import http.client
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "http"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from harness import Client, TestFailure, check, new_show, seat_key, seat_label, short  # noqa: E402
from servers import ADMIN_TOKEN, BIN, free_port, info, log_tail, run_verify, sanitizer_report  # noqa: E402

TESTING_BIN = os.environ.get("BOXOFFICE_TESTING_BIN") or os.path.join(
    os.path.dirname(os.path.abspath(BIN)), "tests", "boxoffice_testing")
SEED = int(os.environ["POWERLOSS_SEED"]) if os.environ.get("POWERLOSS_SEED", "").strip() else \
    int(time.time() * 1000) % 1000000000
CUTS = int(os.environ.get("POWERLOSS_CUTS", "20"))
NEGATIVE_CUTS = int(os.environ.get("POWERLOSS_NEGATIVE_CUTS", "4"))
USERS = int(os.environ.get("POWERLOSS_USERS", "8"))

CUT_EXIT = 86                  # crashvfs.c: CRASHVFS_EXIT_CODE
CHECKPOINT_PAGES = 4           # every other cut: PRAGMA wal_autocheckpoint (test build only)
MODES = ("drop", "subset", "tear")
ROWS, PER_ROW = 20, 20         # one fresh show per cut, 400 seats
LOAD_S = (0.2, 0.8)            # load before each cut, seconds (uniform)
CANCEL_SHARE = 0.15            # acknowledged bookings then cancelled
START_TIMEOUT = 30.0
REQUEST_TIMEOUT = 10.0
CUT_TIMEOUT = 10.0             # the process must be gone this soon after SIGUSR2
CUT_LINE = re.compile(rb"crashvfs: power cut \(mode (\w+), seed (\d+)\): (\d+) files, (\d+) vanished, "
                      rb"(\d+) unsynced sectors: (\d+) kept, (\d+) lost, (\d+) torn, (\d+) garbage; "
                      rb"(\d+) in database files")


class Booking:
    """One acknowledged confirm, and what later acknowledgements say of it."""

    def __init__(self, user, show_id, ref, seats, cycle):
        self.user = user
        self.show_id = show_id
        self.ref = ref
        self.seats = seats          # natural order labels
        self.cycle = cycle
        self.cancel = None          # None, "acked" or "unknown"

    def allowed_status(self):
        if self.cancel == "acked":
            return ("CANCELLED",)
        if self.cancel == "unknown":
            return ("CONFIRMED", "CANCELLED")
        return ("CONFIRMED",)


class Node:
    """The test build of the server on one database, restarted after each cut."""

    def __init__(self, workdir, db_path, synchronous=None):
        self.db_path = db_path
        self.log_path = os.path.join(workdir, "server.log")
        self.synchronous = synchronous
        self.proc = None
        self.port = None

    def start(self, seed, mode, powerloss=True, checkpoint=None):
        env = dict(os.environ)
        env.pop("BOXOFFICE_TEST_POWERLOSS", None)
        if checkpoint:
            env["BOXOFFICE_TEST_SQLITE_CHECKPOINT"] = str(checkpoint)
        if powerloss:
            env.update(BOXOFFICE_TEST_POWERLOSS="1", BOXOFFICE_TEST_POWERLOSS_SEED=str(seed),
                       BOXOFFICE_TEST_POWERLOSS_MODE=mode)
        if self.synchronous:
            env["BOXOFFICE_TEST_SQLITE_SYNCHRONOUS"] = self.synchronous
        self.port = free_port()
        cmd = [TESTING_BIN, "serve", "--db", "sqlite:" + self.db_path, "--listen", "127.0.0.1:%d" % self.port,
               "--admin-token", ADMIN_TOKEN, "--log-level", "warn", "--no-demo"]
        with open(self.log_path, "ab") as log:
            log.write(("--- start (seed %d, mode %s): %s\n" % (seed, mode, " ".join(cmd))).encode())
            log.flush()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         env=env, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise TestFailure("server exited with %d at start:\n%s" % (self.proc.returncode, self.log_tail()))
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", "/readyz")
                resp = conn.getresponse()
                resp.read()
                if resp.status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
            time.sleep(0.05)
        self.kill()
        raise TestFailure("server not ready within %.0f s:\n%s" % (START_TIMEOUT, self.log_tail()))

    def cut(self):
        """Cuts the power; returns the VFS's tally (a match of CUT_LINE)."""
        self.proc.send_signal(signal.SIGUSR2)
        try:
            rc = self.proc.wait(timeout=CUT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TestFailure("the server did not end within %.0f s of the power cut" % CUT_TIMEOUT)
        self.proc = None
        check(rc == CUT_EXIT, "after the power cut the server exited with %d, not %d:\n%s"
              % (rc, CUT_EXIT, self.log_tail()))
        with open(self.log_path, "rb") as f:
            found = CUT_LINE.findall(f.read())
        check(found, "no power-cut summary in the server log:\n%s" % self.log_tail())
        return found[-1]

    def stop(self):
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            rc = None
        self.proc = None
        return rc

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def log_tail(self, lines=30):
        return log_tail(self.log_path, lines)

    def sanitizer_report(self):
        return sanitizer_report(self.log_path, after=2000)


def post(conn, path, body):
    conn.request("POST", path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    raw = resp.read()
    try:
        parsed = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        parsed = None
    return resp.status, parsed


class Load:
    """USERS threads booking seats of one show until the power goes."""

    def __init__(self, port, show_id, cycle, rng, bookings, lock):
        self.port = port
        self.show_id = show_id
        self.cycle = cycle
        self.seeds = [rng.randrange(1 << 30) for _ in range(USERS)]
        self.bookings = bookings
        self.lock = lock
        self.stop = threading.Event()
        self.acks = 0
        self.lost = 0

    def worker(self, index):
        rng = random.Random(self.seeds[index])
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                user = "pl-%d-%d-%d-%d" % (SEED, self.cycle, index, n)
                count = rng.choice((1, 1, 2))
                seats = sorted({seat_label(rng.randrange(ROWS), rng.randrange(1, PER_ROW + 1))
                                for _ in range(count)}, key=seat_key)
                req = {"username": user, "showId": self.show_id, "seats": seats}
                st, _ = post(conn, "/api/bookings/hold", req)
                if st != 200:
                    continue
                st, body = post(conn, "/api/bookings/confirm", req)
                if st != 200:
                    continue
                check(isinstance(body, dict) and body.get("status") == "CONFIRMED"
                      and body.get("seats") == seats, "confirm answered 200 with %s" % short(body))
                b = Booking(user, self.show_id, body["bookingReference"], seats, self.cycle)
                with self.lock:
                    self.bookings.append(b)
                    self.acks += 1
                if rng.random() < CANCEL_SHARE:
                    b.cancel = "unknown"
                    st, body = post(conn, "/api/bookings/cancel", {"username": user, "bookingReference": b.ref})
                    if st == 200:
                        check(body.get("status") == "CANCELLED", "cancel answered 200 with %s" % short(body))
                        b.cancel = "acked"
                        with self.lock:
                            self.acks += 1
        except (OSError, http.client.HTTPException):
            with self.lock:
                self.lost += 1  # in flight at the cut: its fate is not checked
        finally:
            conn.close()

    def run(self, seconds, node):
        threads = [threading.Thread(target=self.worker, args=(i,), daemon=True) for i in range(USERS)]
        for t in threads:
            t.start()
        time.sleep(seconds)
        tally = node.cut()
        self.stop.set()
        for t in threads:
            t.join(timeout=REQUEST_TIMEOUT + 5)
        check(not any(t.is_alive() for t in threads), "a load thread hung after the cut")
        return tally


def check_file(db_path, bookings, shows):
    """Problems with the acknowledged writes, read from the database file."""
    problems = []
    db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True)
    try:
        have_shows = {r[0] for r in db.execute("SELECT id FROM shows")}
        for s in shows:
            if s not in have_shows:
                problems.append("acknowledged show %d is gone" % s)
        rows = db.execute(
            "SELECT u.username, b.id, b.booking_reference, b.status, b.show_id FROM bookings b "
            "JOIN users u ON u.id = b.user_id WHERE u.username LIKE ?", ("pl-%d-%%" % SEED,)).fetchall()
        by_user = {}
        for user, bid, ref, status, show_id in rows:
            by_user.setdefault(user, []).append((bid, ref, status, show_id))
        seat_rows = db.execute("SELECT booking_id, seat_row, seat_number FROM booking_seats").fetchall()
        seats_of = {}
        for bid, r, n in seat_rows:
            seats_of.setdefault(bid, []).append(seat_label(r, n))
        booked = {}
        for show_id, r, n, bid in db.execute(
                "SELECT show_id, seat_row, seat_number, booking_id FROM seats WHERE status = 'BOOKED'"):
            booked[(show_id, seat_label(r, n))] = bid
        for b in bookings:
            found = by_user.get(b.user, [])
            if len(found) != 1:
                problems.append("acknowledged booking %s of %s (cut %d): %d bookings of the user in the file"
                                % (b.ref, b.user, b.cycle, len(found)))
                continue
            bid, ref, status, show_id = found[0]
            got = sorted(seats_of.get(bid, []), key=seat_key)
            if ref != b.ref or show_id != b.show_id or got != b.seats:
                problems.append("acknowledged booking %s %s (cut %d) reads %s %s %s"
                                % (b.ref, b.seats, b.cycle, ref, got, status))
            elif status not in b.allowed_status():
                problems.append("acknowledged booking %s (cut %d, cancel %s) is %s"
                                % (b.ref, b.cycle, b.cancel, status))
            elif status == "CONFIRMED":
                for label in b.seats:
                    if booked.get((b.show_id, label)) != bid:
                        problems.append("seat %s of acknowledged booking %s is not BOOKED by it" % (label, b.ref))
    finally:
        db.close()
    return problems


def check_http(port, bookings):
    """Problems with the acknowledged bookings as the restarted server reads them."""
    problems = []
    c = Client(port)
    try:
        for b in bookings:
            st, _, body, raw = c.get("/api/bookings/details?username=%s&booking_reference=%s" % (b.user, b.ref))
            if st != 200:
                problems.append("GET details of acknowledged booking %s -> %d %s" % (b.ref, st, short(raw)))
            elif body.get("status") not in b.allowed_status() or body.get("seats") != b.seats:
                problems.append("acknowledged booking %s reads %s" % (b.ref, short(body)))
    finally:
        c.close()
    return problems


class Run:
    """Cuts on one database; collects what was lost."""

    def __init__(self, name, synchronous, cuts, rng):
        self.name = name
        self.synchronous = synchronous
        self.cuts = cuts
        self.rng = rng
        self.tmp = tempfile.mkdtemp(prefix="boxoffice-powerloss-")
        self.db_path = os.path.join(self.tmp, "boxoffice.db")
        self.node = Node(self.tmp, self.db_path, synchronous)
        self.bookings = []
        self.shows = []
        self.lock = threading.Lock()
        self.losses = []        # (cut, problem)
        self.done = 0
        self.acks = 0
        self.inflight = 0
        self.tallies = []

    def setup(self):
        p = subprocess.run([BIN, "migrate", "--db", "sqlite:" + self.db_path], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=60)
        check(p.returncode == 0, "boxoffice migrate failed: %s" % (p.stdout + p.stderr).decode())

    def cycle(self, i):
        """One start, load and cut; returns False when the run cannot go on."""
        mode = MODES[i % len(MODES)]
        seed = self.rng.randrange(1 << 40)
        # every other cut checkpoints the WAL every few pages: cuts then
        # also find database pages written and not yet synced
        checkpoint = CHECKPOINT_PAGES if i % 2 else None
        try:
            self.node.start(seed, mode, checkpoint=checkpoint)
        except TestFailure as e:
            self.losses.append((i, "the server cannot start on what survived: %s" % e))
            return False
        c = Client(self.node.port)
        try:
            show = new_show(c, rows=ROWS, seats_per_row=PER_ROW)["showId"]
        except TestFailure as e:
            # a damaged database can refuse writes (503): a loss like any other
            self.losses.append((i, "the server cannot create a show on what survived: %s" % e))
            return False
        finally:
            c.close()
        self.shows.append(show)
        # the previous cut's bookings, through the restarted server
        for p in check_http(self.node.port, [b for b in self.bookings if b.cycle == i - 1]):
            self.losses.append((i - 1, p))
        load = Load(self.node.port, show, i, self.rng, self.bookings, self.lock)
        tally = load.run(self.rng.uniform(*LOAD_S), self.node)
        self.tallies.append(tally)
        self.acks += load.acks
        self.inflight += load.lost
        self.done += 1
        rc, out = run_verify("sqlite:" + self.db_path)
        if rc != 0:
            self.losses.append((i, "boxoffice verify exited %d after the cut:\n%s" % (rc, out[-2000:])))
            return False
        try:
            problems = check_file(self.db_path, self.bookings, self.shows)
        except sqlite3.Error as e:
            problems = ["the database cannot be read: %s" % e]
        self.losses.extend((i, p) for p in problems)
        return True

    def finish(self):
        """A last start without the VFS: the last cut's bookings over HTTP, a clean stop."""
        self.node.start(0, "none", powerloss=False)
        for p in check_http(self.node.port, [b for b in self.bookings if b.cycle == self.done - 1]):
            self.losses.append((self.done - 1, p))
        rc = self.node.stop()
        check(rc == 0, "the server did not stop cleanly (exit %s):\n%s" % (rc, self.node.log_tail()))
        rc, out = run_verify("sqlite:" + self.db_path)
        check(rc == 0, "boxoffice verify exited %d at the end:\n%s" % (rc, out[-2000:]))

    def summary(self):
        kept = sum(int(t[5]) for t in self.tallies)
        lost = sum(int(t[6]) for t in self.tallies)
        torn = sum(int(t[7]) for t in self.tallies)
        garbage = sum(int(t[8]) for t in self.tallies)
        vanished = sum(int(t[3]) for t in self.tallies)
        damaging = sum(1 for t in self.tallies if int(t[6]) + int(t[7]) + int(t[8]) > 0)
        in_db = sum(1 for t in self.tallies if int(t[9]) > 0)
        modes = {}
        for t in self.tallies:
            modes[t[0].decode()] = modes.get(t[0].decode(), 0) + 1
        info("%s: %d cuts (%s); %d acknowledged writes (confirms and cancels), %d bookings checked after "
             "every later cut, %d requests in flight at a cut (not checked); %d cuts destroyed unsynced data "
             "(%d of them during a checkpoint, with unsynced database pages); "
             "unsynced sectors at the cuts: %d kept, %d lost, %d torn, %d garbage; %d files never synced "
             "vanished; %d problems found"
             % (self.name, self.done, ", ".join("%s %d" % kv for kv in sorted(modes.items())), self.acks,
                len(self.bookings), self.inflight, damaging, in_db, kept, lost, torn, garbage, vanished,
                len(self.losses)))

    def close(self):
        self.node.kill()
        report = self.node.sanitizer_report()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return report


def test_full(rng):
    run = Run("synchronous=FULL", None, CUTS, rng)
    try:
        run.setup()
        for i in range(CUTS):
            if not run.cycle(i):
                break
        if run.done == CUTS:
            run.finish()
        run.summary()
        for cut, p in run.losses[:20]:
            info("cut %d: %s" % (cut, p))
        if run.losses:
            raise TestFailure("%d acknowledged writes lost or damaged by power cuts with synchronous=FULL "
                              "(first: cut %d: %s)" % (len(run.losses), run.losses[0][0], run.losses[0][1]))
        check(run.done == CUTS, "only %d of %d cuts ran" % (run.done, CUTS))
        check(len(run.bookings) >= CUTS, "only %d bookings acknowledged in %d cuts: the load did not run"
              % (len(run.bookings), CUTS))
        damaging = sum(1 for t in run.tallies if int(t[6]) + int(t[7]) + int(t[8]) > 0)
        check(damaging > 0, "no cut threw away any unsynced sector: nothing was tested")
    finally:
        report = run.close()
    check(report is None, "sanitizer report in the server log:\n%s" % report)


def test_negative(rng):
    run = Run("synchronous=OFF (negative)", "OFF", NEGATIVE_CUTS, rng)
    try:
        run.setup()
        for i in range(NEGATIVE_CUTS):
            if not run.cycle(i):
                break
        run.summary()
        for cut, p in run.losses[:5]:
            info("negative cut %d (expected): %s" % (cut, p))
        check(run.done > 0, "no cut ran on the weakened store")
        check(run.losses, "%d power cuts with synchronous=OFF lost no acknowledged write: this test "
              "cannot tell OFF from FULL" % run.done)
    finally:
        report = run.close()
    check(report is None, "sanitizer report in the server log:\n%s" % report)


def main():
    print("# seed %d (replay with POWERLOSS_SEED=%d); server %s, test build %s" % (SEED, SEED, BIN, TESTING_BIN))
    sys.stdout.flush()
    rng = random.Random(SEED)
    tests = (
        ("%d power cuts under load with synchronous=FULL: every acknowledged booking survives exactly once, "
         "verify passes" % CUTS, test_full),
        ("power cuts with synchronous=OFF lose acknowledged bookings, and this test sees it", test_negative),
    )
    passed = failed = 0
    for name, fn in tests:
        if not os.access(TESTING_BIN, os.X_OK):
            failed += 1
            print("FAIL - %s: test build %s not found" % (name, TESTING_BIN))
            continue
        try:
            fn(rng)
        except AssertionError as e:
            failed += 1
            print("FAIL - %s: %s" % (name, e))
        except Exception as e:  # a crash of the test itself
            failed += 1
            print("FAIL - %s: %s: %s" % (name, type(e).__name__, e))
        else:
            passed += 1
            print("ok - %s" % name)
        sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
