#!/usr/bin/python3
"""test_nodes.py - several boxoffice nodes on one PostgreSQL database.

(a) two nodes, 1,000 clients split across them (own connection and username
    each, released together by a barrier) race for the last free seat of a
    show: exactly one 200, 999 x 409 SEATS_UNAVAILABLE; both nodes' seat maps
    agree afterwards (the other node's cached map is refreshed by NOTIFY) and
    the winner confirms on the other node.
(b) a hold made on node A is seen by node B (seat map, the user's bookings,
    details), confirmed on B with the same reference; another hold made on A
    is released on B.
(c) the sweeper expires every hold exactly once: two fresh nodes with
    --hold-ttl 1, N holds across both; afterwards the seats are AVAILABLE on
    both and the sum of both nodes' boxoffice_holds_expired_total deltas is N.
(d) database outage under load (pg_ctl stop -m immediate): 503 UNAVAILABLE
    (or a dropped connection) while it is down, never a 200, never another
    5xx, /readyz 503, the process survives; after a restart the same process
    is ready and books again within 10 s, and the show's invariants hold
    (every acknowledged confirm BOOKED, no seat in two confirmed bookings,
    BOOKED == seats of confirmed bookings, HELD == seats of live carts,
    available + held + booked == total). A second, idle node recovers too
    and hears NOTIFY again.
(e) the same with a clean shutdown (pg_ctl stop -m fast).
(f) PostgreSQL is running and serving at the end (restarted if need be).

Needs a PostgreSQL cluster made by tests/pg/pg_cluster.sh:
  D=$(mktemp -d /tmp/bo-mn.XXXX); tests/pg/pg_cluster.sh start $D
  BOXOFFICE_TEST_DB=$(cat $D/url) BOXOFFICE_PG_DIR=$D /usr/bin/python3 tests/multinode/test_nodes.py
  tests/pg/pg_cluster.sh stop $D; rm -rf $D
Tests (d)-(e) stop and restart that cluster and (c) counts every expiry on
the database, so nothing else may use it while this runs; every test leaves
no held seat behind. BOXOFFICE_TEST_ONLY=substring runs only matching tests. Run as root (the cluster runs as the postgres user) or as
the cluster's owner.
"""

import atexit
import contextlib
import http.client
import os
import re
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "http"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import harness  # noqa: E402
from servers import PG_BIN, Cluster, error_code, info  # noqa: E402
from harness import (raw_post, raise_nofile_limit, REF_RE, Server, ServerStartError, TestFailure, all_seats, check, eq, expect,  # noqa: E402
                     expect_error, natural, new_show, run, seat_key, short, unique_user)

PG_DIR = os.environ.get("BOXOFFICE_PG_DIR", "")
TEST_DB = os.environ.get("BOXOFFICE_TEST_DB", "")

SOCKET_TIMEOUT = 30.0
BARRIER_TIMEOUT = 120.0
RACE_CLIENTS = 1000
CACHE_POLL_S = 2.0          # NOTIFY must reach the other node within this
SWEEP_HOLDS = 60
RECOVERY_S = 10.0           # ready and booking again after a restart
LOAD_THREADS = 20
OUTAGE_GRACE_S = 0.5        # a request sent this long after the stop must not succeed
SPECS = {}                  # every test starts its own nodes

CLUSTER = None


def check_environment():
    """Everything the suite needs, or a list of problems (reported as failures)."""
    problems = []
    if not TEST_DB:
        problems.append("BOXOFFICE_TEST_DB is not set: it must be the postgres:// URL of a cluster made by "
                        "tests/pg/pg_cluster.sh start DIR (its DIR/url)")
    elif not TEST_DB.startswith("postgres"):
        problems.append("BOXOFFICE_TEST_DB=%r is not a postgres:// URL" % TEST_DB)
    if not PG_DIR:
        problems.append("BOXOFFICE_PG_DIR is not set: it must be the DIR given to tests/pg/pg_cluster.sh start DIR "
                        "(these tests stop and restart that cluster)")
    elif not os.path.isfile(os.path.join(PG_DIR, "data", "PG_VERSION")):
        problems.append("BOXOFFICE_PG_DIR=%s holds no cluster (no data/PG_VERSION)" % PG_DIR)
    if not os.access(os.path.join(PG_BIN, "pg_ctl"), os.X_OK):
        problems.append("%s/pg_ctl not found (PostgreSQL 15 server binaries)" % PG_BIN)
    if problems:
        return problems
    try:
        with open(os.path.join(PG_DIR, "url")) as f:
            dir_url = f.read().strip()
        a, b = urllib.parse.urlsplit(dir_url), urllib.parse.urlsplit(TEST_DB)
        if (a.hostname, a.port) != (b.hostname, b.port):
            problems.append("BOXOFFICE_TEST_DB (%s) is not the cluster of BOXOFFICE_PG_DIR (%s)" % (TEST_DB, dir_url))
    except OSError:
        pass  # no url file: trust the caller
    if not problems and not Cluster(PG_DIR, TEST_DB).running():
        problems.append("the cluster in %s is not running (start it with tests/pg/pg_cluster.sh start DIR)" % PG_DIR)
    if not harness.ON_POSTGRES:
        problems.append("harness did not pick up BOXOFFICE_TEST_DB")
    return problems


