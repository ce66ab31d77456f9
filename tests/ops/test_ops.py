#!/usr/bin/python3
"""test_ops.py - operating boxoffice: backup and restore under load,
upgrades from the previous release's schema, install, the man page, and
self-contained docs.

Run from the repository root:  /usr/bin/python3 tests/ops/test_ops.py
(BOXOFFICE_BIN selects the binary; with BOXOFFICE_TEST_DB=postgres://...
the schema-version refusal is checked on PostgreSQL too). The last line is
"N passed, M failed".
"""

import glob
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True  # keep the source tree clean
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "http"))
sys.path.insert(0, os.path.join(ROOT, "tests", "events"))

from harness import (BIN, ON_POSTGRES, TEST_DB, Server, TestFailure, check, eq, expect,  # noqa: E402
                     new_show, run, short, unique_user)
from servers import info  # noqa: E402
from sse import SSE, StreamEnded  # noqa: E402

FIXTURE_V2 = os.path.join(HERE, "fixtures", "sqlite-v2.sql")
LOAD_THREADS = 6
CMD_TIMEOUT = 60


def sh(args, timeout=CMD_TIMEOUT, **kw):
    """Runs a command; returns (exit code, stdout + stderr as text)."""
    p = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, **kw)
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


def verify(db):
    rc, out = sh([BIN, "verify", "--db", db])
    check(rc == 0, "boxoffice verify --db %s exited %d:\n%s" % (db, rc, out))
    check(re.search(r"^\d+ checks, 0 failed$", out, re.M), "verify output: %s" % short(out))


STARTED = []  # every server of this suite, checked for sanitizer reports at the end


class OpsServer(Server):
    def start(self):
        STARTED.append(self)
        return super().start()


class FileServer(OpsServer):
    """A server on a SQLite file of the test's choosing, which outlives it
    (the harness's Server removes its own directory, database included)."""

    def __init__(self, path, args=(), **kw):
        super().__init__(args=args, **kw)
        self.path = path

    @property
    def db_path(self):
        return self.path

    @property
    def db(self):
        return "sqlite:" + self.path


def get_json(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw.decode()) if raw else None
    finally:
        conn.close()


def details(port, user, ref):
    return get_json(port, "/api/bookings/details?" + urllib.parse.urlencode(
        {"username": user, "booking_reference": ref}))


# --------------------------------------------------------------------------
# write load: threads that hold and confirm one seat at a time

def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        check(time.monotonic() < deadline, "timed out waiting for %s" % what)
        time.sleep(0.05)


class Load:
    """LOAD_THREADS clients, each its own user, show and keep-alive
    connection, booking one seat after another (hold, then confirm).
    Every request is logged with the moment it started and the moment its
    answer (or error) came: (t_start, t_end, user, op, seat, status, body)."""

    def __init__(self, port, shows):
        self.port = port
        self.shows = shows
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.log = []
        self.errors = []
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(len(shows))]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=60)

    def _post(self, conn, path, body):
        data = json.dumps(body).encode()
        conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
        try:
            parsed = json.loads(raw.decode())
        except ValueError:
            parsed = None
        return resp.status, parsed

    def _run(self, i):
        show = self.shows[i]
        seats = ["%s%d" % (chr(65 + r), n) for r in range(show["rows"])
                 for n in range(1, show["seatsPerRow"] + 1)]
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            for seat in seats:
                if self.stop_flag.is_set():
                    return
                # A buyer per seat, as in an on-sale: one user writing this
                # fast would meet the per-username write limit (20/s, burst 40).
                user = unique_user("load%d" % i)
                for op in ("hold", "confirm"):
                    t0 = time.monotonic()
                    try:
                        st, body = self._post(conn, "/api/bookings/" + op,
                                              {"username": user, "showId": show["showId"], "seats": [seat]})
                    except (OSError, http.client.HTTPException) as e:
                        with self.lock:
                            self.errors.append("%s %s %s: %s" % (user, op, seat, e))
                        return
                    with self.lock:
                        self.log.append((t0, time.monotonic(), user, op, seat, st, body))
        finally:
            conn.close()

    def confirmed(self):
        """Acknowledged confirms: (t_start, t_end, user, seat, reference)."""
        out = []
        with self.lock:
            log = list(self.log)
        for t0, t1, user, op, seat, st, body in log:
            if op == "confirm" and st == 200:
                out.append((t0, t1, user, seat, body["bookingReference"]))
        return out


def load_shows(c, n=LOAD_THREADS):
    # 2,600 seats per client: on a quiet machine a client books about a
    # thousand a second, and the load must outlast what the tests wait
    # for (200 seats sold out before a backup had finished).
    return [new_show(c, 26, 100) for _ in range(n)]


# --------------------------------------------------------------------------
# backup and restore

def test_backup_under_load(env):
    """A backup taken while clients book holds every booking acknowledged
    before it started; it passes verify; restored (over the original, the
    server stopped) the server finds every such booking."""
    tmp = tempfile.mkdtemp(prefix="boxoffice-ops-")
    try:
        db = os.path.join(tmp, "live.db")
        copy = os.path.join(tmp, "copy.db")
        srv = FileServer(db, args=["--no-demo"], name="backup").start()
        try:
            load = Load(srv.port, load_shows(srv.client())).start()
            # Load first (a slow machine gets there later, not never) ...
            time.sleep(0.6)
            wait_for(lambda: len(load.confirmed()) >= 30, 30, "30 bookings before the backup")
            t_backup = time.monotonic()
            rc, out = sh([BIN, "backup", "--db", "sqlite:" + db, copy])
            t_done = time.monotonic()
            # ... and after the backup too.
            wait_for(lambda: any(a[0] > t_done for a in load.confirmed()), 30, "a booking after the backup")
            # A restore onto the database a server is running on is refused.
            rc2, out2 = sh([BIN, "restore", "--db", "sqlite:" + db, copy])
            load.stop()
        finally:
            srv.stop()
        check(rc == 0, "backup under load exited %d: %s" % (rc, out))
        check(not load.errors, "load errors: %s" % load.errors[:3])
        check(rc2 != 0 and "in use" in out2, "restore onto a serving database: exit %d, %s" % (rc2, short(out2)))
        eq(srv.verify_report, "", "verify of the live database")
        verify("sqlite:" + copy)

        acked = load.confirmed()
        before = [a for a in acked if a[1] < t_backup]
        after = [a for a in acked if a[0] > t_done]
        info("backup under load: %.2f s, %d bookings acknowledged before it, %d started after it"
             % (t_done - t_backup, len(before), len(after)))
        check(len(before) >= 20, "only %d bookings acknowledged before the backup" % len(before))
        check(len(after) >= 1, "no booking made after the backup (%d in all)" % len(acked))

        rc, out = sh([BIN, "restore", "--db", "sqlite:" + db, copy])
        check(rc == 0, "restore exited %d: %s" % (rc, out))
        verify("sqlite:" + db)
        srv2 = FileServer(db, args=["--no-demo"], name="restored").start()
        try:
            for _, _, user, seat, ref in before:
                st, body = details(srv2.port, user, ref)
                check(st == 200 and body["status"] == "CONFIRMED" and body["seats"] == [seat],
                      "booking %s of %s (acknowledged before the backup) after restore: %d %s"
                      % (ref, user, st, short(body)))
            for _, _, user, seat, ref in after:
                st, body = details(srv2.port, user, ref)
                eq(st, 404, "booking %s started after the backup ended, after restore" % ref)
        finally:
            srv2.stop()
        eq(srv2.verify_report, "", "verify after restore")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_backup_restore_refusals(env):
    tmp = tempfile.mkdtemp(prefix="boxoffice-ops-")
    try:
        db = os.path.join(tmp, "a.db")
        rc, out = sh([BIN, "migrate", "--db", "sqlite:" + db])
        check(rc == 0, "migrate: %s" % out)
        cases = [
            (["backup", "--db", "postgres://u@127.0.0.1:1/x", os.path.join(tmp, "f")], 2, "pg_dump"),
            (["restore", "--db", "postgres://u@127.0.0.1:1/x", os.path.join(tmp, "f")], 2, "pg_basebackup"),
            (["backup", "--db", "sqlite:" + db, db], 2, "database itself"),
            (["backup", "--db", "sqlite:" + db], 2, "FILE"),
            (["backup", "--db", "sqlite:" + os.path.join(tmp, "missing.db"), os.path.join(tmp, "f")], 1, "missing.db"),
        ]
        junk = os.path.join(tmp, "junk.db")
        with open(junk, "w") as f:
            f.write("not a database\n" * 100)
        cases.append((["restore", "--db", "sqlite:" + os.path.join(tmp, "r.db"), junk], 2, "not an intact"))
        empty = os.path.join(tmp, "empty.db")
        sqlite3.connect(empty).execute("CREATE TABLE t (x)").connection.commit()
        cases.append((["restore", "--db", "sqlite:" + os.path.join(tmp, "r.db"), empty], 2,
                      "not a boxoffice database"))
        newer = os.path.join(tmp, "newer.db")
        shutil.copy(db, newer)
        con = sqlite3.connect(newer)
        con.execute("PRAGMA user_version = 999")
        con.commit()
        con.close()
        cases.append((["restore", "--db", "sqlite:" + os.path.join(tmp, "r.db"), newer], 2, "schema version 999"))
        for args, code, words in cases:
            rc, out = sh([BIN] + args)
            eq(rc, code, "exit code of boxoffice %s (%s)" % (" ".join(args), short(out)))
            check(words in out, "boxoffice %s: expected %r in %r" % (" ".join(args), words, out))
        check(not os.path.exists(os.path.join(tmp, "r.db")), "a refused restore created the database")
        check(not glob.glob(os.path.join(tmp, "*.tmp-*")), "a backup left a temporary file")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------
