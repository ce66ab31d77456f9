#!/usr/bin/python3
"""test_durability.py - the server reports what durability rests on, and
warns loudly when a storage setting lets an acknowledged booking be lost.

At start the log names the settings; GET /readyz carries
"durability":{"settings":{...},"atRisk":[...]} and /metrics has
boxoffice_storage_setting{name,value} and boxoffice_storage_durability_at_risk.
A setting at risk gives a "WARNING: DURABILITY AT RISK" line naming it.

SQLite: the normal server (synchronous=FULL: nothing at risk), and the test
build (tests/boxoffice_testing) weakened with BOXOFFICE_TEST_SQLITE_SYNCHRONOUS=OFF.
PostgreSQL (BOXOFFICE_TEST_DB): the shared database as configured (fsync,
synchronous_commit, full_page_writes all on: nothing at risk); a database of
this suite's own with ALTER DATABASE ... SET synchronous_commit = off (other
suites' sessions are untouched); and a throwaway cluster of its own started
with fsync=off and full_page_writes=off (tests/pg/pg_cluster.sh).

Run:  /usr/bin/python3 tests/http/test_durability.py   (BOXOFFICE_BIN, BOXOFFICE_TEST_DB)
"""

import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402
from harness import ON_POSTGRES, TEST_DB, Server, check, eq, expect, run, short  # noqa: E402

TESTING_BIN = os.environ.get("BOXOFFICE_TESTING_BIN") or os.path.join(
    os.path.dirname(os.path.abspath(harness.BIN)), "tests", "boxoffice_testing")
CLUSTER_SH = os.path.join(HERE, "..", "pg", "pg_cluster.sh")
OWN_DB = "boxoffice_durability_%d" % os.getpid()
WARNING = "WARNING: DURABILITY AT RISK"


class DbServer(Server):
    """A harness server on a database (and binary, environment) of the test's choosing."""

    def __init__(self, db=None, binary=None, env=None):
        super().__init__(args=["--log-level", "info"])  # after the harness's "warn": it wins
        self.own_db = db
        self.binary = binary
        self.env = env or {}

    @property
    def db(self):
        return self.own_db or super().db

    def command(self):
        cmd = super().command()
        if self.binary:
            cmd[0] = self.binary
        return cmd

    def start(self):
        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        try:
            return super().start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


def psql(url, sql):
    p = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql], capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=60)
    check(p.returncode == 0, "psql %s: %s" % (sql, p.stderr.decode("utf-8", "replace")))


def metrics(srv):
    c = srv.client(strict=False)
    try:
        st, _, _, raw = c.get("/metrics")
    finally:
        c.close()
    eq(st, 200, "GET /metrics")
    settings, at_risk = {}, None
    for line in raw.decode().splitlines():
        if line.startswith("boxoffice_storage_setting{"):
            labels = dict(kv.split("=", 1) for kv in line[line.index("{") + 1:line.index("}")].split(","))
            settings[labels["name"].strip('"')] = labels["value"].strip('"')
        elif line.startswith("boxoffice_storage_durability_at_risk "):
            at_risk = int(line.split()[1])
    return settings, at_risk


def check_report(srv, expected, risky):
    """The log, /readyz and /metrics agree: settings as expected (a subset
    of name -> value), exactly the settings in risky at risk, and a loud
    warning for each of those only."""
    body = expect(srv.client().get("/readyz"), 200, "GET /readyz")
    dur = body.get("durability")
    check(isinstance(dur, dict) and isinstance(dur.get("settings"), dict),
          "/readyz has no durability field: %s" % short(body))
    for name, value in expected.items():
        eq(dur["settings"].get(name), value, "/readyz durability setting %s" % name)
    eq(sorted(dur.get("atRisk", [])), sorted(risky), "/readyz atRisk")
    settings, at_risk = metrics(srv)
    eq(settings, dur["settings"], "settings in /metrics vs /readyz")
    eq(at_risk, len(risky), "boxoffice_storage_durability_at_risk")
    log = srv.log()
    warnings = [l for l in log.splitlines() if WARNING in l]
    for name in risky:
        check(any(("%s=%s" % (name, dur["settings"][name])) in l for l in warnings),
              "no loud warning for %s in the log:\n%s" % (name, log))
    eq(len(warnings), len(risky), "durability warnings in the log (%s)" % warnings)
    check("storage durability: " in log, "the settings are not logged:\n%s" % log)


def run_server(srv, expected, risky):
    try:
        srv.start()
        check_report(srv, expected, risky)
    finally:
        srv.stop()
    check(srv.exit_code == 0, "exit code %s after SIGTERM" % srv.exit_code)
    check(not srv.sanitizer_report, "sanitizer report:\n%s" % srv.sanitizer_report)
    check(not srv.verify_report, "verify failed:\n%s" % srv.verify_report)


def test_sqlite_full(env):
    run_server(DbServer(), {"synchronous": "FULL", "journal_mode": "wal"}, [])


def test_sqlite_off(env):
    run_server(DbServer(binary=TESTING_BIN, env={"BOXOFFICE_TEST_SQLITE_SYNCHRONOUS": "OFF"}),
               {"synchronous": "OFF"}, ["synchronous"])


