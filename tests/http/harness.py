"""harness.py - black-box HTTP test harness for boxoffice (standard library only).

Talks to real servers (tests/lib/servers.py starts them: one temporary
directory and database each) over keep-alive HTTP/1.1, offers admin helpers
that give every test its own screen, movie and show, and runs a table of
tests that prints `ok - name` / `FAIL - name: reason` and a final
`N passed, M failed` line.

The servers run on the real clock, on PostgreSQL as on SQLite: a served
boxoffice has no test clock (only the store's configuration takes one, and
the contract and model suites drive it through store.h), so the tests of
expiry here use short TTLs and wait for them.

Environment: see tests/lib/servers.py (BOXOFFICE_BIN, BOXOFFICE_TEST_DB,
BOXOFFICE_START_TIMEOUT); BOXOFFICE_RESPONSE_LOG names a file to append
every answer a Client or raw_post receives to (JSON lines), and the whole
answers that the suites read from raw sockets (record_raw), which
tests/spec/validate_responses.mjs checks against web/openapi.json.
"""

import calendar
import datetime
import http.client
import itertools
import json
import os
import resource
import re
import secrets
import socket
import sys
import threading
import time
import traceback

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

# Re-exported: the suites import the server side through the harness too.
import servers  # noqa: E402
from servers import (ADMIN_TOKEN, BIN, ON_POSTGRES, SANITIZER_MARKS, START_TIMEOUT, STOP_TIMEOUT,  # noqa: E402,F401
                     TEST_DB, ServerStartError, error_code, free_port, info)

REQUEST_TIMEOUT = 30.0
RESPONSE_LOG = os.environ.get("BOXOFFICE_RESPONSE_LOG", "")
_response_log_lock = threading.Lock()

TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
REF_RE = re.compile(r"^BX-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{8}$")


# --------------------------------------------------------------------------
# assertions

class TestFailure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def eq(actual, expected, what):
    if actual != expected:
        raise TestFailure("%s: expected %r, got %r" % (what, expected, actual))


def short(data, limit=300):
    if isinstance(data, (bytes, bytearray)):
        data = data.decode("utf-8", "replace")
    elif not isinstance(data, str):
        data = json.dumps(data, sort_keys=True)
    return data if len(data) <= limit else data[:limit] + "...(%d chars)" % len(data)


# --------------------------------------------------------------------------
# times and seat labels

def now_ms():
    return int(time.time() * 1000)


def fmt_time(ms):
    """RFC 3339 UTC with milliseconds, as the server writes it."""
    secs, msec = divmod(int(ms), 1000)
    t = time.gmtime(secs)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (
        t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, msec)


def parse_time(s, what="time"):
    """Parses the server's time format (checked strictly) to ms since the epoch."""
    check(isinstance(s, str) and TIME_RE.match(s),
          "%s %r is not RFC 3339 UTC with milliseconds and Z" % (what, s))
    dt = datetime.datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")
    return calendar.timegm(dt.timetuple()) * 1000 + int(s[20:23])