# graceful shutdown

SHUTDOWN_TIMEOUT_S = 5
EXIT_MARGIN_S = 3  # process start-up of the exit path on a loaded machine


def shutdown_server(name, extra=()):
    """A server on a database that outlives it: a file of our own on SQLite,
    the shared database on PostgreSQL."""
    args = ["--no-demo", "--shutdown-timeout", str(SHUTDOWN_TIMEOUT_S), "--log-level", "info"] + list(extra)
    if ON_POSTGRES:
        return OpsServer(args=args, name=name), None
    tmp = tempfile.mkdtemp(prefix="boxoffice-ops-")
    return FileServer(os.path.join(tmp, "live.db"), args=args, name=name), tmp


def sigterm_and_wait(srv, bound):
    """SIGTERM; returns (exit code or None, seconds to exit)."""
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    try:
        code = srv.proc.wait(timeout=bound + 10)
    except subprocess.TimeoutExpired:
        srv.proc.kill()
        srv.proc.wait()
        code = None
    return code, time.monotonic() - t0


class Writers:
    """Clients that book seats on keep-alive connections until the server is
    gone, logging every request: (t_sent, op, user, show, seat, status or
    None, error or None). t_sent is taken once the request's bytes are in
    the socket; after a lost connection a client reconnects, and stops when
    the connection is refused."""

    def __init__(self, port, shows):
        self.port = port
        self.shows = shows
        self.log = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(len(shows))]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def join(self, timeout):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        return all(not t.is_alive() for t in self.threads)

    def _run(self, i):
        show = self.shows[i]
        seats = ["%s%d" % (chr(65 + r), n) for r in range(show["rows"]) for n in range(1, show["seatsPerRow"] + 1)]
        conn = None
        for seat in seats:
            # A buyer per seat, as in an on-sale: one user writing this
            # fast would meet the per-username write limit (20/s, burst 40).
            user = unique_user("sd%d" % i)
            for op in ("hold", "confirm"):
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                    try:
                        conn.connect()
                    except OSError:
                        return  # refused: the server is gone
                data = json.dumps({"username": user, "showId": show["showId"], "seats": [seat]}).encode()
                t_sent, status, err = None, None, None
                try:
                    conn.request("POST", "/api/bookings/" + op, body=data,
                                 headers={"Content-Type": "application/json"})
                    t_sent = time.monotonic()
                    resp = conn.getresponse()
                    resp.read()
                    status = resp.status
                    if resp.will_close:
                        conn.close()
                        conn = None
                except (OSError, http.client.HTTPException) as e:
                    err = type(e).__name__
                    conn.close()
                    conn = None
                with self.lock:
                    self.log.append((t_sent, op, user, show["showId"], seat, status, err))
                if err is not None:
                    break  # this seat is in doubt: the next one, on a new connection


