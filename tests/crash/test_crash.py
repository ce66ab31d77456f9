#!/usr/bin/python3
"""test_crash.py - exactly once under retries, lost responses and crashes.

A load driver (CRASH_USERS threads, default 16, each its own user and
keep-alive connection) holds, confirms, releases, cancels and sometimes
holds-best seats of a few shows of its own, with an Idempotency-Key (a fresh
one per logical request) on most requests and without one on the rest, and
logs every acknowledged answer. The server is killed with SIGKILL at a random
moment, CRASH_CYCLES times (default 20), and started again on the same
database. After every restart, and at the end:

 (1) every user's bookings (GET /api/bookings/user) are exactly what its
     acknowledged answers say (each booking object equal to the last one
     acknowledged), and every acknowledged 200 CONFIRMED confirm that the user
     did not cancel (acknowledged) still reads back through
     GET /api/bookings/details with the same reference and seats;
 (2) no seat is in two CONFIRMED (or two STAGED) bookings, the seat maps show
     BOOKED exactly the seats of CONFIRMED bookings and HELD exactly those of
     carts, and a user has at most one cart per show;
 (3) every request left without an answer (reset, refused, 503) is retried
     with its Idempotency-Key: it must be a replay (Idempotent-Replayed: true)
     exactly when the lost write had committed (its effect visible after the
     restart) and a fresh execution otherwise, and the state afterwards shows
     the effect exactly once; lost requests without a key must have left
     either nothing or exactly their own effect (hold, confirm and cancel are
     then retried without a key and must not act twice). A sample of
     acknowledged keyed requests is resent and must be replayed byte for
     byte; a reused key with another body must get 422 and change nothing;
 (4) `boxoffice verify --db DB` exits 0 after every crash.

Backends: SQLite always (a temporary directory, removed afterwards); and
PostgreSQL when BOXOFFICE_TEST_DB is a postgres:// URL (only this test's own
shows and users are checked). When BOXOFFICE_PG_DIR is also set (a cluster
made by tests/pg/pg_cluster.sh), one extra cycle stops the database itself
with `pg_ctl -m immediate stop` under load: the node must stay up, answer 503
UNAVAILABLE meanwhile, and after the restart of the database everything
acknowledged must be intact. PostgreSQL is started again whatever happens.

Run:  /usr/bin/python3 tests/crash/test_crash.py
      BOXOFFICE_TEST_DB=$(cat $D/url) BOXOFFICE_PG_DIR=$D /usr/bin/python3 tests/crash/test_crash.py
Env:  BOXOFFICE_BIN (server binary), CRASH_SEED (replay a run: the seed is
      printed first as "seed N"), CRASH_CYCLES, CRASH_USERS.
The last line is "N passed, M failed"; the exit status is 1 on a failure.
"""

import atexit
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "http"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from harness import REF_RE, Client, TestFailure, all_pages, all_seats, natural, new_show, short, unique  # noqa: E402
from servers import (ADMIN_TOKEN, BIN, PG_BIN, Cluster, error_code, free_port, info, log_tail,  # noqa: E402
                     run_verify, sanitizer_report)

SEED = int(os.environ["CRASH_SEED"]) if os.environ.get("CRASH_SEED", "").strip() else \
    int(time.time() * 1000) % 1000000000
CYCLES = int(os.environ.get("CRASH_CYCLES", "20"))
USERS = int(os.environ.get("CRASH_USERS", "16"))
TEST_DB = os.environ.get("BOXOFFICE_TEST_DB", "")
PG_DIR = os.environ.get("BOXOFFICE_PG_DIR", "")

SHOWS = 3
ROWS, PER_ROW = 5, 10          # 50 seats a show: enough contention for 16 users
LOAD_S = (0.1, 1.2)            # load before each kill, seconds (uniform)
KEYED_SHARE = 0.6              # share of requests that carry an Idempotency-Key
REPLAYS_PER_CYCLE = 6          # acknowledged keyed requests resent after each restart
REQUEST_TIMEOUT = 10.0         # socket timeout of every request
START_TIMEOUT = 20.0           # server ready (GET /readyz 200) after a start
RETRY_WINDOW = 15.0            # a lost request's retry must get a definitive answer within this
WORKER_DEADLINE = 30.0         # a worker never runs longer than this in one cycle
SEATMAP_MAX_AGE = 1.0          # the node's seat-map cache may be this stale (api_shows.c)
MAX_PRINTED_ANOMALIES = 40

CATEGORIES = (
    ("acked", "every acknowledged write survives (user bookings as acknowledged, confirms re-read by details)"),
    ("double", "no seat booked or held twice; seat maps agree with the bookings"),
    ("retry", "in-flight requests retried after the restart take effect exactly once (replay iff committed)"),
    ("replay", "acknowledged keyed requests replay byte for byte; a reused key with another body is 422"),
    ("verify", "boxoffice verify exits 0 after every crash"),
    ("protocol", "every answer under load is one the contract allows"),
    ("outage", "the node survives the database stop, answers 503 meanwhile, recovers"),
    ("infra", "the run itself (server starts, stops cleanly, no sanitizer report)"),
)


# --------------------------------------------------------------------------
# HTTP without any automatic resending: a request either gets its answer or
# raises, and a request that raised is "in flight" (its fate unknown).