def test_sqlite_new_file_dir_synced(env):
    """A new database file's name is made durable: after creating it
    (`boxoffice migrate`, as every server start does), the process fsyncs
    its directory. Seen with strace (system calls, in order)."""
    tmp = tempfile.mkdtemp(prefix="boxoffice-dirsync-")
    try:
        db = os.path.join(tmp, "new.db")
        trace = os.path.join(tmp, "trace")
        # LeakSanitizer cannot run under ptrace (an ASan build here).
        asan = os.environ.get("ASAN_OPTIONS", "")
        p = subprocess.run(["strace", "-f", "-qq", "-e", "trace=openat,fsync", "-o", trace,
                            harness.BIN, "migrate", "--db", "sqlite:" + db],
                           capture_output=True, stdin=subprocess.DEVNULL, timeout=60,
                           env=dict(os.environ, ASAN_OPTIONS=(asan + ":" if asan else "") + "detect_leaks=0"))
        eq(p.returncode, 0, "migrate of a new file: %s" % short(p.stderr))
        with open(trace) as f:
            calls = f.read().splitlines()
        created = next((i for i, c in enumerate(calls) if '"%s"' % db in c and "O_CREAT" in c), None)
        check(created is not None, "the database file was not created:\n%s" % "\n".join(calls[-20:]))
        dir_fds = {}
        synced = False
        for c in calls[created:]:
            if '"%s"' % tmp in c and "O_DIRECTORY" in c and "= " in c:
                fd = c.rsplit("= ", 1)[1].split()[0]
                if fd.isdigit():
                    dir_fds[fd] = True
            elif "fsync(" in c:
                fd = c.split("fsync(", 1)[1].split(")", 1)[0]
                synced = synced or (fd in dir_fds and c.rstrip().endswith("= 0"))
        check(synced, "the directory %s was never fsynced after the file was created:\n%s"
              % (tmp, "\n".join(calls[created:created + 40])))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_pg_shared(env):
    run_server(DbServer(),
               {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}, [])


def test_pg_synchronous_commit_off(env):
    admin = TEST_DB.rsplit("/", 1)[0] + "/postgres"
    psql(admin, "DROP DATABASE IF EXISTS %s" % OWN_DB)
    psql(admin, "CREATE DATABASE %s" % OWN_DB)
    try:
        psql(admin, "ALTER DATABASE %s SET synchronous_commit = off" % OWN_DB)
        run_server(DbServer(db=TEST_DB.rsplit("/", 1)[0] + "/" + OWN_DB),
                   {"fsync": "on", "synchronous_commit": "off", "full_page_writes": "on"}, ["synchronous_commit"])
        # "local" flushes the local WAL before the commit returns: safe
        psql(admin, "ALTER DATABASE %s SET synchronous_commit = local" % OWN_DB)
        run_server(DbServer(db=TEST_DB.rsplit("/", 1)[0] + "/" + OWN_DB),
                   {"synchronous_commit": "local"}, [])
    finally:
        psql(admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % OWN_DB)


def test_pg_fsync_off_cluster(env):
    tmp = tempfile.mkdtemp(prefix="boxoffice-durability-pg-")
    os.chmod(tmp, 0o755)
    cluster = os.path.join(tmp, "c")
    try:
        p = subprocess.run([CLUSTER_SH, "start", cluster], capture_output=True, stdin=subprocess.DEVNULL,
                           timeout=120, env=dict(os.environ, PG_CLUSTER_OPTIONS="-c fsync=off -c full_page_writes=off"))
        check(p.returncode == 0, "throwaway cluster: %s" % p.stderr.decode("utf-8", "replace"))
        url = p.stdout.decode().strip().splitlines()[-1]
        run_server(DbServer(db=url), {"fsync": "off", "synchronous_commit": "on", "full_page_writes": "off"},
                   ["fsync", "full_page_writes"])
    finally:
        subprocess.run([CLUSTER_SH, "stop", cluster], capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
        shutil.rmtree(tmp, ignore_errors=True)


if ON_POSTGRES:
    TESTS = [
        ("PostgreSQL as configured (all on): settings in the log, /readyz and /metrics, no warning",
         test_pg_shared),
        ("PostgreSQL database with synchronous_commit=off: loud warning, atRisk, metric; =local is safe",
         test_pg_synchronous_commit_off),
        ("PostgreSQL cluster with fsync=off and full_page_writes=off: a loud warning for each",
         test_pg_fsync_off_cluster),
    ]
else:
    TESTS = [
        ("SQLite synchronous=FULL: settings in the log, /readyz and /metrics, no warning", test_sqlite_full),
        ("SQLite weakened to synchronous=OFF (test build): loud warning, atRisk, metric", test_sqlite_off),
        ("SQLite: a new database file's directory is fsynced", test_sqlite_new_file_dir_synced),
    ]

if __name__ == "__main__":
    run(TESTS, {}, title="boxoffice durability settings (%s)" % ("postgres" if ON_POSTGRES else "sqlite"))
