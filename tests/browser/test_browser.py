#!/usr/bin/python3
"""test_browser.py - the seat-map page in a real browser: npm's
playwright-core driving Debian's /usr/bin/chromium (tests/browser/scenarios.mjs),
two browser contexts as two users.

Run from the repository root:  /usr/bin/python3 tests/browser/test_browser.py
(BOXOFFICE_BIN selects the binary). With BOXOFFICE_TEST_DB set to a
PostgreSQL URL, user A's browser talks to one node and user B's to another
node on the same database; on SQLite both use one server. Screenshots
(desktop and phone width) go to BOXOFFICE_TEST_OUTPUT/browser (default
build/test-output/browser).
"""

import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "http"))

from harness import ON_POSTGRES, TestFailure, check, expect, new_show, row_label, run  # noqa: E402

SCRIPT = os.path.join(ROOT, "tests", "browser", "scenarios.mjs")
OUT = os.path.join(os.environ.get("BOXOFFICE_TEST_OUTPUT", os.path.join(ROOT, "build", "test-output")), "browser")
TAG = "pg" if ON_POSTGRES else "sqlite"
TTL_S = 3
SCENARIO_TIMEOUT_S = 120

SPECS = {
    "a": {"args": []},
    "b": {"args": []},
    "ttl-a": {"args": ["--hold-ttl", str(TTL_S)]},
    "ttl-b": {"args": ["--hold-ttl", str(TTL_S)]},
    # a quick keep-alive finds a viewer that left at once
    "one-viewer-a": {"args": ["--max-viewers", "1", "--sse-keepalive-ms", "500"]},
}


def nodes(env, prefix=""):
    """User A's server and user B's: two nodes on PostgreSQL (when SPECS has
    prefix + "b"), else one server."""
    a = env.server(prefix + "a")
    b = env.server(prefix + "b") if ON_POSTGRES and prefix + "b" in SPECS else a
    return a, b


def scenario(name, env, show, prefix=""):
    a, b = nodes(env, prefix)
    cfg = {"scenario": name, "a": "http://127.0.0.1:%d" % a.port, "b": "http://127.0.0.1:%d" % b.port,
           "showId": show["showId"], "movieName": show["movieName"], "rows": show["rows"],
           "seatsPerRow": show["seatsPerRow"], "lastRowLabel": row_label(show["rows"] - 1),
           "ttl": TTL_S, "out": OUT, "tag": "%s-%s" % (TAG, name)}
    env_vars = dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
    try:
        out = subprocess.run(["node", SCRIPT, json.dumps(cfg)], capture_output=True, text=True,
                             timeout=SCENARIO_TIMEOUT_S, env=env_vars, cwd=ROOT)
    except subprocess.TimeoutExpired:
        raise TestFailure("scenario %s did not finish within %d s" % (name, SCENARIO_TIMEOUT_S))
    for line in out.stdout.splitlines():
        if line.startswith("# "):
            print(line)
    if out.returncode != 0:
        lines = [l for l in out.stdout.splitlines() if not l.startswith("# ")]
        raise TestFailure("%s\n    %s" % ("\n    ".join(lines[-12:]), out.stderr.strip()[-800:]))


def show_on(env, prefix="", rows=6, seats_per_row=8):
    a, _ = nodes(env, prefix)
    c = a.client()
    try:
        return new_show(c, rows=rows, seats_per_row=seats_per_row)
    finally:
        c.close()


def test_first_visit(env):
    scenario("first", env, show_on(env))


def test_demo(env):
    """What `make run` serves (SQLite, its default): a server started on a
    fresh database file seeds the demo, and the page books one of the
    demo's seats end to end. A fresh file has no other show, so any active
    show is the demo's."""
    srv = env.server("demo-a")
    c = srv.client()
    try:
        shows = expect(c.get("/api/shows/active"), 200, "active shows")
        check(shows, "a fresh start seeded no demo show")
        # the latest: no show of it can start during the test
        last = max(shows, key=lambda s: (s["showTime"], s["showId"]))
        detail = expect(c.get("/api/shows/%d" % last["showId"]), 200, "the demo show")
    finally:
        c.close()
    scenario("demo", env, {"showId": detail["showId"], "movieName": detail["movieName"],
                           "rows": detail["rows"], "seatsPerRow": detail["seatsPerRow"]}, "demo-")


def test_live_two_users(env):
    scenario("live", env, show_on(env))


def test_expiry_live(env):
    scenario("expiry", env, show_on(env, "ttl-"), "ttl-")


def test_reconnect(env):
    scenario("reconnect", env, show_on(env, "one-viewer-"), "one-viewer-")


def test_keyboard_only(env):
    scenario("keyboard", env, show_on(env))


def test_access_and_phone(env):
    scenario("access", env, show_on(env, rows=4, seats_per_row=3))


def test_docs(env):
    scenario("docs", env, show_on(env, rows=1, seats_per_row=1))


def test_big_show(env):
    scenario("big", env, show_on(env, rows=200, seats_per_row=250))


TESTS = [
    ("first screen lists shows; name asked at the first hold and remembered; best seats", test_first_visit),
    ("two users live: B sees A's hold within 1 s, B's click shows the error, confirm and cancel",
     test_live_two_users),
    ("A's hold expires (--hold-ttl %d): B sees the seat available" % TTL_S, test_expiry_live),
    ("the feed reconnects by itself (refused by --max-viewers 1, then let in)", test_reconnect),
    ("keyboard-only booking", test_keyboard_only),
    ("shapes besides colours, seat labels, error sentences, phone width", test_access_and_phone),
    ("/docs renders every operation, nothing from another origin", test_docs),
    ("50,000-seat show renders and scrolls", test_big_show),
]

if not ON_POSTGRES:
    # make run's default backend; a PostgreSQL database already in use is
    # not seeded
    SPECS["demo-a"] = {"args": []}
    TESTS.insert(0, ("what make run serves: a demo seat booked end to end through the page", test_demo))

if __name__ == "__main__":
    run(TESTS, SPECS, title="boxoffice page in chromium (%s)" % TAG)