def row_label(index):
    """0 -> A, 25 -> Z, 26 -> AA, 701 -> ZZ."""
    if index < 26:
        return chr(65 + index)
    return chr(65 + index // 26 - 1) + chr(65 + index % 26)


def seat_label(row_index, number):
    return "%s%d" % (row_label(row_index), number)


def seat_key(label):
    m = re.match(r"^([A-Za-z]+)(\d+)$", label)
    letters = m.group(1).upper()
    if len(letters) == 1:
        row = ord(letters) - 65
    else:
        row = (ord(letters[0]) - 64) * 26 + ord(letters[1]) - 65
    return (row, int(m.group(2)))


def natural(labels):
    return sorted((l.upper() for l in labels), key=seat_key)


def all_seats(rows, per_row):
    return [seat_label(r, n) for r in range(rows) for n in range(1, per_row + 1)]


# --------------------------------------------------------------------------
# HTTP client

class Client:
    """A keep-alive HTTP/1.1 client for one server.

    request() returns (status, headers with lower-case names, parsed JSON or
    None, raw bytes). With strict=True (the default) every answer must carry
    Content-Type application/json and a body that parses as JSON, since the
    contract promises that for every endpoint these tests touch.
    """

    def __init__(self, port, host="127.0.0.1", timeout=REQUEST_TIMEOUT, strict=True):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.strict = strict
        self.conn = None
        self.connects = 0
        self.last = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _connect(self):
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self.conn.connect()
        self.connects += 1

    def request(self, method, path, body=None, headers=None, raw=None):
        hdrs = {}
        data = None
        if raw is not None:
            data = raw.encode("utf-8") if isinstance(raw, str) else raw
        elif body is not None:
            data = json.dumps(body).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        for k, v in (headers or {}).items():
            for existing in [h for h in hdrs if h.lower() == k.lower()]:
                del hdrs[existing]
            if v is not None:
                hdrs[k] = v
        for attempt in (0, 1):
            fresh = self.conn is None
            if fresh:
                self._connect()
            try:
                self.conn.request(method, path, body=data, headers=hdrs)
            except (BrokenPipeError, ConnectionResetError):
                # The server may answer (413) and close before reading the
                # whole body: still try to read its answer below.
                pass
            try:
                resp = self.conn.getresponse()
                payload = resp.read()
            except (http.client.RemoteDisconnected, http.client.BadStatusLine,
                    ConnectionResetError, BrokenPipeError):
                self.close()
                if not fresh and attempt == 0:
                    continue  # a stale keep-alive connection: reconnect once
                raise
            headers_out = joined_headers(resp.getheaders())
            if resp.will_close:
                self.close()
            parsed = None
            if payload:
                try:
                    parsed = json.loads(payload.decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    parsed = None
            self.last = (method, path, resp.status, payload)
            if RESPONSE_LOG:
                record_response(method, path, resp.status, headers_out, payload)
            if self.strict:
                ctype = headers_out.get("content-type", "")
                check(ctype.split(";")[0].strip().lower() == "application/json",
                      "%s %s -> %d: Content-Type %r, expected application/json (body %s)"
                      % (method, path, resp.status, ctype, short(payload)))
                check(parsed is not None or payload.strip() == b"null",
                      "%s %s -> %d: body is not JSON: %s" % (method, path, resp.status, short(payload)))
            return (resp.status, headers_out, parsed, payload)
        raise AssertionError("unreachable")

    # shorthands
    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def admin(self, path, body, token=None):
        tok = ADMIN_TOKEN if token is None else token
        return self.request("POST", path, body=body, headers={"Authorization": "Bearer " + tok})


def joined_headers(pairs):
    """Header (name, value) pairs as one dict with lower-case names, the
    values of a repeated header joined by ", "."""
    out = {}
    for name, value in pairs:
        name = name.lower()
        out[name] = out[name] + ", " + value if name in out else value
    return out


def record_response(method, path, status, headers, payload):
    """Appends one answer to BOXOFFICE_RESPONSE_LOG as a JSON line, so that
    every answer the suite saw can be checked against web/openapi.json.
    The suites are one process each; the lock keeps their threads' lines
    whole (each line is one write of a file opened for appending)."""
    line = json.dumps({"method": method, "path": path, "status": status, "headers": headers,
                       "body": payload.decode("utf-8", "replace")}) + "\n"
    with _response_log_lock:
        with open(RESPONSE_LOG, "a", encoding="utf-8") as f:
            f.write(line)


RAW_STATUS_RE = re.compile(rb"^HTTP/1\.[01] ([1-5][0-9][0-9])(?: [^\r\n]*)?$")
RAW_REQUEST_RE = re.compile(rb"^([A-Z]+) (/[\x21-\x7e]*) HTTP/1\.[01]\r\n")
RAW_HEADER_RE = re.compile(rb"^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$")


def parse_raw_response(data, head=False):
    """The first answer in bytes read from a raw socket as (status, headers
    with lower-case names, body), or None unless it is one whole response:
    a status line, well-formed header lines and exactly Content-Length bytes
    of body (none for HEAD) before the next answer, if any."""
    top, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = top.split(b"\r\n")
    m = RAW_STATUS_RE.match(lines[0])
    if m is None:
        return None
    pairs = []
    for line in lines[1:]:
        h = RAW_HEADER_RE.match(line)
        if h is None:
            return None
        pairs.append((h.group(1).decode("ascii"), h.group(2).decode("latin-1")))
    headers = joined_headers(pairs)
    length = headers.get("content-length", "")
    if "transfer-encoding" in headers or not length.isdigit() or (not head and len(rest) < int(length)):
        return None
    body = b"" if head else rest[:int(length)]
    if len(rest) > len(body) and not RAW_STATUS_RE.match(rest[len(body):].split(b"\r\n", 1)[0]):
        return None  # more bytes after the body that are not the next answer
    return int(m.group(1)), headers, body


def record_raw(request, data):
    """Records (see record_response) the server's answer to a request sent
    over a raw socket: the first answer in data, paired with the first
    request line of request. Nothing is recorded when the request line does
    not parse or the answer is not one whole response (parse_raw_response),
    nor for an answer libmicrohttpd wrote by itself (its short HTML pages
    for a malformed request, a 414 or 431, a 505: no handler of ours ran, so
    it has neither our X-Request-Id nor a JSON body). Returns True when an
    answer was recorded."""
    if not RESPONSE_LOG:
        return False
    req = RAW_REQUEST_RE.match(request)
    answer = parse_raw_response(data, head=req is not None and req.group(1) == b"HEAD")
    if req is None or answer is None:
        return False
    status, headers, body = answer
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    if "x-request-id" not in headers and ctype != "application/json":
        return False
    record_response(req.group(1).decode("ascii"), req.group(2).decode("ascii"), status, headers, body)
    return True


def expect(resp, status, what):
    """Asserts the status of a (status, headers, json, raw) answer; returns its JSON."""
    check(resp[0] == status, "%s: expected HTTP %d, got %d: %s" % (what, status, resp[0], short(resp[3])))
    return resp[2]


def expect_error(resp, status, code, what, seats=None):
    """Asserts an error answer: status, JSON error body, code (or one of a tuple of codes),
    a non-empty message, and when seats is given the exact "seats" list."""
    st, _, body, raw = resp
    codes = code if isinstance(code, tuple) else (code,)
    check(st == status, "%s: expected HTTP %d %s, got %d: %s" % (what, status, "/".join(codes), st, short(raw)))
    check(isinstance(body, dict) and isinstance(body.get("error"), dict),
          "%s: error body is not {\"error\":{...}}: %s" % (what, short(raw)))
    err = body["error"]
    check(err.get("code") in codes, "%s: expected error code %s, got %r (%s)"
          % (what, "/".join(codes), err.get("code"), short(raw)))
    check(isinstance(err.get("message"), str) and err["message"].strip() != "",
          "%s: error message missing or empty: %s" % (what, short(raw)))
    if seats is not None:
        eq(err.get("seats"), seats, "%s: error seats" % what)
    return err


def expect_error_one_of(resp, choices, what):
    """Like expect_error where the contract allows more than one answer:
    choices is a list of (status, code) pairs."""
    for status, code in choices:
        if resp[0] == status and isinstance(resp[2], dict) and \
                isinstance(resp[2].get("error"), dict) and resp[2]["error"].get("code") == code:
            return expect_error(resp, status, code, what)
    raise TestFailure("%s: expected one of %s, got %d: %s"
                      % (what, ", ".join("%d %s" % c for c in choices), resp[0], short(resp[3])))


# --------------------------------------------------------------------------
# servers

class Server(servers.Server):
    """A servers.Server whose client() is a harness Client."""

    def client(self, **kw):
        return Client(self.port, **kw)


NEXT_LINK_RE = re.compile(r'<([^>]+)>\s*;\s*rel="next"')
MAX_PAGES = 1000


def all_pages(fetch, path, what):
    """Every element of a paged list (GET /api/bookings/user): fetch(path)
    returns (the page's JSON array, its headers); the pages are followed
    through their Link: rel="next" headers."""
    out = []
    for _ in range(MAX_PAGES):
        body, headers = fetch(path)
        check(isinstance(body, list), "%s: not an array: %s" % (what, short(body)))
        out += body
        m = NEXT_LINK_RE.search(headers.get("link", ""))
        if m is None:
            return out
        path = m.group(1)
    raise TestFailure("%s: more than %d pages" % (what, MAX_PAGES))


def raw_post(conn, path, body, headers=None):
    """One POST on a plain http.client connection, without the Client's
    checks or retries (for many concurrent clients): returns (status,
    Content-Type, parsed JSON or None, raw bytes)."""
    hdrs = {"Content-Type": "application/json"}
    hdrs.update(headers or {})
    conn.request("POST", path, body=json.dumps(body).encode(), headers=hdrs)
    resp = conn.getresponse()
    data = resp.read()
    if RESPONSE_LOG:
        record_response("POST", path, resp.status, joined_headers(resp.getheaders()), data)
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        parsed = None
    return resp.status, resp.getheader("Content-Type", ""), parsed, data


def read_until_close(s, limit=1 << 22):
    """Everything a raw socket receives until the server closes it (or
    limit bytes, a reset or the socket's timeout)."""
    data = b""
    try:
        while len(data) < limit:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    return data


def raise_nofile_limit():
    """Lifts this process's open-file limit to its hard limit (1,000
    concurrent clients need as many sockets); returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --------------------------------------------------------------------------
# admin helpers: every test owns its screens, movies, shows and users

_counter = itertools.count(1)
_RUN_ID = "%d%s" % (os.getpid(), secrets.token_hex(2))


def unique(prefix):
    return "%s-%s-%d" % (prefix, _RUN_ID, next(_counter))


def unique_user(prefix="u"):
    return unique(prefix)


def create_screen(c, rows, seats_per_row, name=None):
    name = name or unique("screen")
    body = expect(c.admin("/api/admin/screens", {"name": name, "rows": rows, "seatsPerRow": seats_per_row}),
                  201, "create screen %s %dx%d" % (name, rows, seats_per_row))
    check(isinstance(body, dict) and isinstance(body.get("screenId"), int), "screen body: %s" % short(body))
    return body


def create_movie(c, duration=120, last_show_date="2099-12-31", name=None):
    name = name or unique("movie")
    body = expect(c.admin("/api/admin/movies", {"name": name, "durationMinutes": duration,
                                                "lastShowDate": last_show_date}),
                  201, "create movie %s" % name)
    check(isinstance(body, dict) and isinstance(body.get("movieId"), int), "movie body: %s" % short(body))
    return body


def create_show(c, movie_id, screen_id, show_time_ms):
    body = expect(c.admin("/api/admin/shows", {"movieId": movie_id, "screenId": screen_id,
                                               "showTime": fmt_time(show_time_ms)}),
                  201, "create show movie %d screen %d at %s" % (movie_id, screen_id, fmt_time(show_time_ms)))
    check(isinstance(body, dict) and isinstance(body.get("showId"), int), "show body: %s" % short(body))
    return body


def default_show_time():
    """A whole second about ten days ahead, so it stays in the future."""
    return (now_ms() // 1000 + 10 * 86400 + next(_counter) * 60) * 1000


def new_show(c, rows=5, seats_per_row=10, show_time_ms=None, duration=120):
    """Creates a fresh screen, movie and show; returns a dict describing them."""
    screen = create_screen(c, rows, seats_per_row)
    movie = create_movie(c, duration)
    when = default_show_time() if show_time_ms is None else show_time_ms
    show = create_show(c, movie["movieId"], screen["screenId"], when)
    return {"showId": show["showId"], "screenId": screen["screenId"], "movieId": movie["movieId"],
            "screenName": screen["name"], "movieName": movie["name"], "durationMinutes": duration,
            "showTime": when, "rows": rows, "seatsPerRow": seats_per_row,
            "totalSeats": rows * seats_per_row, "show": show}


# --------------------------------------------------------------------------
# runner

class Env:
    """Servers shared by tests, one per option set, started on first use.
    A server found dead is reported and replaced by a fresh one."""

    def __init__(self, specs):
        self.specs = specs  # name -> dict(args=[...], admin_token=...)
        self.servers = {}
        self.failed_start = {}
        self.problems = []
        self.stopped = []

    def server(self, name):
        srv = self.servers.get(name)
        if srv is not None and not srv.alive():
            code = srv.proc.returncode if srv.proc is not None else None
            self.problems.append("server %s died during the tests (exit code %s); log tail:\n%s"
                                 % (name, code, srv.log_tail()))
            srv.stop()
            self.stopped.append(srv)
            del self.servers[name]
            srv = None
        if srv is None:
            if name in self.failed_start:
                raise self.failed_start[name]
            spec = self.specs[name]
            srv = Server(args=spec.get("args", ()), admin_token=spec.get("admin_token", ADMIN_TOKEN), name=name)
            try:
                srv.start()
            except ServerStartError as e:
                self.failed_start[name] = e
                raise
            self.servers[name] = srv
        return srv

    def client(self, name, **kw):
        return self.server(name).client(**kw)

    def close(self):
        """Stops every server; returns (name, problem or None) per server."""
        results = []
        for name, srv in list(self.servers.items()):
            srv.stop()
            self.stopped.append(srv)
        self.servers.clear()
        for srv in self.stopped:
            problem = None
            if srv.sanitizer_report:
                problem = "sanitizer report in the log:\n" + srv.sanitizer_report
            elif srv.exit_code is None:
                problem = "did not exit within %.0f s of SIGTERM (killed)" % STOP_TIMEOUT
            elif srv.exit_code != 0:
                problem = "exit code %d after SIGTERM; log tail:\n%s" % (srv.exit_code, srv.log_tail())
            elif srv.verify_report:
                problem = "boxoffice verify failed on its database:\n" + srv.verify_report
            results.append((srv.name, problem))
        return results


def run(tests, specs, title=None):
    """Runs a table of (name, fn(env)) tests; prints one line per test and
    `N passed, M failed` last; exits 1 when anything failed."""
    passed = failed = 0
    env = Env(specs)
    if title:
        print("# %s (server %s)" % (title, BIN))
    try:
        for name, fn in tests:
            try:
                fn(env)
            except ServerStartError as e:
                failed += 1
                print("FAIL - %s: %s" % (name, e))
            except AssertionError as e:
                failed += 1
                print("FAIL - %s: %s" % (name, e))
            except Exception as e:  # a crash of the test or the connection
                failed += 1
                tb = traceback.format_exc().strip().splitlines()
                print("FAIL - %s: %s: %s\n    %s" % (name, type(e).__name__, e, "\n    ".join(tb[-6:])))
            else:
                passed += 1
                print("ok - %s" % name)
            sys.stdout.flush()
    finally:
        for p in env.problems:
            failed += 1
            print("FAIL - %s" % p)
        for srv_name, problem in env.close():
            if problem is None:
                passed += 1
                print("ok - server %s stopped cleanly, database verified" % srv_name)
            else:
                failed += 1
                print("FAIL - server %s stopped cleanly: %s" % (srv_name, problem))
    print("%d passed, %d failed" % (passed, failed))
    sys.stdout.flush()
    sys.exit(1 if failed else 0)