def test_shutdown_under_load(env):
    """SIGTERM while clients write: every request sent before the signal is
    answered (200, or 503 once writes are refused), later ones are answered
    or refused at the connection; the process exits 0 within
    --shutdown-timeout; every acknowledged booking is there after a restart
    and boxoffice verify passes."""
    srv, tmp = shutdown_server("shutdown")
    try:
        srv.start()
        writers = Writers(srv.port, load_shows(srv.client())).start()
        time.sleep(0.8)
        wait_for(lambda: len(writers.log) >= 60, 30, "60 requests before the signal")
        t_sig = time.monotonic()
        code, took = sigterm_and_wait(srv, SHUTDOWN_TIMEOUT_S)
        check(writers.join(30), "writer threads still running 30 s after the server exited")
        log = srv.log_tail(20000)
        srv.stop()
        eq(code, 0, "exit code after SIGTERM under load")
        check(took < SHUTDOWN_TIMEOUT_S + EXIT_MARGIN_S,
              "exit took %.1f s, bound %d s + %d s margin" % (took, SHUTDOWN_TIMEOUT_S, EXIT_MARGIN_S))
        eq(srv.verify_report, "", "verify after the stop")
        check(re.search(r"msg=stopped .*requests_cut=0", log), "the log does not say stopped, 0 cut:\n" + log[-2000:])

        before = [e for e in writers.log if e[0] is not None and e[0] < t_sig]
        info("shutdown under load: %d requests before SIGTERM, %d after, exit %s in %.2f s"
             % (len(before), len(writers.log) - len(before), code, took))
        check(len(before) >= 30, "only %d requests before the signal" % len(before))
        bad = [e for e in before if e[5] not in (200, 503)]
        eq(bad[:5], [], "requests sent before the signal without a clean answer")
        after = [e for e in writers.log if e not in before]
        odd = [e for e in after if e[5] not in (None, 200, 503)]
        eq(odd[:5], [], "requests after the signal with an unexpected answer")

        # Every acknowledged confirm survives a restart; nothing else is booked
        # except seats whose confirm got no answer.
        acked = {}
        doubt = set()
        for t_sent, op, user, show, seat, st, err in writers.log:
            if op == "confirm" and st == 200:
                acked.setdefault(show, set()).add(seat)
            elif op == "confirm" and st is None:
                doubt.add((show, seat))
        check(sum(len(v) for v in acked.values()) >= 10, "too few acknowledged confirms: %r" % acked)
        srv2 = FileServer(srv.path, args=["--no-demo"], name="after-shutdown") if not ON_POSTGRES \
            else OpsServer(args=["--no-demo"], name="after-shutdown")
        srv2.start()
        try:
            c = srv2.client()
            for show in writers.shows:
                m = expect(c.get("/api/shows/%d" % show["showId"]), 200, "seat map after the restart")
                booked = set(m["seats"]["booked"])
                want = acked.get(show["showId"], set())
                eq(sorted(want - booked), [], "acknowledged bookings missing after the restart")
                extra = {(show["showId"], s) for s in booked - want}
                eq(sorted(extra - doubt), [], "seats booked that no confirm asked for")
        finally:
            srv2.stop()
        eq(srv2.verify_report, "", "verify after the restart")
    finally:
        srv.stop()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def test_shutdown_ends_event_streams(env):
    """SIGTERM with event streams open: /metrics counted the viewers; each
    stream ends with a retry: hint (a block without data, so no event),
    then the body ends; the process exits 0 well within the bound."""
    srv, tmp = shutdown_server("sse")
    try:
        srv.start()
        c = srv.client()
        show = new_show(c, 2, 5)
        streams = [SSE(srv.port, "/api/shows/%d/events" % show["showId"]) for _ in range(3)]
        for st in streams:
            eq(st.status, 200, "event stream status")
            ev = st.next_event()
            while ev["event"] != "snapshot":
                ev = st.next_event()
        raw_client = srv.client(strict=False)
        samples = parse_metrics(raw_client.request("GET", "/metrics")[3].decode())
        raw_client.close()
        c.close()
        eq(metric(samples, "boxoffice_sse_viewers"), 3.0, "boxoffice_sse_viewers with 3 streams open")
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        for i, st in enumerate(streams):
            retry = None
            try:
                while True:
                    ev = st.next_event(timeout=SHUTDOWN_TIMEOUT_S)
                    if ev["retry"] is not None:
                        retry = ev
            except StreamEnded:
                pass
            check(retry is not None, "stream %d ended without a retry: hint" % i)
            check(int(retry["retry"]) > 0 and retry["data"] is None and retry["event"] is None,
                  "the last block: %r" % retry)
            check(st.ended, "stream %d: the chunked body did not end" % i)
            st.close()
        code = srv.proc.wait(timeout=SHUTDOWN_TIMEOUT_S + EXIT_MARGIN_S)
        took = time.monotonic() - t0
        eq(code, 0, "exit code")
        check(took < SHUTDOWN_TIMEOUT_S, "open streams held the stop for %.1f s" % took)
        srv.stop()
        eq(srv.verify_report, "", "verify")
    finally:
        srv.stop()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def raw_request(sock, text):
    sock.sendall(text.encode() if isinstance(text, str) else text)


