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

from harness import (BIN, ON_POSTGRES, TEST_DB, Server, TestFailure, check, eq, expect,  # noqa: E402
                     new_show, run, short, unique_user)

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


class FileServer(Server):
    """A server on a SQLite file of the test's choosing, which outlives it
    (the harness's Server removes its own directory, database included)."""

    def __init__(self, path, args=(), **kw):
        super().__init__(args=args, **kw)
        self.path = path

    @property
    def db_path(self):
        return self.path

    def command(self):
        cmd = super().command()
        i = cmd.index("--db")
        cmd[i + 1] = "sqlite:" + self.path
        return cmd


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
        user = unique_user("load%d" % i)
        seats = ["%s%d" % (chr(65 + r), n) for r in range(show["rows"])
                 for n in range(1, show["seatsPerRow"] + 1)]
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            for seat in seats:
                if self.stop_flag.is_set():
                    return
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
        for t0, t1, user, op, seat, st, body in self.log:
            if op == "confirm" and st == 200:
                out.append((t0, t1, user, seat, body["bookingReference"]))
        return out


def load_shows(c, n=LOAD_THREADS):
    return [new_show(c, 10, 20) for _ in range(n)]


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
            time.sleep(0.6)
            t_backup = time.monotonic()
            rc, out = sh([BIN, "backup", "--db", "sqlite:" + db, copy])
            t_done = time.monotonic()
            time.sleep(0.3)
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
    eq(sorted(man_opts - opts), [], "options in the man page that help does not know")
    eq(sorted(opts - man_opts), [], "options of help missing from the man page")
    man_cmds = set(re.findall(r"^\.TP\n\.B ([a-z]+)$", sections["COMMANDS"], re.M))
    eq(sorted(man_cmds - commands), [], "commands in the man page that help does not know")
    eq(sorted(commands - man_cmds), [], "commands of help missing from the man page")
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
    docs = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))) + \
        sorted(glob.glob(os.path.join(ROOT, "deploy", "*.md")))
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
]


if __name__ == "__main__":
    run(TESTS, {}, title="boxoffice operations tests")