def _restore_cluster_at_exit():
    if CLUSTER is not None:
        problem = CLUSTER.ensure_running()
        if problem:
            print("# could not restart PostgreSQL at exit: %s" % problem)


# --------------------------------------------------------------------------
# nodes

@contextlib.contextmanager
def nodes(env, names, args=()):
    """Starts one boxoffice node per name on the shared database, all at
    once (they migrate under the advisory lock together); stops them all on
    the way out, whatever happened, and hands them to the runner, which
    reports whether each stopped cleanly."""
    servers = [Server(args=list(args), name=n) for n in names]
    errors = [None] * len(servers)

    def start(i):
        try:
            servers[i].start()
        except ServerStartError as e:
            errors[i] = e

    threads = [threading.Thread(target=start, args=(i,)) for i in range(len(servers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        for e in errors:
            if e is not None:
                raise e
        yield servers
    finally:
        for i, srv in enumerate(servers):
            if errors[i] is None:
                srv.stop()
                env.stopped.append(srv)


def metrics(srv):
    """GET /metrics -> {'name{labels}': value}."""
    st, hdrs, _, raw = srv.client(strict=False).get("/metrics")
    eq(st, 200, "GET /metrics on %s" % srv.name)
    out = {}
    for line in raw.decode("utf-8", "replace").splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^(\S+)\s+(\S+)$", line)
        try:
            value = float(m.group(2)) if m else None  # 9.5e-05, NaN and +Inf too
        except ValueError:
            value = None
        check(value is not None, "%s: unparsable metrics line %r" % (srv.name, line))
        out[m.group(1)] = value
    return out


def expired_total(srv):
    m = metrics(srv)
    check("boxoffice_holds_expired_total" in m, "%s: /metrics has no boxoffice_holds_expired_total" % srv.name)
    return int(m["boxoffice_holds_expired_total"])


def writes(srv, op, outcome):
    return int(metrics(srv).get('boxoffice_writes_total{op="%s",outcome="%s"}' % (op, outcome), 0))


def seat_map(c, sid, what):
    m = expect(c.get("/api/shows/%d" % sid), 200, what)
    check(isinstance(m, dict) and isinstance(m.get("seats"), dict), "%s: not a seat map: %s" % (what, short(m)))
    return m


def map_view(m):
    s = m["seats"]
    return (tuple(s["available"]), tuple(s["held"]), tuple(s["booked"]),
            m["availableSeats"], m["heldSeats"], m["bookedSeats"])


def wait_for_map(c, sid, want, what, timeout=CACHE_POLL_S):
    """Polls the seat map until want(map) is true; returns (map, seconds)."""
    t0 = time.monotonic()
    while True:
        m = seat_map(c, sid, what)
        if want(m):
            return m, time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise TestFailure("%s: still not as expected after %.1f s: held=%s booked=%s counts=%s"
                              % (what, timeout, short(m["seats"]["held"], 120), short(m["seats"]["booked"], 120),
                                 (m["availableSeats"], m["heldSeats"], m["bookedSeats"])))
        time.sleep(0.02)


def hold(c, user, sid, seats):
    return c.post("/api/bookings/hold", {"username": user, "showId": sid, "seats": seats})


def confirm(c, user, sid, seats):
    return c.post("/api/bookings/confirm", {"username": user, "showId": sid, "seats": seats})


def user_bookings(c, user, what):
    def fetch(path):
        resp = c.get(path)
        return expect(resp, 200, what), resp[1]
    return harness.all_pages(fetch, "/api/bookings/user?username=" + urllib.parse.quote(user), what)


# --------------------------------------------------------------------------
# raw concurrent clients (no retries: every answer is recorded as it came)

def run_threads(n, work, join_timeout):
    results = [None] * n

    def body(i):
        try:
            results[i] = work(i)
        except Exception as e:  # recorded and reported by the caller
            results[i] = ("exception", "%s: %s" % (type(e).__name__, e))

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
    deadline = time.monotonic() + join_timeout
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    stuck = sum(1 for t in threads if t.is_alive())
    check(stuck == 0, "%d client threads never finished" % stuck)
    return results


# --------------------------------------------------------------------------
# (a) the last seat, raced through two nodes

def test_race_two_nodes(env):
    limit = raise_nofile_limit()
    check(limit >= 2 * RACE_CLIENTS + 200, "RLIMIT_NOFILE %d is too low for %d clients" % (limit, RACE_CLIENTS))
    with nodes(env, ["race-A", "race-B"]) as (a, b):
        ca, cb = a.client(), b.client()
        show = new_show(ca, 2, 5)
        sid = show["showId"]
        seats = all_seats(2, 5)
        last = "B3"
        others = [s for s in seats if s != last]
        owner = unique_user("owner")
        expect(hold(cb, owner, sid, others), 200, "owner holds 9 of 10 seats on B")
        expect(confirm(ca, owner, sid, others), 200, "owner confirms them on A")
        # Warm both nodes' seat-map caches: the node that does not commit the
        # winning hold only learns about it through NOTIFY.
        for c, name in ((ca, "A"), (cb, "B")):
            m, _ = wait_for_map(c, sid, lambda m: list(m["seats"]["available"]) == [last],
                                "seat map on %s before the race" % name)
            eq(map_view(m), ((last,), (), tuple(others), 1, 0, 9), "seat map on %s before the race" % name)
        ok_before = writes(a, "hold", "OK") + writes(b, "hold", "OK")

        users = [unique_user("race%d" % i) for i in range(RACE_CLIENTS)]
        ports = [a.port if i % 2 == 0 else b.port for i in range(RACE_CLIENTS)]
        conns = []
        try:
            for i in range(RACE_CLIENTS):
                conn = http.client.HTTPConnection("127.0.0.1", ports[i], timeout=SOCKET_TIMEOUT)
                conn.connect()
                conns.append(conn)
        except OSError as e:
            for conn in conns:
                conn.close()
            raise TestFailure("could only open %d of %d connections: %s" % (len(conns), RACE_CLIENTS, e))
        barrier = threading.Barrier(RACE_CLIENTS)

        def work(i):
            try:
                barrier.wait(BARRIER_TIMEOUT)
                return raw_post(conns[i], "/api/bookings/hold", {"username": users[i], "showId": sid, "seats": [last]})
            finally:
                conns[i].close()

        results = run_threads(RACE_CLIENTS, work, BARRIER_TIMEOUT + 2 * SOCKET_TIMEOUT + 30)
        winners = [i for i, r in enumerate(results) if r[0] == 200]
        losers = [i for i, r in enumerate(results) if r[0] == 409 and error_code(r[2]) == "SEATS_UNAVAILABLE"
                  and r[2]["error"].get("seats") == [last]]
        odd = [(i, r) for i, r in enumerate(results) if r[0] != 200 and i not in set(losers)]
        check(not odd, "%d answers neither 200 nor 409 SEATS_UNAVAILABLE [%s], e.g. %s"
              % (len(odd), last, "; ".join("client %d on %s: %s" % (i, "A" if i % 2 == 0 else "B",
                                                                         short(repr(r), 200)) for i, r in odd[:5])))
        eq(len(winners), 1, "clients that got the last seat")
        eq(len(losers), RACE_CLIENTS - 1, "clients refused with 409 SEATS_UNAVAILABLE")
        for r in results:
            check(r[1].split(";")[0].strip() == "application/json", "Content-Type %r" % r[1])
        ok_after = writes(a, "hold", "OK") + writes(b, "hold", "OK")
        eq(ok_after - ok_before, 1, "sum over both nodes of boxoffice_writes_total{op=\"hold\",outcome=\"OK\"} "
                                    "during the race")

        w = winners[0]
        cart = results[w][2]
        eq(cart.get("status"), "STAGED", "winner's cart status")
        eq(cart.get("seats"), [last], "winner's cart seats")
        eq(cart.get("username"), users[w], "winner's cart username")
        check(isinstance(cart.get("bookingReference"), str) and REF_RE.match(cart["bookingReference"]),
              "winner's reference %r" % cart.get("bookingReference"))
        won_on, other = (a, b) if w % 2 == 0 else (b, a)
        want = ((), (last,), tuple(others), 0, 1, 9)
        views = {}
        for srv in (won_on, other):
            m, secs = wait_for_map(srv.client(), sid, lambda m: map_view(m) == want,
                                   "seat map on %s after the race (winner on %s)" % (srv.name, won_on.name))
            views[srv.name] = m
            info("race: %s shows the winner's hold after %.3f s" % (srv.name, secs))
        eq(views[a.name]["seats"], views[b.name]["seats"], "seat maps of A and B after the race")

        oc = other.client()
        booked = expect(confirm(oc, users[w], sid, [last]), 200,
                        "winner (held on %s) confirms on %s" % (won_on.name, other.name))
        eq(booked.get("status"), "CONFIRMED", "confirmed status")
        eq(booked.get("bookingReference"), cart["bookingReference"], "confirmed reference == cart reference")
        eq(booked.get("seats"), [last], "confirmed seats")
        full = ((), (), tuple(seats), 0, 0, 10)
        for srv in (other, won_on):
            wait_for_map(srv.client(), sid, lambda m: map_view(m) == full,
                         "seat map on %s after the confirm on %s" % (srv.name, other.name))
        # a loser on either node is still refused
        for srv in (a, b):
            expect_error(hold(srv.client(), users[(w + 1) % RACE_CLIENTS], sid, [last]), 409, "SEATS_UNAVAILABLE",
                         "a loser retries on %s after the confirm" % srv.name, seats=[last])


# --------------------------------------------------------------------------
# (b) one node holds, the other sees, confirms and releases

def test_cross_node_visibility(env):
    with nodes(env, ["vis-A", "vis-B"]) as (a, b):
        ca, cb = a.client(), b.client()
        show = new_show(cb, 4, 8)  # created through B, used through A
        sid = show["showId"]
        seats = all_seats(4, 8)
        wait_for_map(ca, sid, lambda m: m["availableSeats"] == 32, "fresh show on A")
        wait_for_map(cb, sid, lambda m: m["availableSeats"] == 32, "fresh show on B (cache warm)")

        alice = unique_user("alice")
        cart = expect(hold(ca, alice, sid, ["c4", "C5"]), 200, "alice holds C4 C5 on A")
        eq(cart.get("seats"), ["C4", "C5"], "alice's cart seats")
        ref = cart.get("bookingReference")
        check(isinstance(ref, str) and REF_RE.match(ref), "reference %r" % ref)

        m, secs = wait_for_map(cb, sid, lambda m: m["seats"]["held"] == ["C4", "C5"], "B's seat map after A's hold")
        info("visibility: B's cached seat map saw A's hold after %.3f s" % secs)
        eq(m["seats"]["available"], [s for s in seats if s not in ("C4", "C5")], "B's available seats")
        eq((m["availableSeats"], m["heldSeats"], m["bookedSeats"]), (30, 2, 0), "B's counts")

        lst = user_bookings(cb, alice, "alice's bookings on B")
        eq(len(lst), 1, "alice's bookings on B")
        eq(lst[0].get("bookingReference"), ref, "reference seen on B")
        eq(lst[0].get("status"), "STAGED", "status seen on B")
        eq(lst[0].get("seats"), ["C4", "C5"], "seats seen on B")
        eq(lst[0].get("expiresAt"), cart.get("expiresAt"), "expiresAt seen on B (one database clock)")
        d = expect(cb.get("/api/bookings/details?username=%s&booking_reference=%s" % (alice, ref)), 200,
                   "details of A's cart on B")
        eq(d.get("status"), "STAGED", "details status on B")

        # B may not hold what A gave alice
        bob = unique_user("bob")
        expect_error(hold(cb, bob, sid, ["C5", "C6"]), 409, "SEATS_UNAVAILABLE", "bob on B wants C5 C6",
                     seats=["C5"])

        done = expect(confirm(cb, alice, sid, ["C5", "C4"]), 200, "alice confirms on B")
        eq(done.get("status"), "CONFIRMED", "status after confirm on B")
        eq(done.get("bookingReference"), ref, "confirm on B keeps the cart's reference")
        eq(done.get("seats"), ["C4", "C5"], "confirmed seats")
        again = expect(confirm(ca, alice, sid, ["C4", "C5"]), 200, "alice retries the confirm on A")
        eq(again.get("bookingReference"), ref, "retry on A: same reference")
        wait_for_map(ca, sid, lambda m: m["seats"]["booked"] == ["C4", "C5"] and m["seats"]["held"] == [],
                     "A's seat map after the confirm on B")
        d = expect(ca.get("/api/bookings/details?username=%s&booking_reference=%s" % (alice, ref)), 200,
                   "details on A after the confirm on B")
        eq((d.get("status"), d.get("seats")), ("CONFIRMED", ["C4", "C5"]), "booking on A")

        carol = unique_user("carol")
        c2 = expect(hold(ca, carol, sid, ["D1", "D2", "D3"]), 200, "carol holds D1-D3 on A")
        ref2 = c2.get("bookingReference")
        wait_for_map(cb, sid, lambda m: m["seats"]["held"] == ["D1", "D2", "D3"], "B sees carol's hold")
        r = expect(cb.post("/api/bookings/release", {"username": carol, "showId": sid, "seats": ["D2"]}), 200,
                   "carol releases D2 on B")
        eq((r.get("status"), r.get("bookingReference"), r.get("seats")), ("STAGED", ref2, ["D1", "D3"]),
           "cart after releasing D2 on B")
        wait_for_map(ca, sid, lambda m: m["seats"]["held"] == ["D1", "D3"], "A after the partial release on B")
        r = expect(cb.post("/api/bookings/release", {"username": carol, "showId": sid}), 200,
                   "carol releases the rest on B")
        eq((r.get("status"), r.get("bookingReference"), r.get("seats")), ("CANCELLED", ref2, []),
           "cart after releasing everything on B")
        check(r.get("cancelledAt") is not None, "cancelledAt set after releasing everything: %s" % short(r))
        want = (tuple(s for s in seats if s not in ("C4", "C5")), (), ("C4", "C5"), 30, 0, 2)
        for c, name in ((ca, "A"), (cb, "B")):
            wait_for_map(c, sid, lambda m: map_view(m) == want, "final seat map on %s" % name)
        # and the freed seats are holdable through A at once
        expect(hold(ca, bob, sid, ["D2"]), 200, "bob holds the released D2 on A")
        expect(cb.post("/api/bookings/release", {"username": bob, "showId": sid}), 200, "bob releases on B")


# --------------------------------------------------------------------------
# (c) the sweeper frees every expired hold exactly once across nodes

def test_sweeper_exactly_once(env):
    with nodes(env, ["sweep-A", "sweep-B"], ["--hold-ttl", "1"]) as (a, b):
        ca, cb = a.client(), b.client()
        show = new_show(ca, 6, 10)
        sid = show["showId"]
        seats = all_seats(6, 10)[:SWEEP_HOLDS]
        check(len(seats) == SWEEP_HOLDS, "enough seats")
        time.sleep(0.5)  # each node sweeps once at start; let that settle before counting
        before = {a.name: expired_total(a), b.name: expired_total(b)}
        time.sleep(0.3)
        eq({a.name: expired_total(a), b.name: expired_total(b)}, before,
           "expired counters are quiet before the test (is something else using this database?)")
        users = [unique_user("sweep%d" % i) for i in range(SWEEP_HOLDS)]
        refs = {}
        t0 = time.monotonic()
        for i, seat in enumerate(seats):
            c = ca if i % 2 == 0 else cb
            cart = expect(hold(c, users[i], sid, [seat]), 200, "hold %s on %s" % (seat, "A" if i % 2 == 0 else "B"))
            eq(cart.get("seats"), [seat], "cart of %s" % users[i])
            refs[users[i]] = cart["bookingReference"]
        info("sweeper: %d holds made in %.2f s" % (SWEEP_HOLDS, time.monotonic() - t0))
        for c, name in ((ca, "A"), (cb, "B")):
            m = seat_map(c, sid, "seat map on %s right after the holds" % name)
            check(m["heldSeats"] > 0, "%s shows no held seat right after the holds (TTL 1 s): %s"
                  % (name, short(m["seats"]["held"])))
        # Real time, not the test clock: what is tested is the sweeper
        # threads of two running servers, and a served boxoffice has no
        # test clock (only the store's configuration takes one).
        time.sleep(3.0)
        deadline = time.monotonic() + 4.0
        while True:
            after = {a.name: expired_total(a), b.name: expired_total(b)}
            total = sum(after[k] - before[k] for k in after)
            if total >= SWEEP_HOLDS or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        time.sleep(0.5)  # anything counted twice would show up now
        after = {a.name: expired_total(a), b.name: expired_total(b)}
        deltas = {k: after[k] - before[k] for k in after}
        info("sweeper: expired per node %s" % deltas)
        eq(sum(deltas.values()), SWEEP_HOLDS, "sum of boxoffice_holds_expired_total deltas over both nodes %s"
           % deltas)
        want = (tuple(all_seats(6, 10)), (), (), 60, 0, 0)
        for c, name in ((ca, "A"), (cb, "B")):
            m = seat_map(c, sid, "seat map on %s after expiry" % name)
            eq(map_view(m), want, "seat map on %s after expiry" % name)
        for i in (0, 1, SWEEP_HOLDS - 1):
            lst = user_bookings(cb if i % 2 == 0 else ca, users[i], "bookings of %s" % users[i])
            eq([(x.get("bookingReference"), x.get("status")) for x in lst], [(refs[users[i]], "EXPIRED")],
               "bookings of %s on the other node" % users[i])
        # the expired seats can be held again, through either node
        expect(hold(cb, users[0], sid, [seats[1]]), 200, "hold an expired seat again on B")
        expect(ca.post("/api/bookings/release", {"username": users[0], "showId": sid}), 200, "release it on A")


# --------------------------------------------------------------------------
# (d, e) the database goes away under load and comes back

class Rec:
    __slots__ = ("op", "user", "seat", "sent", "recv", "status", "code", "body", "error")

    def __init__(self, op, user, seat):
        self.op, self.user, self.seat = op, user, seat
        self.sent = self.recv = None
        self.status = self.code = self.body = self.error = None

    def __repr__(self):
        return "%s %s %s -> %s %s%s" % (self.op, self.user, self.seat, self.status, self.code or "",
                                        (" error " + self.error) if self.error else "")


def load_worker(port, user, sid, seats, stop, log):
    """hold -> confirm, one seat at a time, every answer recorded. A failed
    hold is retried on the same seat (a retry is harmless); after a failed
    confirm the worker moves on (its next confirm releases whatever the cart
    still holds)."""
    conn = [None]

    def send(op, seat):
        r = Rec(op, user, seat)
        try:
            if conn[0] is None:
                conn[0] = http.client.HTTPConnection("127.0.0.1", port, timeout=SOCKET_TIMEOUT)
            r.sent = time.monotonic()
            st, ctype, body, raw = raw_post(conn[0], "/api/bookings/" + op,
                                            {"username": user, "showId": sid, "seats": [seat]})
            r.recv = time.monotonic()
            r.status, r.body, r.code = st, body, error_code(body)
            if ctype.split(";")[0].strip() != "application/json" or body is None:
                r.error = "not JSON (%r): %s" % (ctype, short(raw, 100))
        except (OSError, http.client.HTTPException) as e:
            r.recv = time.monotonic()
            r.error = "%s: %s" % (type(e).__name__, e)
            if conn[0] is not None:
                conn[0].close()
            conn[0] = None
        log.append(r)
        if r.status != 200:
            time.sleep(0.02)
        return r.status == 200

    i = 0
    while i < len(seats) and not stop.is_set():
        if not send("hold", seats[i]):
            continue
        send("confirm", seats[i])
        i += 1
    if conn[0] is not None:
        conn[0].close()


def outage_scenario(env, mode, name):
    sid_users = []
    # Each load thread is one user retrying at once through the outage, far
    # beyond the per-username write limit (20/s, burst 40) a person meets,
    # so that it would answer 429: off for this test of outages.
    with nodes(env, [name + "-A", name + "-B"], args=["--write-rate-per-user", "0"]) as (srv, other):
        c = srv.client()
        rows, per_row = 100, 100  # enough seats that no load thread runs out
        show = new_show(c, rows, per_row)
        sid = show["showId"]
        seat_map(other.client(), sid, "warm B's seat-map cache")
        total = rows * per_row
        seats = all_seats(rows, per_row)
        probe_seats = seats[-10:]
        pools = [seats[i:len(seats) - 10:LOAD_THREADS] for i in range(LOAD_THREADS)]
        users = [unique_user("load%d" % i) for i in range(LOAD_THREADS)]
        probe = unique_user("probe")
        sid_users.extend(users + [probe])
        logs = [[] for _ in range(LOAD_THREADS)]
        stop = threading.Event()
        threads = [threading.Thread(target=load_worker, args=(srv.port, users[i], sid, pools[i], stop, logs[i]),
                                    daemon=True) for i in range(LOAD_THREADS)]
        marks = {}
        restarted = False
        try:
            for t in threads:
                t.start()
            time.sleep(2.5)
            CLUSTER.read_options()
            marks["stop_begin"] = time.monotonic()
            CLUSTER.stop(mode)
            marks["stop_done"] = time.monotonic()
            check(srv.alive(), "%s died when PostgreSQL stopped (-m %s):\n%s" % (name, mode, srv.log_tail()))
            time.sleep(OUTAGE_GRACE_S + 0.1)
            pc = srv.client()
            r = pc.get("/readyz")
            expect_error(r, 503, "UNAVAILABLE", "/readyz while PostgreSQL is down")
            expect(pc.get("/healthz"), 200, "/healthz while PostgreSQL is down")
            expect_error(hold(pc, probe, sid, probe_seats[:1]), 503, "UNAVAILABLE", "a hold while PostgreSQL is down")
            expect_error(confirm(pc, probe, sid, probe_seats[:1]), 503, "UNAVAILABLE",
                         "a confirm while PostgreSQL is down")
            st = pc.get("/api/bookings/user?username=" + probe)
            check(st[0] in (200, 503), "bookings of a user while down: %d %s" % (st[0], short(st[3])))
            if st[0] == 503:
                expect_error(st, 503, "UNAVAILABLE", "bookings of a user while down")
            left = marks["stop_done"] + 2.0 - time.monotonic()
            if left > 0:
                time.sleep(left)
            marks["restart_begin"] = time.monotonic()
            CLUSTER.start()
            restarted = True
            marks["restart_done"] = time.monotonic()
            t_ready = t_hold = None
            while time.monotonic() - marks["restart_done"] < RECOVERY_S:
                if pc.get("/readyz", headers=None)[0] == 200:
                    t_ready = time.monotonic() - marks["restart_done"]
                    break
                time.sleep(0.05)
            check(t_ready is not None, "/readyz not 200 within %.0f s of the restart" % RECOVERY_S)
            last = None
            while time.monotonic() - marks["restart_done"] < RECOVERY_S:
                last = hold(pc, probe, sid, probe_seats[:2])
                if last[0] == 200:
                    t_hold = time.monotonic() - marks["restart_done"]
                    break
                expect_error(last, 503, "UNAVAILABLE", "a hold while the node reconnects")
                time.sleep(0.05)
            check(t_hold is not None, "no successful hold within %.0f s of the restart: %s"
                  % (RECOVERY_S, short(last[3]) if last else None))
            pconf = expect(confirm(pc, probe, sid, probe_seats[:2]), 200, "confirm after the restart")
            eq(pconf.get("status"), "CONFIRMED", "probe booking status")
            info("%s: ready %.2f s and holding %.2f s after PostgreSQL was back" % (name, t_ready, t_hold))
            time.sleep(2.5)  # the load keeps going on the recovered database
        finally:
            stop.set()
            for t in threads:
                t.join(SOCKET_TIMEOUT + 5)
            if not restarted and CLUSTER is not None:
                problem = CLUSTER.ensure_running()
                if problem:
                    info("could not restart PostgreSQL: %s" % problem)
        check(not any(t.is_alive() for t in threads), "load threads did not finish")
        check(srv.alive(), "%s is no longer running:\n%s" % (name, srv.log_tail()))

        recs = [r for log in logs for r in log]
        stop_begin, stop_done = marks["stop_begin"], marks["stop_done"]
        restart_begin, restart_done = marks["restart_begin"], marks["restart_done"]
        bad = [r for r in recs if r.error is None and r.status not in (200, 503)]
        check(not bad, "%d answers neither 200 nor 503, e.g. %s" % (len(bad), bad[:5]))
        bad = [r for r in recs if r.status == 503 and (r.code != "UNAVAILABLE" or r.error)]
        check(not bad, "%d 503 answers without a JSON UNAVAILABLE error, e.g. %s" % (len(bad), bad[:5]))
        bad = [r for r in recs if r.error is not None and r.status is not None]
        check(not bad, "%d answers that are not JSON, e.g. %s" % (len(bad), bad[:5]))
        early = [r for r in recs if r.recv < stop_begin and r.status != 200]
        check(not early, "%d failures before PostgreSQL was stopped, e.g. %s" % (len(early), early[:5]))
        late_ok = [r for r in recs if r.status == 200 and stop_done + OUTAGE_GRACE_S < r.sent < restart_begin]
        check(not late_ok, "%d successes for requests sent while PostgreSQL was down, e.g. %s"
              % (len(late_ok), late_ok[:5]))
        during = [r for r in recs if stop_done < r.sent < restart_begin]
        check(len(during) >= LOAD_THREADS, "only %d requests were sent while PostgreSQL was down" % len(during))
        refused = sum(1 for r in during if r.status == 503)
        dropped = sum(1 for r in recs if r.status is None)
        after_ok = [r for r in recs if r.status == 200 and r.sent > restart_done]
        check(after_ok, "the load got no 200 after PostgreSQL came back; last answers: %s; per thread %s; "
              "marks %s" % ([(round(r.sent - restart_done, 2), r) for r in sorted(recs, key=lambda r: r.sent)[-5:]],
                            [len(log) for log in logs], {k: round(v - stop_begin, 2) for k, v in marks.items()}))
        info("%s: %d requests, %d sent while down (%d x 503), %d dropped connections overall, %d x 200 after "
             "the restart" % (name, len(recs), len(during), refused, dropped, len(after_ok)))

        # invariants over the show, through the API
        acked = {}
        for r in recs:
            if r.op == "confirm" and r.status == 200:
                b = r.body
                eq((b.get("status"), b.get("seats"), b.get("username")), ("CONFIRMED", [r.seat], r.user),
                   "acknowledged confirm of %s" % r.seat)
                acked[r.seat] = b.get("bookingReference")
        acked[probe_seats[0]] = pconf["bookingReference"]
        acked[probe_seats[1]] = pconf["bookingReference"]
        m = seat_map(c, sid, "seat map after the outage")
        av, held, booked = m["seats"]["available"], m["seats"]["held"], m["seats"]["booked"]
        eq((m["availableSeats"], m["heldSeats"], m["bookedSeats"]), (len(av), len(held), len(booked)),
           "counts match the lists")
        eq(len(av) + len(held) + len(booked), total, "available + held + booked")
        eq(sorted(av + held + booked, key=seat_key), seats, "every seat exactly once in the seat map")
        missing = sorted(set(acked) - set(booked), key=seat_key)
        check(not missing, "seats acknowledged CONFIRMED but not BOOKED: %s" % missing[:20])
        owner = {}
        staged = set()
        for u in users + [probe]:
            for bk in user_bookings(c, u, "bookings of %s" % u):
                if bk.get("showId") != sid:
                    continue
                if bk.get("status") == "CONFIRMED":
                    for s in bk.get("seats", []):
                        check(s not in owner, "seat %s in two confirmed bookings: %s and %s"
                              % (s, owner.get(s), bk.get("bookingReference")))
                        owner[s] = bk.get("bookingReference")
                elif bk.get("status") == "STAGED":
                    staged.update(bk.get("seats", []))
        eq(natural(owner), booked, "seats of the confirmed bookings == BOOKED seats")
        eq(natural(staged), held, "seats of the STAGED carts == HELD seats")
        for s, ref in acked.items():
            eq(owner.get(s), ref, "booking that holds acknowledged seat %s" % s)
        # give back what the load left held
        for u in users:
            st = c.post("/api/bookings/release", {"username": u, "showId": sid})
            check(st[0] in (200, 404), "release %s: %d %s" % (u, st[0], short(st[3])))
        m = seat_map(c, sid, "seat map after the releases")
        eq(m["heldSeats"], 0, "held seats after the releases")
        eq(m["bookedSeats"], len(booked), "booked seats after the releases")

        # node B (idle through the outage) recovered too, and NOTIFY reaches it again
        check(other.alive(), "idle node B died:\n%s" % other.log_tail())
        cb = other.client()
        t0 = time.monotonic()
        b_errors = []
        while True:
            r = cb.get("/readyz")
            if r[0] == 200:
                break
            b_errors.append(r[0])
            check(time.monotonic() - t0 < RECOVERY_S, "idle node B not ready %.0f s after the restart: %s"
                  % (RECOVERY_S, short(r[3])))
            time.sleep(0.05)
        want = map_view(m)
        mb, _ = wait_for_map(cb, sid, lambda x: map_view(x) == want, "B's seat map after the outage")
        late = unique_user("late")
        expect(hold(c, late, sid, [probe_seats[5]]), 200, "a hold on A after the outage")
        wait_for_map(cb, sid, lambda x: x["seats"]["held"] == [probe_seats[5]],
                     "B sees A's hold after the outage (NOTIFY)")
        expect(cb.post("/api/bookings/release", {"username": late, "showId": sid}), 200, "released on B")
        wait_for_map(c, sid, lambda x: x["seats"]["held"] == [], "A sees B's release after the outage (NOTIFY)")
        if b_errors:
            info("%s: idle node B answered /readyz %s before it was ready again" % (name, b_errors))


def test_outage_immediate(env):
    outage_scenario(env, "immediate", "outage-immediate")


def test_outage_fast(env):
    outage_scenario(env, "fast", "outage-fast")


def test_cluster_running_at_end(env):
    problem = CLUSTER.ensure_running()
    check(problem is None, "PostgreSQL could not be restarted: %s" % problem)
    with nodes(env, ["final"]) as (srv,):
        c = srv.client()
        expect(c.get("/readyz"), 200, "/readyz at the end")


TESTS = [
    ("two nodes, 1000 clients race for the last seat: one winner, caches agree, confirm on the other node",
     test_race_two_nodes),
    ("a hold on node A is seen, confirmed and released on node B", test_cross_node_visibility),
    ("the sweepers of two nodes expire every hold exactly once", test_sweeper_exactly_once),
    ("PostgreSQL stopped (-m immediate) under load: 503s, no crash, recovery, invariants", test_outage_immediate),
    ("PostgreSQL stopped (-m fast) under load: 503s, no crash, recovery, invariants", test_outage_fast),
    ("PostgreSQL is running and serving at the end", test_cluster_running_at_end),
]


def main():
    global CLUSTER
    problems = check_environment()
    if problems:
        print("# multi-node tests (server %s)" % harness.BIN)
        for p in problems:
            print("FAIL - environment: %s" % p)
        print("0 passed, %d failed" % len(problems))
        sys.exit(1)
    CLUSTER = Cluster(PG_DIR, TEST_DB)
    CLUSTER.read_options()
    atexit.register(_restore_cluster_at_exit)
    only = os.environ.get("BOXOFFICE_TEST_ONLY", "")  # a substring of test names, for development
    tests = [t for t in TESTS if only in t[0] or t[1] is test_cluster_running_at_end]
    run(tests, SPECS, title="multi-node tests on %s" % TEST_DB)


if __name__ == "__main__":
    main()
