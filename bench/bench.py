#!/usr/bin/python3
"""boxoffice benchmark tool (issue 11).

Drives wrk (bench/lua/*.lua) against a release build on loopback, and does
in Python only what wrk cannot: the on-sale crowd (10,000 logical users who
retry), the one-seat-vs-many-seats contention burst, the fsync probe, the
nginx and pgbench references. Every run measures the same server's
/healthz first and reports each scenario as a ratio to it, since absolute
figures on a shared 2-core machine move by 3x from run to run.

Output: a progress line on a terminal (stderr), one table per backend
(req/s, ratio, p50/p90/p99/p99.9, answers that were not 200 by status) and
the extra figures, and a JSON file of everything (--out, default
bench/results/latest.json) that bench/plot.sh turns into PNG charts. A
probe thread sends one request of the scenario's kind every 50 ms on its
own connection while wrk runs; its latencies are the "latency over time"
series of the JSON.

usage: bench.py [--backends sqlite,pg1,pg2] [--scenarios LIST] [--duration S]
                [--connections N] [--threads N] [--out FILE] [--quick]
"""

import argparse
import asyncio
import datetime
import http.client
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LUA = os.path.join(ROOT, "bench", "lua")
TOKEN = "bench-token"
SCENARIOS = ["healthz", "map", "browse", "hold", "pair", "paced", "book", "onsale",
             "contention", "holdbest", "stadium", "lowconc", "pgbench"]