def send(conn, method, path, body=None, key=None):
    hdrs = {}
    if body is not None:
        hdrs["Content-Type"] = "application/json"
    if key is not None:
        hdrs["Idempotency-Key"] = key
    conn.request(method, path, body=body, headers=hdrs)
    resp = conn.getresponse()
    raw = resp.read()
    headers = {}
    for name, value in resp.getheaders():
        headers[name.lower()] = value
    if resp.will_close:
        conn.close()
    return resp.status, headers, raw


def parse(raw):
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


LOST_ERRORS = (OSError, http.client.HTTPException)


# --------------------------------------------------------------------------
# the server process: restarted many times on one database

class Node:
    def __init__(self, db, workdir):
        self.db = db
        self.log_path = os.path.join(workdir, "server.log")
        self.proc = None
        self.port = None
        self.starts = 0

    def command(self):
        # Each load thread is one user writing as fast as it can (the
        # model follows each user's state), far beyond the per-username
        # write limit (20/s, burst 40) a person meets: off for this test
        # of durability.
        return [BIN, "serve", "--db", self.db, "--listen", "127.0.0.1:%d" % self.port,
                "--admin-token", ADMIN_TOKEN, "--log-level", "warn", "--no-demo",
                "--write-rate-per-user", "0"]

    def start(self):
        if not os.access(BIN, os.X_OK):
            raise TestFailure("server binary %s not found or not executable" % BIN)
        problem = None
        for _ in range(3):  # the port may be taken between probe and bind
            self.port = free_port()
            with open(self.log_path, "ab") as log:
                log.write(("--- start %d: %s\n" % (self.starts + 1, " ".join(self.command()))).encode())
                log.flush()
                self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True)
            self.starts += 1
            problem = self.wait_ready(START_TIMEOUT)
            if problem is None:
                return
            if self.proc.poll() is None:
                self.kill9()
                break
            self.proc.wait()
        raise TestFailure("server did not start: %s\n--- log tail ---\n%s" % (problem, self.log_tail()))

    def wait_ready(self, timeout):
        """None once GET /readyz answers 200, else what went wrong."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return "exited with code %d" % self.proc.returncode
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                st, _, raw = send(conn, "GET", "/readyz")
                if st == 200:
                    return None
                last = "GET /readyz -> %d %s" % (st, short(raw))
            except LOST_ERRORS as e:
                last = "%s: %s" % (type(e).__name__, e)
            finally:
                conn.close()
            time.sleep(0.05)
        return "not ready within %.0f s (%s)" % (timeout, last)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self):
        """SIGTERM; returns the exit code, or None when it had to be killed."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill9()
            return None

    def log_tail(self, lines=30):
        return log_tail(self.log_path, lines)

    def sanitizer_report(self):
        return sanitizer_report(self.log_path, after=2000)


# --------------------------------------------------------------------------
# model of a user's bookings: reference -> the booking object last seen

def carts_of(state):
    """show id -> the STAGED booking(s) of a state."""
    out = {}
    for b in state.values():
        if b.get("status") == "STAGED":
            out.setdefault(b.get("showId"), []).append(b)
    return out


def cart_in(state, show_id):
    carts = carts_of(state).get(show_id, [])
    return carts[0] if len(carts) == 1 else None


def brief(b):
    if b is None:
        return "-"
    return "%s %s show %s %s" % (b.get("bookingReference"), b.get("status"), b.get("showId"),
                                 ",".join(b.get("seats") or []))


def state_diff(expected, actual, limit=4):
    lines = []
    for ref in sorted(set(expected) | set(actual)):
        e, a = expected.get(ref), actual.get(ref)
        if e != a:
            if e is not None and a is not None and brief(e) == brief(a):
                fields = [k for k in sorted(set(e) | set(a)) if e.get(k) != a.get(k)]
                lines.append("%s: fields %s differ: expected %s, got %s" % (
                    ref, fields, {k: e.get(k) for k in fields}, {k: a.get(k) for k in fields}))
            else:
                lines.append("%s: expected [%s], got [%s]" % (ref, brief(e), brief(a)))
    more = "" if len(lines) <= limit else " (+%d more)" % (len(lines) - limit)
    return "; ".join(lines[:limit]) + more