def read_answer(sock, timeout=10):
    """One whole HTTP answer (Content-Length bodies): (status, headers, body)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise TestFailure("connection closed before an answer (got %r)" % data[:200])
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(body) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def test_shutdown_drains_in_flight(env):
    """After SIGTERM: no new connection is accepted; /readyz on an open
    connection is 503 with Connection: close; a request whose body was
    still arriving is finished and answered 200; then the process exits 0."""
    srv, tmp = shutdown_server("drain")
    try:
        srv.start()
        show = new_show(srv.client(), 2, 5)
        body = json.dumps({"username": unique_user("slow"), "showId": show["showId"], "seats": ["A1"]}).encode()
        slow = socket.create_connection(("127.0.0.1", srv.port))
        idle = socket.create_connection(("127.0.0.1", srv.port))
        raw_request(slow, b"POST /api/bookings/hold HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
        raw_request(idle, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        eq(read_answer(idle)[0], 200, "healthz before the signal")
        time.sleep(0.1)
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        check(srv.alive(), "the server exited while a request was in flight")
        raw_request(idle, "GET /readyz HTTP/1.1\r\nHost: t\r\nX-Request-Id: drain-check-1\r\n\r\n")
        st, hdrs, raw = read_answer(idle)
        eq(st, 503, "readyz while draining")
        eq(json.loads(raw)["error"]["code"], "UNAVAILABLE", "readyz error code while draining")
        eq(hdrs.get("connection", "").lower(), "close", "Connection header while draining")
        eq(hdrs.get("x-request-id"), "drain-check-1", "X-Request-Id while draining")
        try:
            socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()
            raise TestFailure("a new connection was accepted while draining")
        except (ConnectionRefusedError, socket.timeout):
            pass
        raw_request(slow, body[10:])
        st, hdrs, raw = read_answer(slow)
        eq(st, 200, "the request in flight at the signal: %s" % short(raw))
        eq(json.loads(raw)["status"], "STAGED", "its answer")
        code = srv.proc.wait(timeout=SHUTDOWN_TIMEOUT_S + EXIT_MARGIN_S)
        eq(code, 0, "exit code")
        check(time.monotonic() - t0 < SHUTDOWN_TIMEOUT_S + EXIT_MARGIN_S, "exit within the bound")
        slow.close()
        idle.close()
        srv.stop()
        eq(srv.verify_report, "", "verify after the stop")
    finally:
        srv.stop()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def test_shutdown_timeout_cuts(env):
    """A request that never completes does not hold the stop: the process
    exits 0 at --shutdown-timeout and logs the request it cut."""
    srv, tmp = shutdown_server("timeout", extra=["--shutdown-timeout", "1"])
    try:
        srv.start()
        stuck = socket.create_connection(("127.0.0.1", srv.port))
        raw_request(stuck, "POST /api/bookings/hold HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                    "Content-Length: 100\r\n\r\n{\"user")
        time.sleep(0.2)
        code, took = sigterm_and_wait(srv, 1)
        eq(code, 0, "exit code with a request stuck")
        check(0.9 < took < 1 + EXIT_MARGIN_S, "exit after %.2f s, --shutdown-timeout 1" % took)
        log = srv.log_tail(200)
        check(re.search(r"msg=stopped .*requests_cut=1", log), "the log does not count the cut request:\n" + log)
        stuck.close()
    finally:
        srv.stop()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------
# metrics

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')


def parse_metrics(text):
    """{(name, frozenset of label pairs): value}; every line must be a
    comment or a sample (promtool checks the rest)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        check(m, "not a sample line: %r" % line)
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def test_metrics_promtool(env):
    """GET /metrics passes promtool check metrics (the Prometheus project's
    own parser and linter) and counts exactly the traffic sent: requests by
    route and status, latency histograms, holds, confirms, releases,
    cancels, conflicts, seats of the show, storage queue, batches,
    transactions, pool, connections and the build."""
    promtool = shutil.which("promtool")
    check(promtool is not None, "promtool is not installed (scripts/deps.sh test installs prometheus)")
    srv = OpsServer(args=["--no-demo"], name="metrics").start() if ON_POSTGRES else None
    tmp = None
    if srv is None:
        tmp = tempfile.mkdtemp(prefix="boxoffice-ops-")
        srv = FileServer(os.path.join(tmp, "m.db"), args=["--no-demo"], name="metrics").start()
    try:
        c = srv.client()
        # Sooner than any other show of a shared database, so that it is
        # among the soonest that boxoffice_show_seats covers.
        show = new_show(c, 3, 4, show_time_ms=(int(time.time()) + 180) * 1000)
        sid = show["showId"]
        users = [unique_user("m%d" % i) for i in range(4)]
        raw_client = srv.client(strict=False)  # /metrics is text, not JSON
        text0 = raw_client.request("GET", "/metrics")[3].decode()
        s0 = parse_metrics(text0)

        def count(samples, name, **labels):
            return metric(samples, name, **labels) or 0.0

        for i, u in enumerate(users):
            expect(c.post("/api/bookings/hold", {"username": u, "showId": sid, "seats": ["A%d" % (i + 1)]}), 200, "hold")
        for u in users[1:]:
            expect(c.post("/api/bookings/hold", {"username": u, "showId": sid, "seats": ["A1"]}), 409, "conflict")
        expect(c.post("/api/bookings/confirm", {"username": users[0], "showId": sid, "seats": ["A1"]}), 200, "confirm")
        expect(c.post("/api/bookings/release", {"username": users[1], "showId": sid}), 200, "release")
        b = expect(c.post("/api/bookings/hold", {"username": users[2], "showId": sid, "seats": ["B1"]}), 200, "hold 2")
        expect(c.post("/api/bookings/cancel", {"username": users[2], "bookingReference": b["bookingReference"]}),
               200, "cancel")
        for _ in range(3):
            c.request("GET", "/api/shows/%d" % sid)
        c.request("GET", "/no/such/path")
        raw_client.close()
        st, hdrs, _, raw = raw_client.request("GET", "/metrics")
        eq(st, 200, "GET /metrics")
        check(hdrs.get("content-type", "").startswith("text/plain"), "Content-Type %r" % hdrs.get("content-type"))
        text = raw.decode()
        p = subprocess.run([promtool, "check", "metrics"], input=raw, capture_output=True, timeout=60)
        eq((p.returncode, (p.stdout + p.stderr).decode().strip()), (0, ""), "promtool check metrics")
        s1 = parse_metrics(text)

        def delta(name, **labels):
            return count(s1, name, **labels) - count(s0, name, **labels)
        eq(delta("boxoffice_holds_total"), 5, "holds")
        eq(delta("boxoffice_confirms_total"), 1, "confirms")
        eq(delta("boxoffice_releases_total"), 1, "releases")
        eq(delta("boxoffice_cancels_total"), 1, "cancels")
        eq(delta("boxoffice_conflicts_total", op="hold"), 3, "conflicts of holds")
        eq(delta("boxoffice_http_requests_total", route="/api/bookings/hold", status="200"), 5, "hold 200s")
        eq(delta("boxoffice_http_requests_total", route="/api/bookings/hold", status="409"), 3, "hold 409s")
        eq(delta("boxoffice_http_requests_total", route="/api/shows/{id}", status="200"), 3, "seat maps")
        eq(delta("boxoffice_http_requests_total", route="other", status="404"), 1, "unknown path")
        eq(delta("boxoffice_http_request_duration_seconds_count", route="/api/bookings/hold"), 8,
           "hold latency observations")
        inf = count(s1, "boxoffice_http_request_duration_seconds_bucket", route="/api/bookings/hold", le="+Inf")
        eq(inf, count(s1, "boxoffice_http_request_duration_seconds_count", route="/api/bookings/hold"),
           "+Inf bucket equals the count")
        check(count(s1, "boxoffice_http_request_duration_seconds_sum", route="/api/bookings/hold") > 0, "latency sum")
        # seats of the show: A1 booked, A4 held (A2 released, A3 and B1 cancelled)
        eq([metric(s1, "boxoffice_show_seats", show_id=str(sid), status=k) for k in ("available", "held", "booked")],
           [10.0, 1.0, 1.0], "seats of the show by status")
        rc, out = sh([BIN, "version"])
        version = out.split()[1]
        eq(metric(s1, "boxoffice_build_info", version=version, backend="postgres" if ON_POSTGRES else "sqlite"), 1.0,
           "build info")
        check(count(s1, "boxoffice_store_queue_capacity") > 0, "queue capacity")
        check(metric(s1, "boxoffice_store_queue_depth") is not None, "queue depth")
        check(delta("boxoffice_store_batch_size_count") >= 1, "batches counted")
        check(delta("boxoffice_store_batch_size_sum") >= 10, "commands in batches: %r" % delta("boxoffice_store_batch_size_sum"))
        check(delta("boxoffice_store_transaction_seconds_count") >= 1, "transactions counted")
        check(metric(s1, "boxoffice_db_pool_connections", state="in_use") is not None and
              metric(s1, "boxoffice_db_pool_connections", state="idle") is not None, "pool gauges")
        check(count(s1, "boxoffice_http_connections") >= 1, "open connections")
        # every family has HELP and TYPE (promtool's lint also says so)
        for name in set(n for n, _ in s1):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            check("# TYPE %s " % base in text or "# TYPE %s " % name in text, "no TYPE for %s" % name)
    finally:
        srv.stop()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    eq(srv.verify_report, "", "verify")


# --------------------------------------------------------------------------
# request logs, X-Request-Id, --config

GENERATED_ID_RE = re.compile(r"^[0-9a-f]{16}$")


def log_lines(srv):
    with open(srv.log_path, "rb") as f:
        return f.read().decode("utf-8", "replace").splitlines()


def logfmt(line):
    """key=value pairs of one logfmt line (values unquoted, unescaped)."""
    out = {}
    for m in re.finditer(r'([a-z_]+)=("((?:[^"\\]|\\.)*)"|[^ ]*)', line):
        v = m.group(2)
        if v.startswith('"'):
            v = json.loads(v)
        out[m.group(1)] = v
    return out


def ids_and_log(fmt):
    """Runs requests of many kinds against a server logging in fmt; returns
    (list of (what, status, X-Request-Id sent, X-Request-Id answered)),
    the parsed log lines and the raw log."""
    tmp = tempfile.mkdtemp(prefix="boxoffice-ops-")
    srv = FileServer(os.path.join(tmp, "log.db"), args=["--no-demo", "--log-level", "info", "--log-format", fmt],
                     name="log-" + fmt)
    seen = []
    try:
        srv.start()
        c = srv.client(strict=False)
        show = new_show(c, 2, 5)
        user = unique_user("logger")
        marker = "body-marker-%s" % os.getpid()

        def req(what, method, path, rid=None, **kw):
            hdrs = dict(kw.pop("headers", {}))
            if rid is not None:
                hdrs["X-Request-Id"] = rid
            st, h, body, raw = c.request(method, path, headers=hdrs, **kw)
            seen.append((what, st, rid, h.get("x-request-id")))
            return st
        req("healthz", "GET", "/healthz", "client-id.1:a_b-c")
        req("healthz, no id", "GET", "/healthz")
        req("healthz, no id again", "GET", "/healthz")
        req("id too long", "GET", "/healthz", "x" * 65)
        req("id with a space", "GET", "/healthz", "a b")
        req("id with a quote", "GET", "/healthz", 'a"b')
        req("404", "GET", "/nope", "id-404")
        req("405", "DELETE", "/api/shows/1", "id-405")
        req("HEAD", "HEAD", "/healthz", "id-head")
        req("hold", "POST", "/api/bookings/hold", "id-hold",
            body={"username": user, "showId": show["showId"], "seats": ["A1"], "note": marker})
        req("hold 400", "POST", "/api/bookings/hold", "id-400", raw="{not json " + marker,
            headers={"Content-Type": "application/json"})
        req("415", "POST", "/api/bookings/hold", "id-415", raw="x", headers={"Content-Type": "text/plain"})
        req("admin", "POST", "/api/admin/screens", "id-admin", body={"name": "S", "rows": 1, "seatsPerRow": 1},
            headers={"Authorization": "Bearer " + srv.admin_token})
        req("413", "POST", "/api/bookings/hold", "id-413", raw="x" * (70 * 1024),
            headers={"Content-Type": "application/json"})
        req("details", "GET", "/api/bookings/details?username=%s&booking_reference=BX-22222222" % user, "id-det")
        c.close()
        code, _ = sigterm_and_wait(srv, SHUTDOWN_TIMEOUT_S)
        eq(code, 0, "exit code")
        raw = "\n".join(log_lines(srv))  # before stop() removes the directory
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return seen, raw, srv, marker