HOLDBEST_CLIENTS = 100
HOLDBEST_ROWS, HOLDBEST_PER_ROW = 200, 500  # a 100,000-seat show
ONSALE_USERS = 10000
ONSALE_SEATS = 500  # 20 rows x 25
CONTENTION_CLIENTS = 1000
PROBE_INTERVAL_S = 0.05
ROWS, PER_ROW = 100, 999  # the write scenarios' big shows


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def row_letters(r):
    if r < 26:
        return chr(65 + r)
    r -= 26
    return chr(65 + r // 26) + chr(65 + r % 26)


class Progress:
    """One self-overwriting status line on a terminal; silent otherwise."""

    def __init__(self):
        self.tty = sys.stderr.isatty()

    def show(self, label, done, total):
        if not self.tty:
            return
        width = 30
        filled = int(width * min(done / total, 1.0)) if total else width
        sys.stderr.write("\r%-28s [%s%s] %5.1f/%.0f s " % (label[:28], "#" * filled,
                                                           "." * (width - filled), done, total))
        sys.stderr.flush()

    def end(self, label, summary):
        if self.tty:
            sys.stderr.write("\r\033[K")
        log("%-28s %s" % (label[:28], summary))


PROGRESS = Progress()


# ---------------------------------------------------------------- servers

class Node:
    def __init__(self, binary, db, tmp, extra=()):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log = open(os.path.join(tmp, "server-%d.log" % self.port), "w")
        self.proc = subprocess.Popen(
            [binary, "serve", "--db", db, "--listen", "127.0.0.1:%d" % self.port,
             "--admin-token", TOKEN, "--no-demo", "--log-level", "error",
             "--max-seats-per-user", "100", "--db-pool", "32", *extra],
            stdout=self.log, stderr=self.log)
        for _ in range(300):
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("server exited, see %s" % self.log.name)
            time.sleep(0.1)
        raise RuntimeError("server did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def call(self, method, path, body=None, admin=False):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if admin:
            req.add_header("Authorization", "Bearer " + TOKEN)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def new_show(self, rows, per_row, name="Bench"):
        when = (datetime.datetime.now(datetime.timezone.utc) +
                datetime.timedelta(days=1, seconds=random.randint(0, 10 ** 6)))
        last = (datetime.date.today() + datetime.timedelta(days=60)).isoformat()
        _, movie = self.call("POST", "/api/admin/movies", {
            "name": name, "durationMinutes": 100, "lastShowDate": last}, admin=True)
        _, screen = self.call("POST", "/api/admin/screens", {
            "name": "%s %dx%d %d" % (name, rows, per_row, random.randint(0, 10 ** 9)),
            "rows": rows, "seatsPerRow": per_row}, admin=True)
        st, show = self.call("POST", "/api/admin/shows", {
            "movieId": movie["movieId"], "screenId": screen["screenId"],
            "showTime": when.strftime("%Y-%m-%dT%H:%M:%S.000Z")}, admin=True)
        if st not in (200, 201):
            raise RuntimeError("show not created: %s" % show)
        return show["showId"]


class PgCluster:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="boxoffice-bench-pg.")
        os.chmod(self.dir, 0o777)  # the postgres user must enter it when run as root
        subprocess.run([os.path.join(ROOT, "tests/pg/pg_cluster.sh"), "start", self.dir],
                       check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(self.dir, "url")) as f:
            self.url = f.read().strip()

    def psql(self, sql, db_url=None):
        return subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                               db_url or self.url, "-c", sql],
                              check=True, capture_output=True, text=True).stdout

    def stop(self):
        subprocess.run([os.path.join(ROOT, "tests/pg/pg_cluster.sh"), "stop", self.dir],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------- probe

class Probe(threading.Thread):
    """Sends one request every PROBE_INTERVAL_S on its own keep-alive
    connection and records (seconds since start, latency ms, status)."""

    def __init__(self, url, make_request):
        super().__init__(daemon=True)
        self.host, self.port = url.split("//")[1].split(":")
        self.make = make_request
        self.samples = []
        self.stop_flag = threading.Event()

    def run(self):
        conn = http.client.HTTPConnection(self.host, int(self.port), timeout=30)
        t0 = time.monotonic()
        i = 0
        while not self.stop_flag.is_set():
            method, path, body = self.make(i)
            i += 1
            t = time.monotonic()
            try:
                conn.request(method, path, body=body,
                             headers={"Content-Type": "application/json"} if body else {})
                r = conn.getresponse()
                r.read()
                status = r.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(self.host, int(self.port), timeout=30)
                status = 0
            lat = (time.monotonic() - t) * 1000
            self.samples.append((round(t - t0, 3), round(lat, 3), status))
            self.stop_flag.wait(max(0.0, PROBE_INTERVAL_S - lat / 1000))

    def finish(self):
        self.stop_flag.set()
        self.join(60)
        return self.samples


# ---------------------------------------------------------------- wrk

def run_wrk(label, urls, lua, args, opts, duration=None, conns=None, env=None, probe=None,
            adjacent_ref=True):
    """Runs one wrk per URL at once (one per node); returns the summed
    result. With adjacent_ref (and --adjacent-ref, the default) /healthz
    is measured on the same nodes right before, for half as long: on a
    machine whose load moves within a minute the ratio to that neighbour is
    steadier than the ratio to one reference of the whole run."""
    ref = None
    if adjacent_ref and opts.adjacent_ref and not (lua == "get.lua" and args == ["/healthz"]):
        ref = run_wrk(label + " (ref)", urls, "get.lua", ["/healthz"], opts,
                      duration=max(2, (duration or opts.duration) // 2), conns=conns,
                      adjacent_ref=False)
    duration = duration or opts.duration
    conns = conns or opts.connections
    with open(os.path.join(LUA, "common.lua")) as f:
        common = f.read()
    with open(os.path.join(LUA, lua)) as f:
        script = common + "\n" + f.read()
    path = os.path.join(opts.tmp, "%s.lua" % re.sub(r"\W", "_", label))
    with open(path, "w") as f:
        f.write(script)
    procs = []
    for n, url in enumerate(urls):
        a = [str(x).replace("{node}", str(n)).replace("{nodes}", str(len(urls))) for x in args]
        procs.append(subprocess.Popen(
            ["wrk", "-t%d" % opts.threads, "-c%d" % conns, "-d%ds" % duration, "-s", path, url,
             "--", *a], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, **(env or {})}))
    pr = None
    if probe:
        pr = Probe(urls[0], probe)
        pr.start()
    t0 = time.monotonic()
    while any(p.poll() is None for p in procs):
        PROGRESS.show(label, time.monotonic() - t0, duration)
        time.sleep(0.2)
    results = []
    for p in procs:
        out = p.stdout.read()
        m = re.search(r"^BENCHJSON (.*)$", out, re.M)
        if not m:
            raise RuntimeError("wrk gave no result for %s:\n%s" % (label, out))
        results.append(json.loads(m.group(1)))
    r = {"requests": sum(x["requests"] for x in results),
         "duration_s": max(x["duration_s"] for x in results),
         "bytes": sum(x["bytes"] for x in results),
         "socket_errors": sum(x["socket_errors"] for x in results),
         "connections": conns * len(urls), "wrk_threads": opts.threads, "nodes": len(urls)}
    for k in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"):
        r[k] = max(x[k] for x in results)  # the worse node (exact for one node)
    r["statuses"], r["counters"] = {}, {}
    for x in results:
        for k, v in x["statuses"].items():
            r["statuses"][k] = r["statuses"].get(k, 0) + v
        for k, v in x["counters"].items():
            r["counters"][k] = r["counters"].get(k, 0) + v
    r["active_s"] = max(x["active_s"] for x in results)
    r["rps"] = r["requests"] / r["duration_s"] if r["duration_s"] else 0
    if pr:
        r["probe"] = pr.finish()
    if ref:
        r["adjacent_ref_rps"] = ref["rps"]
    PROGRESS.end(label, "%.0f req/s, p99 %.2f ms%s" % (
        r["rps"], r["p99_ms"], " (%.3f x the /healthz run before it)" % (r["rps"] / ref["rps"])
        if ref else ""))
    return r


def errors_by_status(statuses, ok=("200",)):
    return {k: v for k, v in sorted(statuses.items()) if k not in ok}


# ---------------------------------------------------------------- python clients

async def http_request(reader, writer, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    head = "%s %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n" \
           "Content-Length: %d\r\n\r\n" % (method, path, len(data))
    writer.write(head.encode() + data)
    await writer.drain()
    line = await reader.readline()
    if not line:
        raise ConnectionError("closed")
    status = int(line.split()[1])
    length = 0
    while True:
        h = await reader.readline()
        if h in (b"\r\n", b""):
            break
        k, _, v = h.decode().partition(":")
        if k.lower() == "content-length":
            length = int(v)
    payload = await reader.readexactly(length) if length else b""
    return status, payload


def pctl(values, p):
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def onsale_run(node, show, users, conns, rows, seats_per_row, opts):
    """10,000 logical users over `conns` connections (bench/onsale.c, built
    here): each user picks a random seat it believes free, holds it and
    confirms it; a refused user reads the seat map again and retries with a
    seat from it, and gives up when the map shows none free. Users are
    served in turn, a retry going to the back of the queue. The crowd is C
    so that it costs the machine little (the asyncio crowd it replaced used
    most of a core)."""
    exe = os.path.join(opts.tmp, "onsale")
    if not os.path.exists(exe):
        subprocess.run(["cc", "-O2", "-std=gnu17", "-Wall", "-Wextra", "-o", exe,
                        os.path.join(ROOT, "bench", "onsale.c"), "-lpthread"], check=True)
    port = node.url.rsplit(":", 1)[1]
    out = subprocess.run([exe, port, str(show), str(users), str(conns), str(rows),
                          str(seats_per_row), "1"], capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError("onsale: exit %d: %s" % (out.returncode, out.stderr[-400:]))
    r = {}
    for kv in out.stdout.split():
        k, _, v = kv.partition("=")
        r[k] = float(v) if "." in v else int(v)
    r["statuses"] = {"200": r.pop("status_200"), "409": r.pop("status_409"),
                     "other": r.pop("status_other")}
    if not r["time_to_sell_out_s"]:
        r["time_to_sell_out_s"] = r["confirms_per_s"] = None
    return r


async def burst(node, bodies):
    """One connection per body, all opened first, then every hold sent at
    once; returns the wall time from the first send to the last answer."""
    host, port = node.url.split("//")[1].split(":")
    conns = [await asyncio.open_connection(host, int(port)) for _ in bodies]
    go = asyncio.Event()
    statuses = {}

    async def one(conn, body):
        await go.wait()
        st, _ = await http_request(conn[0], conn[1], "POST", "/api/bookings/hold", body)
        statuses[str(st)] = statuses.get(str(st), 0) + 1

    tasks = [asyncio.ensure_future(one(c, b)) for c, b in zip(conns, bodies)]
    await asyncio.sleep(0.2)
    t = time.monotonic()
    go.set()
    await asyncio.gather(*tasks)
    wall = time.monotonic() - t
    for _, w in conns:
        w.close()
    return wall, statuses


def fsync_probe(directory, n=200):
    """100-byte write + fsync latency on the database's file system."""
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    lat = []
    try:
        for i in range(n):
            t = time.monotonic()
            os.pwrite(fd, b"x" * 100, (i % 16) * 4096)
            os.fsync(fd)
            lat.append((time.monotonic() - t) * 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    return {"n": n, "p50_ms": pctl(lat, 50), "p99_ms": pctl(lat, 99)}


# ---------------------------------------------------------------- scenarios

def hold_probe(node, show):
    def make(i):
        seat = "%s%d" % (row_letters(i // PER_ROW % ROWS), i % PER_ROW + 1)
        return ("POST", "/api/bookings/hold",
                json.dumps({"username": "probe%d" % i, "showId": show, "seats": [seat]}))
    return make


def run_backend(name, db, nodes_n, opts, pg=None):
    log("== %s" % name)
    nodes = [Node(opts.bin, db, opts.tmp, opts.server_args) for _ in range(nodes_n)]
    urls = [n.url for n in nodes]
    a = nodes[0]
    res = {"backend": name, "nodes": nodes_n, "scenarios": {}, "extra": {}}
    sc = res["scenarios"]
    try:
        map_show = a.new_show(10, 20, "Map")
        for s in ("A1", "A2", "B5"):
            a.call("POST", "/api/bookings/hold", {"username": "m", "showId": map_show, "seats": [s]})
        a.call("POST", "/api/bookings/confirm", {"username": "m", "showId": map_show, "seats": ["A1"]})
        probe_show = a.new_show(ROWS, PER_ROW, "Probe")
        get_probe = lambda path: (lambda i: ("GET", path, None))
        want = lambda s: s in opts.scenarios

        sc["healthz"] = run_wrk(name + " healthz", urls, "get.lua", ["/healthz"], opts,
                                probe=get_probe("/healthz"))
        if want("map"):
            sc["map"] = run_wrk(name + " map", urls, "get.lua", ["/api/shows/%d" % map_show],
                                opts, probe=get_probe("/api/shows/%d" % map_show))
        if want("browse"):
            shows = [a.new_show(10, 20, "Browse") for _ in range(opts.browse_shows)]
            sc["browse"] = run_wrk(name + " browse", urls, "get.lua",
                                   ["/api/shows/%d" % s for s in shows], opts,
                                   probe=get_probe("/api/shows/%d" % shows[0]))

        def big_shows(k):
            ids = [a.new_show(ROWS, PER_ROW) for _ in range(k)]
            assert ids == list(range(ids[0], ids[0] + k)), "show ids not consecutive"
            return ids[0]

        if want("hold"):
            first = big_shows(opts.big_shows)
            sc["hold"] = run_wrk(name + " hold", urls, "writes.lua",
                                 ["hold", first, opts.big_shows, ROWS, PER_ROW, "{node}", "{nodes}",
                                  opts.threads], opts, probe=hold_probe(a, probe_show))
        if want("pair"):
            first = big_shows(opts.big_shows)
            sc["pair"] = run_wrk(name + " hold+confirm", urls, "writes.lua",
                                 ["pair", first, opts.big_shows, ROWS, PER_ROW, "{node}", "{nodes}",
                                  opts.threads], opts, probe=hold_probe(a, probe_show))
        if want("paced") and "pair" in sc:
            # half the peak hold+confirm rate, and /healthz at that same rate
            conns = opts.connections * nodes_n
            half = sc["pair"]["rps"] / 2
            pace = "%.3f" % (1000.0 * conns / half)
            first = big_shows(opts.big_shows)
            sc["paced_pair"] = run_wrk(name + " pair @half", urls, "writes.lua",
                                       ["pair", first, opts.big_shows, ROWS, PER_ROW, "{node}",
                                        "{nodes}", opts.threads], opts,
                                       env={"BENCH_PACE_MS": pace}, adjacent_ref=False)
            sc["paced_healthz"] = run_wrk(name + " healthz @half", urls, "get.lua", ["/healthz"],
                                          opts, env={"BENCH_PACE_MS": pace})
            res["extra"]["paced_target_rps"] = half
        if want("book"):
            # seats enough to sell out in about half the run at the pair rate
            rate = sc.get("pair", {}).get("rps", 4000) / 2 * 2.5  # seats/s, 2.5 per cart
            total = max(2000, int(rate * opts.duration * 0.5))
            per_show = 5000
            k = max(1, total // per_show)
            ids = [a.new_show(50, 100, "Book") for _ in range(k)]
            assert ids == list(range(ids[0], ids[0] + k))
            r = run_wrk(name + " book", urls, "writes.lua",
                        ["book", ids[0], k, 50, 100, "{node}", "{nodes}", opts.threads],
                        opts, duration=opts.duration * 3, probe=get_probe("/api/shows/%d" % ids[0]))
            sold = r["counters"].get("seats_sold", 0)
            r["seats_total"] = k * per_show
            r["sold_out"] = sold == k * per_show
            r["time_to_sell_out_s"] = r["active_s"] if r["sold_out"] else None
            r["confirms_per_s"] = r["counters"]["confirms"] / r["active_s"] if r["active_s"] else 0
            r["seats_per_s"] = sold / r["active_s"] if r["active_s"] else 0
            r["rps"] = (r["requests"] - r["counters"].get("filler", 0)) / r["active_s"] \
                if r["active_s"] else 0
            sc["book"] = r
        if want("onsale"):
            show = a.new_show(20, 25, "Onsale")
            t = time.monotonic()
            log("%-28s running (%d users, %d connections)" % (name + " onsale", ONSALE_USERS,
                                                             opts.onsale_connections))
            r = onsale_run(a, show, ONSALE_USERS, opts.onsale_connections, 20, 25, opts)
            _, m = a.call("GET", "/api/shows/%d" % show)
            r["map_booked"] = len(m["seats"]["booked"])
            r["map_held"] = len(m["seats"]["held"])
            r["oversells"] = max(0, r["confirms"] - ONSALE_SEATS) + \
                max(0, r["map_booked"] - ONSALE_SEATS) + (r["confirms"] - r["map_booked"] if
                                                          r["confirms"] > r["map_booked"] else 0)
            PROGRESS.end(name + " onsale", "sold out in %s s, %d winners, 409 rate %.2f, %.1f s" % (
                "%.2f" % r["time_to_sell_out_s"] if r["time_to_sell_out_s"] else "NOT",
                r["winners"], r["rate_409"], time.monotonic() - t))
            sc["onsale"] = r
        if want("contention"):
            one = a.new_show(40, 25, "One seat")
            many = a.new_show(40, 25, "Many seats")
            n = CONTENTION_CLIENTS
            same = [{"username": "c%d" % i, "showId": one, "seats": ["A1"]} for i in range(n)]
            diff = [{"username": "d%d" % i, "showId": many,
                     "seats": ["%s%d" % (row_letters(i // 25), i % 25 + 1)]} for i in range(n)]
            w_diff, s_diff = asyncio.run(burst(a, diff))
            w_same, s_same = asyncio.run(burst(a, same))
            sc["contention"] = {"clients": n, "one_seat_s": w_same, "one_seat_statuses": s_same,
                                "distinct_seats_s": w_diff, "distinct_statuses": s_diff,
                                "ratio": w_same / w_diff}
            PROGRESS.end(name + " contention", "1000 on one seat %.3f s, on 1000 seats %.3f s (%.2fx)"
                         % (w_same, w_diff, w_same / w_diff))
        if want("holdbest"):
            res["extra"]["holdbest"] = holdbest(a, opts, name)
        if want("lowconc"):
            first = big_shows(1)
            r = run_wrk(name + " 16 clients", urls[:1], "writes.lua",
                        ["pair", first, 1, ROWS, PER_ROW, 0, 1, opts.threads], opts, conns=16)
            sc["lowconc_pair"] = r
            if db.startswith("sqlite:"):
                res["extra"]["fsync"] = fsync_probe(os.path.dirname(db[len("sqlite:"):]))
            elif pg:
                res["extra"]["fsync"] = fsync_probe(pg.dir)
        if want("stadium") and nodes_n == 1:
            res["extra"]["stadium"] = stadium(a, opts, name)
        if want("pgbench") and pg is not None:
            res["extra"]["pgbench"] = pgbench(a, pg, opts, name, nodes_n)
        # /healthz again at the end: the reference is the mean of both, so a
        # machine whose load changed during the run moves it less.
        sc["healthz_end"] = run_wrk(name + " healthz (end)", urls, "get.lua", ["/healthz"], opts)
        if db.startswith("sqlite:") and want("onsale"):
            for n_ in nodes:
                n_.stop()
            v = subprocess.run([opts.bin, "verify", "--db", db], capture_output=True, text=True)
            res["extra"]["verify"] = {"exit": v.returncode, "output": (v.stdout + v.stderr)[-400:]}
        elif pg is not None and want("onsale"):
            v = subprocess.run([opts.bin, "verify", "--db", db], capture_output=True, text=True)
            res["extra"]["verify"] = {"exit": v.returncode, "output": (v.stdout + v.stderr)[-400:]}
    finally:
        for n_ in nodes:
            n_.stop()
    return res


def probe_median(samples):
    return pctl([lat for _, lat, st in samples if st == 200], 50)


def holdbest(node, opts, name):
    """Issue 12's acceptance: the median of holds on a small show (one
    probe request every 50 ms) with nothing else running, while
    HOLDBEST_CLIENTS hold-best clients work a 100,000-seat show, and, for
    reference, while as many clients hold seats they name on that show."""
    other = node.new_show(10, 20, "Other")
    big = node.new_show(HOLDBEST_ROWS, HOLDBEST_PER_ROW, "Stadium best")
    named = node.new_show(HOLDBEST_ROWS, HOLDBEST_PER_ROW, "Stadium named")
    for i in range(0, 3000, 7):  # a map with every state, as on a real sale
        node.call("POST", "/api/bookings/hold", {
            "username": "hb%d" % (i % 90), "showId": big,
            "seats": ["%s%d" % (row_letters(i // HOLDBEST_PER_ROW), i % HOLDBEST_PER_ROW + 1)]})

    def probe(i):
        return ("POST", "/api/bookings/hold",
                json.dumps({"username": "hbp%d" % i, "showId": other,
                            "seats": ["%s%d" % (row_letters(i // 20 % 10), i % 20 + 1)]}))

    def release_probe():  # the probe's show must not fill up between phases
        for i in range(200):
            node.call("POST", "/api/bookings/release", {"username": "hbp%d" % i, "showId": other})

    label = name + " holdbest"
    pr = Probe(node.url, probe)
    pr.start()
    t0 = time.monotonic()
    while time.monotonic() - t0 < opts.duration:
        PROGRESS.show(label + " idle", time.monotonic() - t0, opts.duration)
        time.sleep(0.2)
    idle = pr.finish()
    release_probe()
    ref = run_wrk(label + " named", [node.url], "writes.lua",
                  ["hold", named, 1, HOLDBEST_ROWS, HOLDBEST_PER_ROW, 0, 1, opts.threads], opts,
                  conns=HOLDBEST_CLIENTS, probe=probe, adjacent_ref=False)
    release_probe()
    best = run_wrk(label + " best", [node.url], "best.lua", [big, 2], opts,
                   conns=HOLDBEST_CLIENTS, probe=probe, adjacent_ref=False)
    m_idle, m_ref, m_best = (probe_median(idle), probe_median(ref.pop("probe")),
                             probe_median(best.pop("probe")))
    r = {"clients": HOLDBEST_CLIENTS, "seats": HOLDBEST_ROWS * HOLDBEST_PER_ROW,
         "probe_p50_idle_ms": m_idle, "probe_p50_named_ms": m_ref, "probe_p50_best_ms": m_best,
         "best_over_idle": m_best / m_idle if m_idle else None,
         "best_over_named": m_best / m_ref if m_ref else None,
         "best_rps": best["rps"], "best_statuses": best["statuses"],
         "named_rps": ref["rps"], "named_statuses": ref["statuses"]}
    PROGRESS.end(label, "other show's hold p50: idle %.2f ms, under %d named holds %.2f ms, "
                 "under %d hold-best %.2f ms (%.2fx idle, %.2fx named); %.0f hold-best/s"
                 % (m_idle, HOLDBEST_CLIENTS, m_ref, HOLDBEST_CLIENTS, m_best,
                    r["best_over_idle"] or 0, r["best_over_named"] or 0, best["rps"]))
    return r


def stadium(node, opts, name):
    show = node.new_show(100, 500, "Stadium")
    for i in range(0, 2000, 7):  # some holds so the map has all three states
        node.call("POST", "/api/bookings/hold", {"username": "s%d" % (i % 90), "showId": show,
                                                 "seats": ["%s%d" % (row_letters(i // 500), i % 500 + 1)]})
    with urllib.request.urlopen(node.url + "/api/shows/%d" % show) as r:
        body = r.read()
    www = os.path.join(opts.tmp, "www")
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "stadium.json"), "wb") as f:
        f.write(body)
    port = free_port()
    conf = os.path.join(opts.tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""worker_processes %d;
daemon off;
pid %s/nginx.pid;
error_log %s/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/json;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path %s/nginx-body;
  proxy_temp_path %s/nginx-proxy;
  fastcgi_temp_path %s/nginx-fcgi;
  uwsgi_temp_path %s/nginx-uwsgi;
  scgi_temp_path %s/nginx-scgi;
  server { listen 127.0.0.1:%d; root %s; }
}
""" % ((opts.server_threads,) + (opts.tmp,) * 7 + (port, www)))
    ng = subprocess.Popen(["nginx", "-e", os.path.join(opts.tmp, "nginx-error.log"), "-c", conf,
                           "-p", opts.tmp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/stadium.json" % port, timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        b = run_wrk(name + " stadium boxoffice", [node.url], "get.lua",
                    ["/api/shows/%d" % show], opts)
        n = run_wrk(name + " stadium nginx", ["http://127.0.0.1:%d" % port], "get.lua",
                    ["/stadium.json"], opts)
    finally:
        ng.terminate()
        ng.wait(10)
    return {"bytes": len(body), "boxoffice": b, "nginx": n, "ratio": b["rps"] / n["rps"]}


def pgbench(node, pg, opts, name, nodes_n):
    """pgbench on the same cluster: the built-in simple-update (in its own
    database) and a script calling hold_seats_for_user directly on fresh
    seats of boxoffice's own database, at the same client count as the
    boxoffice hold scenario."""
    clients = opts.connections * nodes_n
    base = pg.url.rsplit("/", 1)[0]
    out = {"clients": clients}
    if not pg.initialised:
        pg.psql("CREATE DATABASE pgbench")
        subprocess.run(["pgbench", "-i", "-q", "-s", "1", base + "/pgbench"], check=True,
                       capture_output=True)
        pg.initialised = True

    def tps(args, label):
        t0 = time.monotonic()
        p = subprocess.Popen(["pgbench", "-n", "-c", str(clients), "-j", str(opts.threads),
                              "-T", str(opts.duration), *args], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        while p.poll() is None:
            PROGRESS.show(label, time.monotonic() - t0, opts.duration)
            time.sleep(0.2)
        text = p.stdout.read()
        m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", text)
        lat = re.search(r"latency average = ([\d.]+) ms", text)
        if not m:
            raise RuntimeError("pgbench: %s" % text)
        PROGRESS.end(label, "%s tps" % m.group(1))
        return {"tps": float(m.group(1)), "latency_avg_ms": float(lat.group(1)) if lat else None}

    out["simple_update"] = tps(["-b", "simple-update", base + "/pgbench"], name + " pgbench simple")
    first = node.new_show(ROWS, PER_ROW, "Pgbench")
    pg.psql("CREATE SEQUENCE IF NOT EXISTS bench_seq")
    script = os.path.join(opts.tmp, "hold.sql")
    with open(script, "w") as f:
        f.write("SELECT hold_seats_for_user('pgb' || n, %d + n / %d, ARRAY[((n %% %d) / %d)::int], "
                "ARRAY[(n %% %d + 1)::int], interval '1200 s', interval '2400 s', 100) "
                "FROM (SELECT nextval('bench_seq') AS n) s;\n"
                % (first, ROWS * PER_ROW, ROWS * PER_ROW, PER_ROW, PER_ROW))
    out["hold_function"] = tps(["-f", script, pg.url], name + " pgbench hold fn")
    return out


# ---------------------------------------------------------------- report

def reference(sc):
    """/healthz req/s: the mean of the runs at the start and at the end."""
    runs = [sc[k]["rps"] for k in ("healthz", "healthz_end") if k in sc]
    return sum(runs) / len(runs)


def fmt_row(label, r, ref):
    errs = errors_by_status(r.get("statuses", {}))
    if r.get("socket_errors"):
        errs["socket"] = r["socket_errors"]
    adj = r.get("adjacent_ref_rps")
    return "| %s | %.0f | %.3f | %s | %.2f | %.2f | %.2f | %.2f | %s |" % (
        label, r["rps"], r["rps"] / ref if ref else 0, "%.3f" % (r["rps"] / adj) if adj else "-",
        r["p50_ms"], r["p90_ms"], r["p99_ms"], r["p999_ms"],
        ", ".join("%s: %d" % kv for kv in errs.items()) or "0")


def report(results, opts):
    lines = []
    for res in results:
        sc = res["scenarios"]
        ref = reference(sc)
        res["reference_rps"] = ref
        lines.append("")
        lines.append("### %s (wrk -t%d -c%d -d%ds per node, server --threads %d)" % (
            res["backend"], opts.threads, opts.connections, opts.duration, opts.server_threads))
        lines.append("")
        lines.append("Reference: /healthz %.0f req/s (mean of start and end)." % ref)
        lines.append("")
        lines.append("| scenario | req/s | ÷ /healthz | ÷ /healthz just before | p50 ms | p90 ms "
                     "| p99 ms | p99.9 ms | not 200 |")
        lines.append("|---|---|---|---|---|---|---|---|---|")
        names = {"healthz": "/healthz at the start", "healthz_end": "/healthz at the end", "map": "seat map, 200 seats",
                 "browse": "browse, %d shows" % opts.browse_shows, "hold": "durable holds",
                 "pair": "hold+confirm (requests)", "paced_pair": "hold+confirm at half peak",
                 "paced_healthz": "/healthz at that rate", "book": "book (1-4 seats, until sold out)",
                 "lowconc_pair": "16 clients hold+confirm"}
        for k, label in names.items():
            if k in sc:
                lines.append(fmt_row(label, sc[k], ref))
        ex = []
        if "pair" in sc:
            pairs = sc["pair"]["counters"]["confirms"] / sc["pair"]["duration_s"]
            adj = sc["pair"].get("adjacent_ref_rps")
            ex.append("hold+confirm pairs/s %.0f = %.3f x /healthz%s" % (
                pairs, pairs / ref, " (%.3f x the /healthz just before)" % (pairs / adj) if adj else ""))
        if "paced_pair" in sc:
            pp, ph = sc["paced_pair"], sc["paced_healthz"]
            ex.append("at half peak (%.0f req/s target): hold/confirm p99 %.2f ms vs /healthz p99 "
                      "%.2f ms at %.0f req/s = %.1fx" % (res["extra"]["paced_target_rps"],
                                                          pp["p99_ms"], ph["p99_ms"], ph["rps"],
                                                          pp["p99_ms"] / max(ph["p99_ms"], 1e-3)))
        if "book" in sc:
            b = sc["book"]
            ex.append("book: %d seats, sold out: %s in %.2f s; %.0f confirms/s, %.0f seats/s" % (
                b["seats_total"], b["sold_out"], b["active_s"], b["confirms_per_s"],
                b["seats_per_s"]))
        if "onsale" in sc:
            o = sc["onsale"]
            line = ("onsale: %d users / %d connections, 500 seats: sold out in %s s "
                    "(%s confirms/s%s); oversells %d (seat map: %d booked, %d held); "
                    "409 rate %.2f; client CPU %.0f%% of a core; write p50/p90/p99/p99.9 %.2f/%.2f/%.2f/%.2f ms; "
                    "winners on 1st/2nd/later try %.0f%%/%.0f%%/%.0f%%" % (
                        o["users"], o["connections"],
                        "%.2f" % o["time_to_sell_out_s"] if o["time_to_sell_out_s"] else "NOT",
                        "%.0f" % o["confirms_per_s"] if o["confirms_per_s"] else "-",
                        " = %.2f x book's" % (o["confirms_per_s"] / sc["book"]["confirms_per_s"])
                        if o["confirms_per_s"] and "book" in sc and sc["book"]["confirms_per_s"]
                        else "",
                        o["oversells"], o["map_booked"], o["map_held"], o["rate_409"],
                        100 * o["client_cpu_share"],
                        o["p50_ms"], o["p90_ms"], o["p99_ms"], o["p999_ms"],
                        100 * o["share_first_try"], 100 * o["share_second_try"],
                        100 * o["share_later_try"]))
            ex.append(line)
        if "verify" in res["extra"]:
            ex.append("boxoffice verify: exit %d" % res["extra"]["verify"]["exit"])
        if "contention" in sc:
            c = sc["contention"]
            ex.append("contention: %d clients on one seat %.3f s, on %d seats %.3f s: %.2fx "
                      "(target <= 2x)" % (c["clients"], c["one_seat_s"], c["clients"],
                                          c["distinct_seats_s"], c["ratio"]))
        if "lowconc_pair" in sc:
            lc = sc["lowconc_pair"]
            f = res["extra"].get("fsync")
            ex.append("16 clients: write p50 %.2f ms, p99 %.2f ms%s" % (
                lc["p50_ms"], lc["p99_ms"],
                "; fsync probe p50 %.3f ms -> %.1fx" % (f["p50_ms"], lc["p50_ms"] / f["p50_ms"])
                if f else ""))
        hb = res["extra"].get("holdbest")
        if hb:
            ex.append("holdbest (%d clients on %d seats, %.0f hold-best/s): another show's hold "
                      "p50 idle %.2f ms, under %d holds of named seats %.2f ms, under hold-best "
                      "%.2f ms = %.2fx idle, %.2fx named (target <= 2x)" % (
                          hb["clients"], hb["seats"], hb["best_rps"], hb["probe_p50_idle_ms"],
                          hb["clients"], hb["probe_p50_named_ms"], hb["probe_p50_best_ms"],
                          hb["best_over_idle"] or 0, hb["best_over_named"] or 0))
        st = res["extra"].get("stadium")
        if st:
            ex.append("stadium (50,000 seats, %d bytes): boxoffice %.0f req/s, nginx %.0f req/s: "
                      "%.3f x nginx (boxoffice p99 %.2f ms, nginx p99 %.2f ms)" % (
                          st["bytes"], st["boxoffice"]["rps"], st["nginx"]["rps"], st["ratio"],
                          st["boxoffice"]["p99_ms"], st["nginx"]["p99_ms"]))
        pb = res["extra"].get("pgbench")
        if pb:
            holds = sc["hold"]["rps"] if "hold" in sc else 0
            ex.append("pgbench (%d clients, same cluster): simple-update %.0f tps, "
                      "hold_seats_for_user %.0f tps; boxoffice holds/s %.0f = %.3f x simple-update, "
                      "%.3f x hold function" % (pb["clients"], pb["simple_update"]["tps"],
                                                pb["hold_function"]["tps"], holds,
                                                holds / pb["simple_update"]["tps"],
                                                holds / pb["hold_function"]["tps"]))
        lines.append("")
        lines.extend("- " + e for e in ex)
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backends", default="sqlite,pg1,pg2")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_DURATION", "10")))
    ap.add_argument("--connections", type=int, default=int(os.environ.get("BENCH_CONNECTIONS", "32")))
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--server-threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--onsale-connections", type=int, default=64)
    ap.add_argument("--browse-shows", type=int, default=50)
    ap.add_argument("--big-shows", type=int, default=4)
    ap.add_argument("--no-adjacent-ref", dest="adjacent_ref", action="store_false",
                    help="do not measure /healthz right before every scenario")
    ap.add_argument("--bin", default=os.environ.get("BOXOFFICE_BIN",
                                                    os.path.join(ROOT, "build", "boxoffice")))
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "latest.json"))
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1 s per scenario, sqlite, few scenarios")
    opts = ap.parse_args()
    if opts.quick:
        opts.duration = 1
        opts.backends = "sqlite"
        opts.scenarios = "healthz,map,hold,pair,book"
        opts.big_shows = 1
        opts.browse_shows = 3
        opts.adjacent_ref = False
    opts.scenarios = opts.scenarios.split(",")
    opts.server_args = ["--threads", str(opts.server_threads)]
    opts.tmp = tempfile.mkdtemp(prefix="boxoffice-bench.")
    os.chmod(opts.tmp, 0o755)
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    results, pg = [], None
    try:
        for b in opts.backends.split(","):
            if b == "sqlite":
                results.append(run_backend("SQLite, 1 node", "sqlite:%s/bench.db" % opts.tmp, 1, opts))
            elif b in ("pg1", "pg2"):
                if pg is None:
                    pg = PgCluster()
                    pg.initialised = False
                n = 1 if b == "pg1" else 2
                results.append(run_backend("PostgreSQL, %d node%s" % (n, "s" if n > 1 else ""),
                                           pg.url, n, opts, pg=pg))
    finally:
        if pg:
            pg.stop()
        shutil.rmtree(opts.tmp, ignore_errors=True)
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    doc = {"started": started, "machine": {"cores": os.cpu_count(), "loadavg": load,
                                           "uname": " ".join(os.uname())},
           "options": {k: v for k, v in vars(opts).items() if k not in ("tmp",)},
           "results": results}
    text = report(results, opts)  # also stores each backend's reference_rps
    os.makedirs(os.path.dirname(opts.out), exist_ok=True)
    with open(opts.out, "w") as f:
        json.dump(doc, f, indent=1)
    print(text)
    print("\nload average at the end: %s; JSON: %s" % (load, opts.out))


if __name__ == "__main__":
    main()