class Op:
    """One logical write request and what became of it."""

    def __init__(self, user, kind, path, payload, key, cycle, show=None, seats=None, count=None, ref=None):
        self.user = user
        self.kind = kind
        self.path = path
        self.body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        self.key = key
        self.cycle = cycle
        self.show = show
        self.seats = seats
        self.count = count
        self.ref = ref
        self.status = None
        self.raw = None
        self.parsed = None
        self.replayed = False
        self.lost = None       # why no answer came: exception name or "503"
        self.retried = False   # answered by a retry after a restart

    def describe(self):
        return "%s %s key=%s body=%s" % (self.kind, self.path, self.key, self.body.decode("utf-8"))

    def effect_ok(self, old, new):
        """(True, "") when new is old, or old with exactly this request's
        effect applied; else (False, why)."""
        diff = sorted(r for r in set(old) | set(new) if old.get(r) != new.get(r))
        if not diff:
            return True, ""
        if len(diff) != 1:
            return False, "%d bookings changed: %s" % (len(diff), state_diff(old, new))
        ref = diff[0]
        b, before = new.get(ref), old.get(ref)
        if b is None:
            return False, "booking %s vanished" % ref
        cart = cart_in(old, self.show) if self.show is not None else None
        seats = set(b.get("seats") or [])
        if self.kind in ("hold", "hold-best"):
            if b.get("status") != "STAGED" or b.get("showId") != self.show:
                return False, "%s after a %s" % (brief(b), self.kind)
            if cart is not None and ref != cart["bookingReference"]:
                return False, "a second cart %s next to %s" % (brief(b), brief(cart))
            if cart is None and before is not None:
                return False, "booking %s turned into a cart" % ref
            prev = set(cart["seats"]) if cart is not None else set()
            if self.kind == "hold" and seats != prev | set(self.seats):
                return False, "cart %s, expected seats %s" % (brief(b), natural(prev | set(self.seats)))
            if self.kind == "hold-best" and (not prev <= seats or len(seats) != len(prev) + self.count):
                return False, "cart %s after hold-best of %d on %s" % (brief(b), self.count, natural(prev))
            return True, ""
        if self.kind == "confirm":
            if cart is None or ref != cart["bookingReference"] or b.get("status") != "CONFIRMED" \
                    or seats != set(self.seats):
                return False, "%s after confirming %s of cart %s" % (brief(b), self.seats, brief(cart))
            return True, ""
        if self.kind == "release":
            if cart is None or ref != cart["bookingReference"]:
                return False, "%s changed by a release of cart %s" % (brief(b), brief(cart))
            left = set() if self.seats is None else set(cart["seats"]) - set(self.seats)
            if left and (b.get("status") != "STAGED" or seats != left):
                return False, "%s, expected STAGED %s" % (brief(b), natural(left))
            if not left and b.get("status") != "CANCELLED":
                return False, "%s, expected CANCELLED" % brief(b)
            return True, ""
        if self.kind == "cancel":
            if ref != self.ref or before is None or b.get("status") != "CANCELLED":
                return False, "%s after cancelling %s" % (brief(b), self.ref)
            return True, ""
        return False, "unknown kind %s" % self.kind


class User:
    def __init__(self, name, rng):
        self.name = name
        self.rng = rng
        self.model = {}
        self.lost = None


# --------------------------------------------------------------------------
# one backend's run