def check_ids(seen):
    generated = []
    for what, st, sent, got in seen:
        check(got, "%s (%d): no X-Request-Id in the answer" % (what, st))
        if sent is not None and re.match(r"^[A-Za-z0-9._:-]{1,64}$", sent):
            eq(got, sent, "%s: X-Request-Id echoed" % what)
        else:
            check(GENERATED_ID_RE.match(got), "%s: generated X-Request-Id %r" % (what, got))
            check(got != sent, "%s: an invalid X-Request-Id was echoed" % what)
            generated.append(got)
    eq(len(set(generated)), len(generated), "generated request ids are distinct")


def test_request_ids_and_logfmt_log(env):
    """Every answer carries X-Request-Id (the client's when valid, else a
    fresh one); every request is one logfmt line with time, method, path,
    status, duration, bytes and that id; no body, header or token is logged."""
    seen, raw, srv, marker = ids_and_log("logfmt")
    check_ids(seen)
    lines = [logfmt(l) for l in raw.splitlines() if "msg=request " in l]
    by_id = {}
    for f in lines:
        for key in ("time", "level", "method", "route", "path", "status", "duration_ms", "bytes", "request_id"):
            check(key in f, "log line without %s: %r" % (key, f))
        check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", f["time"]), "time %r" % f["time"])
        check(re.match(r"^\d+\.\d{3}$", f["duration_ms"]), "duration_ms %r" % f["duration_ms"])
        by_id.setdefault(f["request_id"], []).append(f)
    for what, st, sent, got in seen:
        eq(len(by_id.get(got, [])), 1, "log lines of %s (id %s)" % (what, got))
        f = by_id[got][0]
        eq(int(f["status"]), st, "logged status of %s" % what)
    hold = by_id["id-hold"][0]
    eq((hold["method"], hold["path"]), ("POST", "/api/bookings/hold"), "the hold's line")
    check(int(hold["bytes"]) > 100, "bytes of the hold's answer: %r" % hold["bytes"])
    eq(by_id["id-head"][0]["method"], "HEAD", "HEAD is logged as HEAD")
    eq(hold.get("route"), "/api/bookings/hold", "route template of the hold")
    check(hold.get("user", "").startswith("logger-"), "user of the hold: %r" % hold.get("user"))
    eq(by_id["id-det"][0].get("route"), "/api/bookings/details", "route of details")
    check(by_id["id-det"][0].get("user", "").startswith("logger-"), "user of details (query parameter)")
    eq(by_id["id-404"][0].get("route"), "-", "route of an unknown path")
    check("user" not in by_id["id-404"][0], "no user on a request that names none")
    for secret in (marker, srv.admin_token, "Bearer"):
        check(secret not in raw, "the log contains %r" % secret)


def test_json_log(env):
    """--log-format json: every line of the log is one JSON object."""
    seen, raw, srv, marker = ids_and_log("json")
    check_ids(seen)
    objs = []
    for line in raw.splitlines():
        try:
            objs.append(json.loads(line))
        except ValueError:
            raise TestFailure("not a JSON line: %r" % line)
    reqs = {o["request_id"]: o for o in objs if o.get("msg") == "request"}
    for what, st, sent, got in seen:
        check(got in reqs, "no JSON line for %s" % what)
        eq(reqs[got]["status"], st, "status of %s (a JSON number)" % what)
        check(isinstance(reqs[got]["duration_ms"], float) or isinstance(reqs[got]["duration_ms"], int),
              "duration_ms is a number")
    check(any(o.get("msg") == "serving" for o in objs), "no 'serving' line")
    check(any(o.get("msg") == "stopped" for o in objs), "no 'stopped' line")
    for secret in (marker, srv.admin_token):
        check(secret not in raw, "the log contains %r" % secret)


def test_no_password_in_logs(env):
    """A database password in the URL (user:password@ or ?password=) never
    reaches the log, whatever the format."""
    for fmt in ("logfmt", "json"):
        for url in ("postgres://bo:S3cretA@127.0.0.1:1/x", "postgres://bo@127.0.0.1:1/x?password=S3cretB&a=1"):
            rc, out = sh([BIN, "serve", "--db", url, "--log-format", fmt, "--listen", "127.0.0.1:0"], timeout=30)
            check(rc != 0, "serve on an unreachable database exited 0")
            check("S3cret" not in out, "the password is in the output: %s" % out)
            check("***" in out, "the URL is not shown redacted: %s" % out)


def test_config_file(env):
    """--config FILE / BOXOFFICE_CONFIG: KEY=value settings; the
    environment wins over the file, flags over both; unknown BOXOFFICE_
    keys and malformed lines are refused with the line number."""
    tmp = tempfile.mkdtemp(prefix="boxoffice-ops-")
    try:
        conf = os.path.join(tmp, "env")
        with open(conf, "w") as f:
            f.write("# settings\n\nBOXOFFICE_DB=sqlite:%s/from-file.db\n"
                    "export BOXOFFICE_HOLD_TTL=\"77\"\nPGAPPNAME=boxoffice-test\n" % tmp)
        base = {k: v for k, v in os.environ.items() if not k.startswith("BOXOFFICE_") or k == "BOXOFFICE_BIN"}
        runs = [
            (["--config", conf], {}, "from-file.db"),
            (["--config=" + conf], {}, "from-file.db"),
            ([], {"BOXOFFICE_CONFIG": conf}, "from-file.db"),
            (["--config", conf], {"BOXOFFICE_DB": "sqlite:%s/from-env.db" % tmp}, "from-env.db"),
            (["--config", conf, "--db", "sqlite:%s/from-flag.db" % tmp],
             {"BOXOFFICE_DB": "sqlite:%s/from-env.db" % tmp}, "from-flag.db"),
        ]
        for args, extra, made in runs:
            for p in glob.glob(os.path.join(tmp, "*.db*")):
                os.unlink(p)
            rc, out = sh([BIN, "migrate"] + args, env=dict(base, **extra))
            check(rc == 0, "migrate %s %s: %s" % (args, extra, out))
            eq(sorted(os.path.basename(p) for p in glob.glob(os.path.join(tmp, "*.db"))), [made],
               "database made by migrate %s %s" % (args, extra))
        for text, words in (("BOXOFFICE_HOLD_TLL=5\n", ":1: unknown setting BOXOFFICE_HOLD_TLL"),
                            ("# ok\nnot a setting\n", ":2: expected KEY=value"),
                            ("BOXOFFICE_HOLD_TTL=abc\n", "--hold-ttl")):
            bad = os.path.join(tmp, "bad")
            with open(bad, "w") as f:
                f.write(text)
            rc, out = sh([BIN, "migrate", "--config", bad, "--db", "sqlite:%s/x.db" % tmp], env=base)
            eq(rc, 2, "exit code for a config file with %r (%s)" % (text, out))
            check(words in out, "expected %r in %r" % (words, out))
        rc, out = sh([BIN, "migrate", "--config", os.path.join(tmp, "missing")], env=base)
        check(rc == 2 and "missing" in out, "a missing config file: %d %s" % (rc, out))
        # The unit's env file of deploy/ is a valid settings file too.
        rc, out = sh([BIN, "help", "--config", os.path.join(ROOT, "deploy", "env.example")], env=base)
        check(rc == 0, "deploy/env.example as --config: %d %s" % (rc, out[-500:]))

        # The hold TTL of the file reaches the server.
        srv = FileServer(os.path.join(tmp, "ttl.db"), args=["--no-demo", "--config", conf], name="config").start()
        try:
            c = srv.client()
            show = new_show(c, 1, 2)
            b = expect(c.post("/api/bookings/hold", {"username": unique_user("cfg"), "showId": show["showId"],
                                                     "seats": ["A1"]}), 200, "hold")
            from harness import parse_time
            eq(parse_time(b["expiresAt"]) - parse_time(b["createdAt"]), 77000, "hold TTL from the config file")
        finally:
            srv.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------