class Run:
    def __init__(self, label, db, cluster=None):
        self.label = label
        self.db = db
        self.cluster = cluster
        self.rng = random.Random("%d-%s" % (SEED, label))
        self.key_prefix = unique("crash-key")
        self.lock = threading.Lock()
        self.anomalies = {c: [] for c, _ in CATEGORIES}
        self.printed = 0
        self.cycle = 0
        self.users = []
        self.shows = []          # [{"showId", "seats"}]
        self.acked = []          # every acknowledged Op
        self.live_confirms = {}  # ref -> (username, natural seats, show id)
        self.node = None
        self.client = None
        # What the summary reports, each figure named for what it counts:
        # "answers" are acknowledgements received (each checked as it came
        # against the contract); the final-state figures count comparisons
        # made at the checkpoints after each restart.
        self.stats = dict(cycles=0, db_stops=0, acked=0, checkpoints=0, user_states=0, bookings_compared=0,
                          details=0, inflight=0,
                          inflight_keyed=0, inflight_replayed=0, inflight_fresh=0, inflight_unkeyed_retried=0,
                          inflight_unkeyed_adopted=0, replays=0, reuse_422=0, verify_runs=0, seatmaps=0)

    # ---- reporting

    def anomaly(self, category, msg):
        with self.lock:
            text = "cycle %d: %s" % (self.cycle, msg)
            self.anomalies[category].append(text)
            if self.printed < MAX_PRINTED_ANOMALIES:
                self.printed += 1
                info("ANOMALY [%s %s] %s (seed %d)" % (self.label, category, text, SEED))

    def anomaly_count(self):
        return sum(len(v) for v in self.anomalies.values())

    # ---- the load

    def new_key(self, rng):
        return "%s-%032x" % (self.key_prefix, rng.getrandbits(128))

    def next_op(self, user):
        rng = user.rng
        carts = {sid: bs[0] for sid, bs in carts_of(user.model).items() if bs}
        confirmed = [b for b in user.model.values() if b.get("status") == "CONFIRMED"]
        key = self.new_key(rng) if rng.random() < KEYED_SHARE else None
        big_cart = any(len(c["seats"]) >= 7 for c in carts.values())
        r = rng.random()
        if carts and (r < 0.30 or big_cart):
            sid = rng.choice(sorted(carts))
            seats = list(carts[sid]["seats"])
            if len(seats) > 1 and rng.random() < 0.25:
                seats = natural(rng.sample(seats, rng.randint(1, len(seats) - 1)))
            return Op(user, "confirm", "/api/bookings/confirm",
                      {"username": user.name, "showId": sid, "seats": seats}, key, self.cycle, show=sid, seats=seats)
        if carts and r < 0.40:
            sid = rng.choice(sorted(carts))
            held = list(carts[sid]["seats"])
            if rng.random() < 0.5:
                return Op(user, "release", "/api/bookings/release", {"username": user.name, "showId": sid},
                          key, self.cycle, show=sid)
            seats = natural(rng.sample(held, rng.randint(1, len(held))))
            return Op(user, "release", "/api/bookings/release",
                      {"username": user.name, "showId": sid, "seats": seats}, key, self.cycle, show=sid, seats=seats)
        if (confirmed or carts) and r < 0.42 + 0.04 * min(len(confirmed), 5):
            pool = confirmed if confirmed and (not carts or rng.random() < 0.85) else list(carts.values())
            b = rng.choice(pool)
            return Op(user, "cancel", "/api/bookings/cancel",
                      {"username": user.name, "bookingReference": b["bookingReference"]}, key, self.cycle,
                      ref=b["bookingReference"])
        show = rng.choice(self.shows)
        sid = show["showId"]
        if rng.random() < 0.15:
            n = rng.randint(1, 3)
            return Op(user, "hold-best", "/api/bookings/hold-best",
                      {"username": user.name, "showId": sid, "count": n}, key, self.cycle, show=sid, count=n)
        mine = set()
        for b in user.model.values():
            if b.get("showId") == sid and b.get("status") in ("STAGED", "CONFIRMED"):
                mine |= set(b["seats"])
        free = [s for s in show["seats"] if s not in mine]
        seats = natural(rng.sample(free, min(len(free), rng.choice((1, 1, 2, 2, 3)))))
        return Op(user, "hold", "/api/bookings/hold", {"username": user.name, "showId": sid, "seats": seats},
                  key, self.cycle, show=sid, seats=seats)

    def acknowledge(self, op, status, headers, raw, retry=False):
        """Records an answer and checks it is one the contract allows; on a
        200 returns the booking object, else None."""
        op.status, op.raw = status, raw
        op.parsed = parse(raw)
        op.replayed = headers.get("idempotent-replayed", "").lower() == "true"
        op.retried = retry
        with self.lock:
            self.acked.append(op)
            self.stats["acked"] += 1
        if op.replayed and not retry:
            self.anomaly("replay", "a first request with a fresh key was answered as a replay: %s -> %d %s"
                         % (op.describe(), status, short(raw)))
        if op.replayed and op.key is None:
            self.anomaly("replay", "a request without a key was answered as a replay: %s" % op.describe())
        if headers.get("content-type", "").split(";")[0].strip() != "application/json" or op.parsed is None:
            self.anomaly("protocol", "%s -> %d with Content-Type %r, body %s"
                         % (op.describe(), status, headers.get("content-type"), short(raw)))
            return None
        if status != 200:
            allowed = {"hold": ("SEATS_UNAVAILABLE", "HOLD_LIMIT_EXCEEDED"),
                       "hold-best": ("SEATS_UNAVAILABLE", "HOLD_LIMIT_EXCEEDED")}.get(op.kind, ())
            if status != 409 or error_code(op.parsed) not in allowed:
                self.anomaly("protocol", "%s (a request the acknowledged state says must succeed, or a "
                             "refusal the contract does not list) -> %d %s" % (op.describe(), status, short(raw)))
            return None
        b = op.parsed
        problems = []
        if not isinstance(b, dict) or not REF_RE.match(str(b.get("bookingReference"))):
            problems.append("not a booking object")
        else:
            if b.get("username") != op.user.name:
                problems.append("username %r" % b.get("username"))
            if op.show is not None and b.get("showId") != op.show:
                problems.append("showId %r" % b.get("showId"))
            want = {"hold": ("STAGED",), "hold-best": ("STAGED",), "confirm": ("CONFIRMED",),
                    "cancel": ("CANCELLED",), "release": ("STAGED", "CANCELLED")}[op.kind]
            if b.get("status") not in want:
                problems.append("status %r" % b.get("status"))
            if op.kind == "confirm" and b.get("seats") != natural(op.seats):
                problems.append("seats %r, confirmed %r" % (b.get("seats"), op.seats))
            if op.kind == "hold" and not set(op.seats) <= set(b.get("seats") or []):
                problems.append("seats %r lack %r" % (b.get("seats"), op.seats))
            if op.kind == "cancel" and b.get("bookingReference") != op.ref:
                problems.append("reference %r" % b.get("bookingReference"))
        if problems:
            self.anomaly("protocol", "%s -> 200 %s: %s" % (op.describe(), short(raw), ", ".join(problems)))
            return None
        ref = b["bookingReference"]
        with self.lock:
            if op.kind == "confirm":
                self.live_confirms[ref] = (op.user.name, natural(b["seats"]), b["showId"])
            elif op.kind == "cancel":
                self.live_confirms.pop(ref, None)
        return b

    def worker(self, user, port, stop):
        deadline = time.monotonic() + WORKER_DEADLINE
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                op = self.next_op(user)
                try:
                    status, headers, raw = send(conn, "POST", op.path, op.body, op.key)
                except LOST_ERRORS as e:
                    op.lost = type(e).__name__
                    user.lost = op
                    return
                if status == 503:  # storage down: the write may or may not have committed
                    op.lost = "503"
                    op.raw = raw
                    user.lost = op
                    return
                b = self.acknowledge(op, status, headers, raw)
                if b is not None:
                    user.model[b["bookingReference"]] = b
        except Exception as e:  # a bug of the test: report, never hang
            self.anomaly("infra", "worker %s: %s: %s" % (user.name, type(e).__name__, e))
        finally:
            conn.close()

    def load(self, disrupt):
        """Runs every user's worker until disrupt() (which kills the node or
        stops the database) has made each one lose a request."""
        stop = threading.Event()
        threads = [threading.Thread(target=self.worker, args=(u, self.node.port, stop), daemon=True)
                   for u in self.users]
        for t in threads:
            t.start()
        try:
            disrupt()
        finally:
            stop.set()
            deadline = time.monotonic() + REQUEST_TIMEOUT + 10
            for t in threads:
                t.join(max(0.1, deadline - time.monotonic()))
        hung = sum(1 for t in threads if t.is_alive())
        if hung:
            raise TestFailure("%d load threads did not finish" % hung)

    # ---- reading state

    def get_json(self, path, what, with_headers=False):
        """GET with a bounded wait through 503 (a pooled connection found
        broken after a database restart is reset on its next use)."""
        deadline = time.monotonic() + 10
        while True:
            st, headers, body, raw = self.client.get(path)
            if st != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if st != 200:
            raise TestFailure("%s: GET %s -> %d %s" % (what, path, st, short(raw)))
        return (body, headers) if with_headers else body

    def fetch_state(self, user):
        body = all_pages(lambda p: self.get_json(p, "bookings of %s" % user.name, with_headers=True),
                         "/api/bookings/user?username=" + urllib.parse.quote(user.name),
                         "bookings of %s" % user.name)
        state = {}
        for b in body:
            ref = b.get("bookingReference") if isinstance(b, dict) else None
            if not isinstance(ref, str) or not REF_RE.match(ref) or b.get("username") != user.name or ref in state:
                self.anomaly("protocol", "bookings of %s: bad or repeated entry %s" % (user.name, short(b)))
                continue
            state[ref] = b
        return state

    # ---- after a restart

    def retry(self, op, keyed=True):
        """Sends op again (with its key when keyed) until it gets a definitive
        answer: not a dropped connection, 503, or 409 IDEMPOTENCY_KEY_IN_USE."""
        deadline = time.monotonic() + RETRY_WINDOW
        last = None
        while time.monotonic() < deadline:
            conn = http.client.HTTPConnection("127.0.0.1", self.node.port, timeout=REQUEST_TIMEOUT)
            try:
                status, headers, raw = send(conn, "POST", op.path, op.body, op.key if keyed else None)
            except LOST_ERRORS as e:
                last = "%s: %s" % (type(e).__name__, e)
                time.sleep(0.2)
                continue
            finally:
                conn.close()
            if status == 503 or (status == 409 and error_code(parse(raw)) == "IDEMPOTENCY_KEY_IN_USE"):
                last = "%d %s" % (status, short(raw))
                time.sleep(0.2)
                continue
            return status, headers, raw
        self.anomaly("retry", "no definitive answer within %.0f s to the retry of %s (last: %s)"
                     % (RETRY_WINDOW, op.describe(), last))
        return None

    def resolve_lost(self, user):
        """The user's request that got no answer: check what the restart
        left, retry it, check the effect happened exactly once."""
        op, old = user.lost, user.model
        user.lost = None
        self.stats["inflight"] += 1
        s1 = self.fetch_state(user)
        ok, why = op.effect_ok(old, s1)
        if not ok:
            self.anomaly("acked", "%s: after the restart the bookings differ from the acknowledged ones in a way "
                         "its lost %s cannot explain: %s" % (user.name, op.describe(), why))
            user.model = s1
            return
        visible = s1 != old
        if op.kind == "cancel" and visible:
            with self.lock:
                self.live_confirms.pop(op.ref, None)  # the user did cancel it
        if op.key is None and op.kind in ("release", "hold-best"):
            # not idempotent without a key: its effect, if any, is checked above
            self.stats["inflight_unkeyed_adopted"] += 1
            user.model = s1
            return
        res = self.retry(op, keyed=op.key is not None)
        if res is None:
            user.model = self.fetch_state(user)
            return
        status, headers, raw = res
        b = self.acknowledge(op, status, headers, raw, retry=True)
        s2 = self.fetch_state(user)
        what = "%s's lost %s (%s, effect %s after the restart)" % (
            user.name, op.describe(), op.lost, "visible" if visible else "absent")
        if op.key is not None:
            self.stats["inflight_keyed"] += 1
            if status == 422:
                self.anomaly("retry", "%s: the retry with the same key and body got 422: %s" % (what, short(raw)))
            if op.replayed:
                self.stats["inflight_replayed"] += 1
                if b is not None:
                    expected = dict(old)
                    expected[b["bookingReference"]] = b
                    if expected != s1:
                        self.anomaly("retry", "%s: replayed 200 %s but the state after the restart was not that "
                                     "write's: %s" % (what, short(raw, 160), state_diff(expected, s1)))
                elif visible:
                    self.anomaly("retry", "%s: replayed a refusal %d %s but the write had taken effect: %s"
                                 % (what, status, short(raw), state_diff(old, s1)))
                if s2 != s1:
                    self.anomaly("retry", "%s: the replay changed the state: %s" % (what, state_diff(s1, s2)))
            else:
                self.stats["inflight_fresh"] += 1
                if visible:
                    self.anomaly("retry", "%s: the write had committed but the retry with its key was executed "
                                 "again instead of replayed -> %d %s" % (what, status, short(raw, 160)))
                expected = dict(s1)
                if b is not None:
                    expected[b["bookingReference"]] = b
                if s2 != expected:
                    self.anomaly("retry", "%s: after the fresh retry (%d) the bookings are not its effect: %s"
                                 % (what, status, state_diff(expected, s2)))
                ok, why = op.effect_ok(s1, s2)
                if not ok:
                    self.anomaly("retry", "%s: the retry did more than its own effect: %s" % (what, why))
        else:
            self.stats["inflight_unkeyed_retried"] += 1
            if b is None and (visible or op.kind != "hold"):
                self.anomaly("retry", "%s: the retry without a key was refused: %d %s" % (what, status, short(raw)))
            if visible:
                # hold, confirm and cancel are idempotent by themselves: a
                # retry of one that took effect changes nothing
                if s2 != s1:
                    self.anomaly("retry", "%s: retrying it acted twice: %s" % (what, state_diff(s1, s2)))
                if b is not None and s1.get(b["bookingReference"]) != b:
                    self.anomaly("retry", "%s: the retry answered %s, the booking is %s"
                                 % (what, brief(b), brief(s1.get(b["bookingReference"]))))
            else:
                expected = dict(s1)
                if b is not None:
                    expected[b["bookingReference"]] = b
                if s2 != expected:
                    self.anomaly("retry", "%s: after the retry the bookings are not its effect: %s"
                                 % (what, state_diff(expected, s2)))
        # exactly once, stated directly
        if op.kind == "confirm" and b is not None:
            n = sum(1 for x in s2.values() if x.get("status") == "CONFIRMED" and x.get("showId") == op.show
                    and set(x.get("seats") or []) & set(op.seats))
            if n != 1:
                self.anomaly("retry", "%s: %d CONFIRMED bookings hold its seats" % (what, n))
        if op.kind in ("hold", "hold-best") and len(carts_of(s2).get(op.show, [])) > 1:
            self.anomaly("retry", "%s: the user has %d carts in show %d" % (what, len(carts_of(s2)[op.show]),
                                                                              op.show))
        user.model = s2

    def check_replays(self):
        """Resends a sample of acknowledged keyed requests: each must be
        replayed byte for byte. Then reuses one key with another body: 422."""
        stored = [op for op in self.acked if op.key is not None and op.raw is not None
                  and op.status != 400 and op.status < 500]
        if not stored:
            return
        sample = self.rng.sample(stored, min(REPLAYS_PER_CYCLE, len(stored)))
        conn = http.client.HTTPConnection("127.0.0.1", self.node.port, timeout=REQUEST_TIMEOUT)
        try:
            for op in sample:
                status, headers, raw = send(conn, "POST", op.path, op.body, op.key)
                self.stats["replays"] += 1
                flag = headers.get("idempotent-replayed")
                if status != op.status or raw != op.raw or flag != "true":
                    self.anomaly("replay", "resending acknowledged %s (cycle %d): got %d Idempotent-Replayed=%r %s, "
                                 "first answer was %d %s" % (op.describe(), op.cycle, status, flag, short(raw, 200),
                                                             op.status, short(op.raw, 200)))
            op = self.rng.choice(stored)
            probe = unique("crash-probe")
            payload = json.loads(op.body.decode("utf-8"))
            payload["username"] = probe
            body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
            status, headers, raw = send(conn, "POST", op.path, body, op.key)
            if status != 422 or error_code(parse(raw)) != "IDEMPOTENCY_KEY_REUSED":
                self.anomaly("replay", "key of %s reused with another body (user %s): expected 422 "
                             "IDEMPOTENCY_KEY_REUSED, got %d %s" % (op.describe(), probe, status, short(raw)))
            else:
                self.stats["reuse_422"] += 1
            st, _, left, raw = self.client.get("/api/bookings/user?username=" + probe)
            if st != 200 or left != []:
                self.anomaly("replay", "the refused reuse of a key left bookings for %s: %d %s"
                             % (probe, st, short(raw)))
        finally:
            conn.close()

    def checkpoint(self):
        """(1) and (2): the users' bookings are what was acknowledged, every
        acknowledged confirm reads back, the seat maps agree."""
        states = {}
        self.stats["checkpoints"] += 1
        for u in self.users:
            s = self.fetch_state(u)
            self.stats["user_states"] += 1
            self.stats["bookings_compared"] += len(set(s) | set(u.model))
            if s != u.model:
                self.anomaly("acked", "%s: bookings differ from the acknowledged answers: %s"
                             % (u.name, state_diff(u.model, s)))
                u.model = s
            states[u.name] = s
        for ref, (name, seats, sid) in sorted(self.live_confirms.items()):
            body = self.get_json("/api/bookings/details?username=%s&booking_reference=%s"
                                 % (urllib.parse.quote(name), ref), "details of %s" % ref)
            self.stats["details"] += 1
            if not isinstance(body, dict) or body.get("bookingReference") != ref or \
                    body.get("status") != "CONFIRMED" or body.get("seats") != seats or body.get("showId") != sid:
                self.anomaly("acked", "acknowledged confirm %s of %s (show %d, %s) reads back as %s"
                             % (ref, name, sid, ",".join(seats), short(body)))
        # (2) seats across all users
        for show in self.shows:
            sid = show["showId"]
            booked, held = {}, {}
            for name, s in states.items():
                carts = [b for b in s.values() if b.get("showId") == sid and b.get("status") == "STAGED"]
                if len(carts) > 1:
                    self.anomaly("double", "%s has %d carts in show %d: %s"
                                 % (name, len(carts), sid, "; ".join(brief(b) for b in carts)))
                for b in s.values():
                    if b.get("showId") != sid:
                        continue
                    into = booked if b.get("status") == "CONFIRMED" else held if b.get("status") == "STAGED" else None
                    if into is None:
                        continue
                    for seat in b.get("seats") or []:
                        into.setdefault(seat, []).append(b["bookingReference"])
            for seat, refs in sorted(booked.items()):
                if len(refs) > 1:
                    self.anomaly("double", "show %d seat %s is in %d CONFIRMED bookings: %s"
                                 % (sid, seat, len(refs), ", ".join(refs)))
            for seat, refs in sorted(held.items()):
                if len(refs) > 1 or seat in booked:
                    self.anomaly("double", "show %d seat %s held by %s and booked by %s"
                                 % (sid, seat, refs, booked.get(seat)))
            want = (natural(booked), natural(held))
            deadline = time.monotonic() + SEATMAP_MAX_AGE + 0.5
            while True:
                m = self.get_json("/api/shows/%d" % sid, "seat map of show %d" % sid)
                seats = m.get("seats") if isinstance(m, dict) else None
                got = (seats.get("booked"), seats.get("held")) if isinstance(seats, dict) else None
                if got == want or time.monotonic() > deadline:
                    break
                time.sleep(0.25)
            self.stats["seatmaps"] += 1
            if got != want:
                self.anomaly("double", "seat map of show %d: booked %s held %s, but the CONFIRMED bookings hold %s "
                             "and the carts %s" % (sid, got and got[0], got and got[1], want[0], want[1]))
                continue
            avail = seats.get("available") or []
            every = set(avail) | set(want[0]) | set(want[1])
            if len(avail) + len(want[0]) + len(want[1]) != len(show["seats"]) or every != set(show["seats"]) \
                    or m.get("bookedSeats") != len(want[0]) or m.get("heldSeats") != len(want[1]) \
                    or m.get("availableSeats") != len(avail):
                self.anomaly("double", "seat map of show %d does not partition its %d seats: %s"
                             % (sid, len(show["seats"]), short(m, 400)))

    def verify(self, when):
        rc, out = run_verify(self.db)
        self.stats["verify_runs"] += 1
        if rc != 0:
            self.anomaly("verify", "boxoffice verify --db %s %s exited %d: %s" % (self.db, when, rc, out[:1500]))

    def after_disruption(self):
        for u in self.users:
            if u.lost is not None:
                self.resolve_lost(u)
        self.check_replays()
        self.checkpoint()

    # ---- the cycles

    def kill_cycle(self):
        delay = self.rng.uniform(*LOAD_S)

        def disrupt():
            time.sleep(delay)
            self.node.kill9()

        acked_before = self.stats["acked"]
        self.load(disrupt)
        acked_in_load = self.stats["acked"] - acked_before
        lost = [u.lost for u in self.users if u.lost is not None]
        self.verify("after kill -9 (server down)")
        self.node.start()
        self.client = Client(self.node.port)
        s = dict(self.stats)
        self.after_disruption()
        info("%s cycle %d: kill -9 after %.2f s, %d answers acknowledged, %d in flight (%d sent and reset, %d keyed: "
             "%d replayed, %d fresh), final state checked" % (
                 self.label, self.cycle, delay, acked_in_load, len(lost),
                 sum(1 for op in lost if op.lost not in ("ConnectionRefusedError",)),
                 sum(1 for op in lost if op.key), self.stats["inflight_replayed"] - s["inflight_replayed"],
                 self.stats["inflight_fresh"] - s["inflight_fresh"]))

    def db_stop_cycle(self):
        """Stops PostgreSQL itself (immediate: a crash) under load."""
        cl = self.cluster
        cl.read_options()
        delay = self.rng.uniform(0.3, 1.0)
        acked_before = self.stats["acked"]

        def disrupt():
            time.sleep(delay)
            cl.stop("immediate")

        try:
            self.load(disrupt)
            acked_in_load = self.stats["acked"] - acked_before
            time.sleep(0.3)
            if not self.node.alive():
                self.anomaly("outage", "the node died while the database was down; log:\n%s" % self.node.log_tail())
            else:
                probe = unique("crash-probe")
                st, _, body, raw = self.client.post("/api/bookings/hold", {
                    "username": probe, "showId": self.shows[0]["showId"], "seats": ["A1"]})
                if st != 503 or error_code(body) != "UNAVAILABLE":
                    self.anomaly("outage", "a hold while the database is down -> %d %s (expected 503 UNAVAILABLE)"
                                 % (st, short(raw)))
                st, _, body, raw = self.client.get("/readyz")
                if st != 503:
                    self.anomaly("outage", "GET /readyz while the database is down -> %d %s" % (st, short(raw)))
        finally:
            problem = cl.ensure_running()
            if problem:
                self.anomaly("outage", "could not restart PostgreSQL: %s" % problem)
        if not self.node.alive():
            self.anomaly("outage", "the node is not running after the database came back")
            self.node.start()
        else:
            problem = self.node.wait_ready(30)
            if problem:
                raise TestFailure("the node did not recover after the database restart: %s" % problem)
        self.client = Client(self.node.port)
        lost = [u.lost for u in self.users if u.lost is not None]
        self.verify("after the database restart")
        s = dict(self.stats)
        self.after_disruption()
        self.stats["db_stops"] += 1
        info("%s cycle %d: PostgreSQL stopped (-m immediate) after %.2f s, %d answers acknowledged, %d without "
             "an answer (%d got 503, %d keyed: %d replayed, %d fresh), node stayed up, final state checked" % (
                 self.label, self.cycle, delay, acked_in_load, len(lost),
                 sum(1 for op in lost if op.lost == "503"), sum(1 for op in lost if op.key),
                 self.stats["inflight_replayed"] - s["inflight_replayed"],
                 self.stats["inflight_fresh"] - s["inflight_fresh"]))

    def execute(self):
        start = time.monotonic()
        self.node.start()
        self.client = Client(self.node.port)
        for _ in range(SHOWS):
            sh = new_show(self.client, rows=ROWS, seats_per_row=PER_ROW)
            self.shows.append({"showId": sh["showId"], "seats": all_seats(ROWS, PER_ROW)})
        for i in range(USERS):
            self.users.append(User(unique("crash-u%d" % i), random.Random(self.rng.getrandbits(64))))
        info("%s: shows %s, %d users, %d kill cycles%s" % (
            self.label, [s["showId"] for s in self.shows], USERS, CYCLES,
            " + 1 database stop" if self.cluster else ""))
        db_stop_at = CYCLES // 2 + 1 if self.cluster else None
        total = CYCLES + (1 if self.cluster else 0)
        for i in range(1, total + 1):
            self.cycle = i
            if i == db_stop_at:
                self.db_stop_cycle()
            else:
                self.kill_cycle()
                self.stats["cycles"] += 1
        # the end: a last checkpoint with everything, a clean stop, verify
        self.cycle = total + 1
        self.checkpoint()
        code = self.node.stop()
        if code != 0:
            self.anomaly("infra", "the server did not exit 0 on SIGTERM (exit %s); log:\n%s"
                         % (code, self.node.log_tail()))
        self.verify("at the end (server stopped)")
        report = self.node.sanitizer_report()
        if report:
            self.anomaly("infra", "sanitizer report in the server log:\n" + report)
        self.stats["seconds"] = time.monotonic() - start


def run_backend(label, db, workdir, cluster, results):
    r = Run(label, db, cluster)
    r.node = Node(db, workdir)
    try:
        r.execute()
    except Exception as e:
        if isinstance(e, AssertionError):
            r.anomaly("infra", "%s" % e)
        else:
            r.anomaly("infra", "%s: %s\n    %s" % (type(e).__name__, e,
                                                   "\n    ".join(traceback.format_exc().strip().splitlines()[-8:])))
        if r.node.proc is not None:
            info("%s server log tail:\n%s" % (label, r.node.log_tail()))
    finally:
        try:
            r.node.kill9()
        except Exception:
            pass
    st = r.stats
    info("%s: crash cycles %d (+%d database stops); answers acknowledged %d (each checked against the contract "
         "as it came); final-state checkpoints %d: user booking lists compared with the acknowledged state %d "
         "times (%d booking comparisons), seat maps compared %d, confirm read-backs by details %d; in-flight "
         "requests %d (retried with their key %d: %d replayed, %d fresh; without a key retried %d, checked "
         "as-is %d), replays verified %d, key reuses refused %d, verify runs %d, anomalies %d, %.1f s" % (
             label, st["cycles"], st["db_stops"], st["acked"], st["checkpoints"], st["user_states"],
             st["bookings_compared"], st["seatmaps"], st["details"], st["inflight"],
             st["inflight_keyed"], st["inflight_replayed"], st["inflight_fresh"], st["inflight_unkeyed_retried"],
             st["inflight_unkeyed_adopted"], st["replays"], st["reuse_422"], st["verify_runs"],
             r.anomaly_count(), st.get("seconds", 0.0)))
    for cat, title in CATEGORIES:
        if cat == "outage" and cluster is None:
            continue
        items = r.anomalies[cat]
        if items:
            results.append((False, "%s: %s: %d anomalies, first: %s" % (label, title, len(items), items[0])))
        else:
            results.append((True, "%s: %s" % (label, title)))
    return r