# upgrades

FIXTURE_BOOKINGS = {  # reference -> (user, status after the upgrade, seats)
    "BX-RRDWMANG": ("alice", "CONFIRMED", ["A1", "A2"]),
    "BX-WVJ5HVJA": ("dave", "CONFIRMED", ["A4"]),
    "BX-FSJA4HQ9": ("bob", "CANCELLED", ["B1"]),
    "BX-YZWXBV3V": ("carol", "EXPIRED", ["C3", "C4"]),
    "BX-K7ZGH954": ("erin", "EXPIRED", ["C1"]),
}


def load_fixture(path):
    with open(FIXTURE_V2) as f:
        sql = f.read()
    con = sqlite3.connect(path)
    con.executescript(sql)
    con.close()


def user_version(path):
    con = sqlite3.connect(path)
    try:
        return con.execute("PRAGMA user_version").fetchone()[0]
    finally:
        con.close()


def test_upgrade_from_previous_release(env):
    """A database made by the previous release (schema version 2, with
    data) migrates to the current schema and keeps every booking; the
    server then serves it and books on it."""
    tmp = tempfile.mkdtemp(prefix="boxoffice-ops-")
    try:
        db = os.path.join(tmp, "old.db")
        load_fixture(db)
        eq(user_version(db), 2, "the fixture's schema version")
        rc, out = sh([BIN, "migrate", "--db", "sqlite:" + db])
        check(rc == 0, "migrate of the previous release's database: %d %s" % (rc, out))
        newest = max(int(os.path.basename(p).split("_")[0])
                     for p in glob.glob(os.path.join(ROOT, "sql", "sqlite", "*.sql")))
        eq(user_version(db), newest, "schema version after migrate")
        verify("sqlite:" + db)
        rc, out = sh([BIN, "migrate", "--db", "sqlite:" + db])
        check(rc == 0, "a second migrate changes nothing: %s" % out)
        srv = FileServer(db, args=["--no-demo"], name="upgraded").start()
        try:
            for ref, (user, status, seats) in FIXTURE_BOOKINGS.items():
                st, body = details(srv.port, user, ref)
                check(st == 200, "details of %s after the upgrade: %d %s" % (ref, st, short(body)))
                eq((body["status"], body["seats"]), (status, seats), "booking %s after the upgrade" % ref)
            c = srv.client()
            seat_map = expect(c.get("/api/shows/1"), 200, "seat map of the fixture's show")
            eq(seat_map["seats"]["booked"], ["A1", "A2", "A4"], "booked seats after the upgrade")
            # erin's lapsed hold is free: anyone can hold C1 now
            expect(c.post("/api/bookings/hold", {"username": "frank", "showId": 1, "seats": ["C1", "B1"]}),
                   200, "hold on the upgraded database")
            expect(c.post("/api/bookings/confirm", {"username": "frank", "showId": 1, "seats": ["C1", "B1"]}),
                   200, "confirm on the upgraded database")
            # The idempotency record written by the previous release replays.
            st, hdrs, body, raw = c.request("POST", "/api/bookings/confirm",
                                            raw='{"username":"dave","showId":1,"seats":["A4"]}',
                                            headers={"Idempotency-Key": "fixture-key-1",
                                                     "Content-Type": "application/json"})
            eq((st, hdrs.get("idempotent-replayed")), (200, "true"), "replay of a key stored before the upgrade")
        finally:
            srv.stop()
        eq(srv.verify_report, "", "verify after serving the upgraded database")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


FIXTURE_PG_V3 = os.path.join(HERE, "fixtures", "postgres-v3.sql")
FIXTURE_PG_BOOKINGS = {
    "BX-979SKEYF": ("alice", "CONFIRMED", ["A1", "A2"]),
    "BX-TBHH6MTZ": ("dave", "CONFIRMED", ["A4"]),
    "BX-KH9Y23WJ": ("bob", "CANCELLED", ["B1"]),
    "BX-PQXADVE2": ("carol", "EXPIRED", ["C3", "C4"]),
    "BX-K43MXAY5": ("erin", "EXPIRED", ["C1"]),
}


class UrlServer(OpsServer):
    """A server on a database URL of the test's choosing."""

    def __init__(self, url, args=(), **kw):
        super().__init__(args=args, **kw)
        self.url = url

    @property
    def db(self):
        return self.url


def test_upgrade_pg_from_previous_release(env):
    """A PostgreSQL database made by the previous release (schema 3, its
    stored functions, data) migrates: the functions are today's, every
    booking reads back, an old Idempotency-Key replays, and it books."""
    base = TEST_DB.rsplit("/", 1)[0]
    name = "boxoffice_ops_upgrade_%d" % os.getpid()
    url = base + "/" + name
    psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"]
    rc, out = sh(psql + [base + "/postgres", "-c", "DROP DATABASE IF EXISTS " + name, "-c", "CREATE DATABASE " + name])
    check(rc == 0, "cannot create a database: %s" % out)
    try:
        rc, out = sh(psql + [url, "-f", FIXTURE_PG_V3])
        check(rc == 0, "loading the fixture: %s" % out)
        rc, out = sh([BIN, "migrate", "--db", url])
        check(rc == 0, "migrate of the previous release's database: %d %s" % (rc, out))
        newest = max(int(os.path.basename(p).split("_")[0])
                     for p in glob.glob(os.path.join(ROOT, "sql", "postgres", "*.sql")))
        # the stored functions (002, repeatable) were applied again: checksum set
        rc, out = sh(psql + ["-t", "-A", url, "-c",
                             "SELECT max(version), count(*) FILTER (WHERE version = 2 AND checksum IS NOT NULL) "
                             "FROM schema_migrations"])
        eq(out.strip(), "%d|1" % newest, "schema version after migrate, functions re-applied")
        verify(url)
        srv = UrlServer(url, args=["--no-demo"], name="upgraded-pg").start()
        try:
            for ref, (user, status, seats) in FIXTURE_PG_BOOKINGS.items():
                st, body = details(srv.port, user, ref)
                check(st == 200, "details of %s after the upgrade: %d %s" % (ref, st, short(body)))
                eq((body["status"], body["seats"]), (status, seats), "booking %s after the upgrade" % ref)
            c = srv.client()
            st, hdrs, body, raw = c.request("POST", "/api/bookings/confirm",
                                            raw='{"username":"dave","showId":1,"seats":["A4"]}',
                                            headers={"Idempotency-Key": "fixture-key-1",
                                                     "Content-Type": "application/json"})
            eq((st, hdrs.get("idempotent-replayed")), (200, "true"), "replay of a key stored before the upgrade")
            expect(c.post("/api/bookings/hold", {"username": "frank", "showId": 1, "seats": ["C1", "B1"]}),
                   200, "hold on the upgraded database")
            expect(c.post("/api/bookings/confirm", {"username": "frank", "showId": 1, "seats": ["C1", "B1"]}),
                   200, "confirm on the upgraded database")
            seat_map = expect(c.get("/api/shows/1"), 200, "seat map")
            eq(seat_map["seats"]["booked"], ["A1", "A2", "A4", "B1", "C1"], "booked seats")
        finally:
            srv.stop()
        eq(srv.verify_report, "", "verify after serving the upgraded database")
    finally:
        sh(psql + [base + "/postgres", "-c", "DROP DATABASE IF EXISTS " + name])