_cleanup_dirs = []
_cluster_for_exit = []


def _at_exit():
    for c in _cluster_for_exit:
        problem = c.ensure_running()
        if problem:
            print("# could not restart PostgreSQL at exit: %s" % problem)
    for d in _cleanup_dirs:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_at_exit)


def main():
    print("seed %d" % SEED)
    info("crash test, server %s, CRASH_SEED=%d CRASH_CYCLES=%d CRASH_USERS=%d" % (BIN, SEED, CYCLES, USERS))
    sys.stdout.flush()
    results = []
    # SQLite: a private database in a temporary directory
    tmp = tempfile.mkdtemp(prefix="bo-crash-sqlite-")
    _cleanup_dirs.append(tmp)
    try:
        run_backend("sqlite", "sqlite:" + os.path.join(tmp, "crash.db"), tmp, None, results)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # PostgreSQL: the shared database of BOXOFFICE_TEST_DB
    if TEST_DB.startswith("postgres"):
        cluster = None
        if PG_DIR:
            if Cluster.exists(PG_DIR):
                cluster = Cluster(PG_DIR, TEST_DB)
                _cluster_for_exit.append(cluster)
            else:
                results.append((False, "postgres: BOXOFFICE_PG_DIR=%s holds no cluster or %s/pg_ctl is missing"
                                % (PG_DIR, PG_BIN)))
        tmp = tempfile.mkdtemp(prefix="bo-crash-pg-")
        _cleanup_dirs.append(tmp)
        try:
            run_backend("postgres", TEST_DB, tmp, cluster, results)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            if cluster is not None:
                problem = cluster.ensure_running()
                if problem:
                    results.append((False, "postgres: PostgreSQL running again at the end: %s" % problem))
                else:
                    results.append((True, "postgres: PostgreSQL running again at the end"))
    else:
        info("BOXOFFICE_TEST_DB is not a postgres:// URL: PostgreSQL not tested")
    passed = failed = 0
    for ok, line in results:
        if ok:
            passed += 1
            print("ok - " + line)
        else:
            failed += 1
            print("FAIL - " + line)
    if failed:
        print("# replay this run with CRASH_SEED=%d (seed %d)" % (SEED, SEED))
    print("%d passed, %d failed" % (passed, failed))
    sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