def test_newer_schema_refused(env):
    """A database whose schema is newer than the binary knows is refused by
    every command that opens it, with a message that says so; nothing in it
    changes."""
    tmp = tempfile.mkdtemp(prefix="boxoffice-ops-")
    try:
        db = os.path.join(tmp, "new.db")
        rc, out = sh([BIN, "migrate", "--db", "sqlite:" + db])
        check(rc == 0, "migrate: %s" % out)
        con = sqlite3.connect(db)
        con.execute("PRAGMA user_version = 999")
        con.commit()
        con.close()
        with open(db, "rb") as f:
            before = f.read()
        for cmd in (["migrate"], ["verify"], ["serve", "--listen", "127.0.0.1:0", "--no-demo"]):
            rc, out = sh([BIN] + cmd + ["--db", "sqlite:" + db], timeout=20)
            check(rc != 0, "boxoffice %s on a newer schema exited 0: %s" % (cmd[0], out))
            check("schema version 999" in out and "newer" in out,
                  "boxoffice %s: the message does not explain: %r" % (cmd[0], out))
        with open(db, "rb") as f:
            eq(f.read() == before, True, "the newer database is unchanged")
        if ON_POSTGRES:
            # A future version row in schema_migrations of the shared database,
            # removed again whatever happens.
            psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", TEST_DB, "-c"]
            rc, out = sh([BIN, "migrate", "--db", TEST_DB])  # a fresh database has no table yet
            check(rc == 0, "migrate: %s" % out)
            rc, out = sh(psql + ["INSERT INTO schema_migrations (version) VALUES (999)"])
            check(rc == 0, "cannot add a schema version: %s" % out)
            try:
                rc, out = sh([BIN, "migrate", "--db", TEST_DB])
                check(rc != 0 and "schema version 999" in out,
                      "migrate on a newer PostgreSQL schema: %d %s" % (rc, out))
            finally:
                sh(psql + ["DELETE FROM schema_migrations WHERE version = 999"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_migrations_forward_only(env):
    """Each migration is one file named NNN_name.sql, numbered 1, 2, 3...
    without gaps; SQLite's migrations shipped in the previous release are
    unchanged (the fixture's version 2 schema is exactly 001 + 002).
    PostgreSQL's repeatable functions file is covered by tests/pg/test_upgrade.sh."""
    for backend in ("sqlite", "postgres"):
        files = sorted(glob.glob(os.path.join(ROOT, "sql", backend, "*.sql")))
        nums = [int(re.match(r"^(\d{3})_[a-z0-9_]+\.sql$", os.path.basename(p)).group(1)) for p in files]
        eq(nums, list(range(1, len(nums) + 1)), "%s migration numbers" % backend)
    # The tables and indexes of the previous release equal those that 001
    # and 002 create today.
    tmp = tempfile.mkdtemp(prefix="boxoffice-ops-")
    try:
        old, fresh = os.path.join(tmp, "old.db"), os.path.join(tmp, "fresh.db")
        load_fixture(old)
        con = sqlite3.connect(fresh)
        for p in sorted(glob.glob(os.path.join(ROOT, "sql", "sqlite", "*.sql")))[:2]:
            with open(p) as f:
                con.executescript(f.read())
        con.close()

        def schema(path):
            c = sqlite3.connect(path)
            try:
                return sorted(r for r in c.execute("SELECT type, name, sql FROM sqlite_master"))
            finally:
                c.close()
        eq(schema(fresh), schema(old), "schema of migrations 001+002 vs the previous release's")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------
# install, man page, unit

def help_options():
    rc, out = sh([BIN, "help"])
    check(rc == 0, "boxoffice help exited %d" % rc)
    opts = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)", out))
    commands = set()
    section = None
    for line in out.splitlines():
        if line.strip().endswith(":") and not line.startswith(" "):
            section = line.strip()
            continue
        m = re.match(r"^  ([a-z]+)\s{2,}", line)
        if section and section.startswith("Commands") and m:
            commands.add(m.group(1))
    check(len(opts) >= 10 and len(commands) >= 5, "help lists %d options, %d commands" % (len(opts), len(commands)))
    return opts, commands


def man_text(path):
    """The man page as man(1) renders it; fails on any warning."""
    rc, out = sh(["man", "--warnings", "-l", "-P", "cat", path], env=dict(os.environ, MANWIDTH="100"))
    check(rc == 0, "man -l %s exited %d: %s" % (path, rc, short(out)))
    check("warning" not in out.lower(), "man reports problems: %s" % short(out, 1000))
    return out


def man_source(path):
    """The page's roff source, with \\- as - and font escapes removed, split
    into its sections: {"COMMANDS": text, ...}."""
    with open(path) as f:
        src = f.read()
    src = re.sub(r"\\f[BIRP]|\\c", "", src.replace("\\-", "-"))
    sections = {}
    for part in re.split(r"^\.SH ", src, flags=re.M)[1:]:
        title, _, body = part.partition("\n")
        sections[title.strip().strip('"')] = body
    return sections


def test_man_page_matches_help(env):
    opts, commands = help_options()
    page = os.path.join(ROOT, "docs", "boxoffice.1")
    man_text(page)
    sections = man_source(page)
    for name in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "EXIT STATUS"):
        check(name in sections, "the man page has no %s section" % name)
    # the option each tag line (.B, .BI, .BR after .TP) introduces
    man_opts = set(re.findall(r"^\.TP\n\.B[IR]? [^\n]*?(--[a-z][a-z0-9-]+)", sections["OPTIONS"], re.M))
    eq(sorted(man_opts - opts), [], "options in docs/boxoffice.1 that help does not know (remove them)")
    eq(sorted(opts - man_opts), [], "options of help missing from docs/boxoffice.1 (add each to its OPTIONS)")
    man_cmds = set(re.findall(r"^\.TP\n\.B ([a-z]+)$", sections["COMMANDS"], re.M))
    eq(sorted(man_cmds - commands), [], "commands in docs/boxoffice.1 that help does not know")
    eq(sorted(commands - man_cmds), [], "commands of help missing from docs/boxoffice.1 (add to COMMANDS)")
    for env_var in set(re.findall(r"BOXOFFICE_[A-Z_]+", sh([BIN, "help"])[1])):
        check(env_var in sections["OPTIONS"], "the man page does not name %s" % env_var)


def test_make_install(env):
    """make install into a DESTDIR puts the binary, man page, docs and unit
    under PREFIX, with the unit pointing at the installed binary; the unit
    passes systemd-analyze verify where systemd is present."""
    tmp = tempfile.mkdtemp(prefix="boxoffice-ops-")
    try:
        dest = os.path.join(tmp, "dest")
        rc, out = sh(["make", "-s", "-C", ROOT, "install", "DESTDIR=" + dest, "PREFIX=/opt/bo"], timeout=600)
        check(rc == 0, "make install exited %d: %s" % (rc, out[-2000:]))
        want = ["opt/bo/bin/boxoffice", "opt/bo/share/man/man1/boxoffice.1",
                "opt/bo/share/doc/boxoffice/README.md", "opt/bo/share/doc/boxoffice/migrating-from-moviehub.md",
                "opt/bo/share/doc/boxoffice/booking-flow.md", "opt/bo/share/doc/boxoffice/env.example",
                "opt/bo/lib/systemd/system/boxoffice@.service"]
        for rel in want:
            check(os.path.isfile(os.path.join(dest, rel)), "make install did not install %s" % rel)
        installed = os.path.join(dest, "opt/bo/bin/boxoffice")
        check(os.access(installed, os.X_OK), "the installed binary is not executable")
        rc, out = sh([installed, "version"])
        check(rc == 0 and out.startswith("boxoffice "), "installed boxoffice version: %s" % out)
        found = set()
        for dirpath, _, files in os.walk(dest):
            found.update(os.path.relpath(os.path.join(dirpath, f), dest) for f in files)
        eq(sorted(found - set(want)), [], "files installed beyond the list")
        with open(os.path.join(dest, "opt/bo/lib/systemd/system/boxoffice@.service")) as f:
            unit = f.read()
        check("ExecStart=/opt/bo/bin/boxoffice serve" in unit, "the unit does not run /opt/bo/bin/boxoffice")
        check("/usr/local" not in unit, "the unit still names /usr/local")
        man_text(os.path.join(dest, "opt/bo/share/man/man1/boxoffice.1"))

        if shutil.which("systemd-analyze") is None:
            print("# systemd-analyze not present: unit not verified")
            return
        # systemd-analyze verify checks that ExecStart and the env file
        # exist: install once more without DESTDIR, under a PREFIX and
        # SYSCONFDIR of our own, so that the unit's paths are real ones.
        prefix, etc = os.path.join(tmp, "usr"), os.path.join(tmp, "etc")
        rc, out = sh(["make", "-s", "-C", ROOT, "install", "PREFIX=" + prefix, "SYSCONFDIR=" + etc],
                     timeout=600)
        check(rc == 0, "make install PREFIX=%s exited %d: %s" % (prefix, rc, out[-2000:]))
        os.makedirs(os.path.join(etc, "boxoffice"))
        shutil.copy(os.path.join(ROOT, "deploy", "env.example"), os.path.join(etc, "boxoffice", "env"))
        unitdir = os.path.join(prefix, "lib", "systemd", "system")
        inst = os.path.join(unitdir, "boxoffice@8081.service")
        os.symlink("boxoffice@.service", inst)
        rc, out = sh(["systemd-analyze", "verify", "--man=no", inst])
        check(rc == 0 and out.strip() == "", "systemd-analyze verify %s: exit %d\n%s" % (inst, rc, out))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------
# docs

LINK_RE = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
TICK_RE = re.compile(r"`([A-Za-z0-9_.@-]+/[A-Za-z0-9_./@*-]*)`")
REPO_DIRS = ("src/", "sql/", "tests/", "deploy/", "docs/", "scripts/", "bench/", "web/", "cmake/")


def test_docs_self_contained(env):
    """README and every doc name only files inside the repository: every
    relative link resolves, every repository path in backquotes exists, and
    nothing points outside the tree."""
    docs = []
    for dirpath, dirnames, files in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if not d.startswith(("build", ".", "node_modules"))]
        docs += [os.path.join(dirpath, f) for f in files if f.endswith(".md")]
    docs.sort()
    check(os.path.join(ROOT, "docs", "booking-flow.md") in docs, "docs/booking-flow.md is missing")
    problems = []
    for doc in docs:
        with open(doc) as f:
            text = f.read()
        name = os.path.relpath(doc, ROOT)
        base = os.path.dirname(doc)
        for target in LINK_RE.findall(text):
            if re.match(r"^[a-z]+:", target):
                continue  # http:, https:, mailto:
            path = os.path.normpath(os.path.join(base, target))
            if not path.startswith(ROOT + os.sep) or not os.path.exists(path):
                problems.append("%s links %s" % (name, target))
        for token in TICK_RE.findall(text):
            if token.startswith(REPO_DIRS) and "*" not in token and "..." not in token:
                if not os.path.exists(os.path.join(ROOT, token.rstrip("/"))):
                    problems.append("%s names %s" % (name, token))
        for outside in ("../shared", "shared/design", "/work/"):
            if outside in text:
                problems.append("%s mentions %s" % (name, outside))
    eq(problems, [], "references to files outside the repository")
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    check("## Operating boxoffice" in readme, "README has no 'Operating boxoffice' section")
    check("docs/migrating-from-moviehub.md" in readme, "README does not link the migration guide")


TESTS = [
    ("docs: README and docs name only files in the repository", test_docs_self_contained),
    ("upgrade: the previous release's database (schema 2, with data) migrates", test_upgrade_from_previous_release),
    ("upgrade: a newer schema is refused with a clear message", test_newer_schema_refused),
    ("upgrade: migrations numbered, released ones unchanged", test_migrations_forward_only),
    ("install: make install DESTDIR PREFIX, systemd-analyze verify", test_make_install),
    ("man page: every command and option of --help, no other", test_man_page_matches_help),
    ("backup: refusals (PostgreSQL, itself, not a database, newer schema)", test_backup_restore_refusals),
    ("shutdown: SIGTERM under write load loses nothing, exits 0 in time", test_shutdown_under_load),
    ("shutdown: in-flight request finished, /readyz 503, no new connections", test_shutdown_drains_in_flight),
    ("shutdown: --shutdown-timeout cuts a stuck request", test_shutdown_timeout_cuts),
    ("shutdown: event streams end with a retry: hint; viewers in /metrics", test_shutdown_ends_event_streams),
    ("logs: X-Request-Id on every answer; one logfmt line per request, no secrets", test_request_ids_and_logfmt_log),
    ("logs: --log-format json, every line one JSON object", test_json_log),
    ("logs: no database password", test_no_password_in_logs),
    ("--config FILE / BOXOFFICE_CONFIG; environment and flags win", test_config_file),
    ("metrics: promtool check metrics; counts match the traffic", test_metrics_promtool),
]
def test_no_sanitizer_reports(env):
    """Every server this suite started (sanitizer builds) logged no report."""
    check(STARTED, "no server was started")
    for srv in STARTED:
        srv.stop()
        check(not srv.sanitizer_report, "server %s: sanitizer report:\n%s" % (srv.name, srv.sanitizer_report))


if ON_POSTGRES:
    # On PostgreSQL only what depends on the backend: the files, docs and
    # SQLite copies are the same whatever the database.
    TESTS = [t for t in TESTS if t[1] in (test_newer_schema_refused, test_shutdown_under_load,
                                          test_shutdown_drains_in_flight, test_shutdown_ends_event_streams,
                                          test_metrics_promtool)]
    TESTS.insert(0, ("upgrade: the previous release's PostgreSQL database (schema 3, with data) migrates",
                     test_upgrade_pg_from_previous_release))
else:
    TESTS.append(("backup under load, verify the copy, restore: every earlier booking there",
                  test_backup_under_load))
TESTS.append(("servers: no sanitizer report in any server's log", test_no_sanitizer_reports))


if __name__ == "__main__":
    run(TESTS, {}, title="boxoffice operations tests")
