"""servers.py - the processes the Python suites run: boxoffice servers and
the throwaway PostgreSQL cluster (standard library only).

Shared by the http, crash and multinode suites:
  Server        one boxoffice process with its own temporary directory (and
                SQLite file, or the shared BOXOFFICE_TEST_DB); stop() runs
                `boxoffice verify` on its database and scans its log for
                sanitizer reports
  Cluster       the cluster of BOXOFFICE_PG_DIR made by tests/pg/pg_cluster.sh:
                stop it (any pg_ctl mode) and start it again with the options
                it was started with
  run_verify, log_tail, sanitizer_report, free_port, error_code, info

Environment:
  BOXOFFICE_BIN            server binary (default build/boxoffice of this tree)
  BOXOFFICE_TEST_DB        a postgres:// URL runs servers on that database
  BOXOFFICE_START_TIMEOUT  seconds to wait for GET /healthz (default 10)
  PG_BIN                   PostgreSQL 15 server binaries
"""

import atexit
import http.client
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

BIN = os.environ.get("BOXOFFICE_BIN", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "boxoffice"))
# A PostgreSQL URL runs every server on that shared database instead of a
# private SQLite file; the tests make their own shows and users either way.
TEST_DB = os.environ.get("BOXOFFICE_TEST_DB", "")
ON_POSTGRES = TEST_DB.startswith("postgres")
PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
START_TIMEOUT = float(os.environ.get("BOXOFFICE_START_TIMEOUT", "10"))
STOP_TIMEOUT = 5.0
VERIFY_TIMEOUT = 90.0
ADMIN_TOKEN = "test-admin-" + secrets.token_hex(8)
SANITIZER_MARKS = (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer",
                   b"runtime error:", b"WARNING: ThreadSanitizer")


def info(line):
    """Diagnostics printed as '# ...' lines (never counted as tests)."""
    print("# " + line)
    sys.stdout.flush()


def error_code(body):
    """The code of a parsed {"error": {"code": ...}} body, else None."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"].get("code")
    return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(path, lines=40):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (OSError, TypeError):
        return "(no log)"
    return b"\n".join(data.splitlines()[-lines:]).decode("utf-8", "replace")


def sanitizer_report(path, after=3000):
    """The first sanitizer report in a server log, with some context, or None."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (OSError, TypeError):
        return None
    for mark in SANITIZER_MARKS:
        i = data.find(mark)
        if i >= 0:
            return data[max(0, i - 200):i + after].decode("utf-8", "replace")
    return None


def run_verify(db):
    """(exit code, output) of `boxoffice verify --db DB`; -1 when it could not run."""
    try:
        p = subprocess.run([BIN, "verify", "--db", db], stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=VERIFY_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
        return -1, "could not run verify: %s" % e
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace").strip()


# --------------------------------------------------------------------------
# boxoffice servers

_live_servers = set()


def _stop_all_servers():
    for srv in list(_live_servers):
        srv.stop()


atexit.register(_stop_all_servers)


def _exit_on_sigterm(signum, frame):
    sys.exit(128 + signum)  # runs atexit: servers stopped, directories removed


if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


class ServerStartError(Exception):
    pass


class Server:
    """One boxoffice process with its own temporary directory and database.

    Use as a context manager or call start()/stop(); anything still running
    at interpreter exit is stopped and its directory removed (atexit)."""

    def __init__(self, args=(), admin_token=ADMIN_TOKEN, name="server"):
        self.args = list(args)
        self.admin_token = admin_token
        self.name = name
        self.proc = None
        self.tmp = None
        self.port = None
        self.log_file = None
        self.log_path = None
        self.exit_code = None
        self.sanitizer_report = None
        self.verify_report = None  # "" when `boxoffice verify` passed

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    @property
    def db_path(self):
        return os.path.join(self.tmp, "boxoffice.db")

    @property
    def db(self):
        return TEST_DB if ON_POSTGRES else "sqlite:" + self.db_path

    def command(self):
        cmd = [BIN, "serve", "--db", self.db,
               "--listen", "127.0.0.1:%d" % self.port, "--log-level", "warn"]
        if self.admin_token is not None:
            cmd += ["--admin-token", self.admin_token]
        return cmd + self.args

    def start(self):
        if not os.access(BIN, os.X_OK):
            raise ServerStartError("server binary %s not found or not executable" % BIN)
        last_error = None
        for _ in range(3):  # a port grabbed by someone else between probe and bind
            self.tmp = tempfile.mkdtemp(prefix="boxoffice-http-")
            self.port = free_port()
            self.log_path = os.path.join(self.tmp, "server.log")
            self.log_file = open(self.log_path, "wb")
            _live_servers.add(self)
            try:
                self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                             stdout=self.log_file, stderr=subprocess.STDOUT,
                                             cwd=self.tmp, start_new_session=True)
            except OSError as e:
                self.stop()
                raise ServerStartError("cannot run %s: %s" % (BIN, e))
            err = self._wait_ready()
            if err is None:
                return self
            last_error = "%s\n--- server log tail (%s) ---\n%s" % (err, " ".join(self.command()), self.log_tail())
            exited = self.proc.poll() is not None
            self.stop()
            if not exited:
                break
        raise ServerStartError("%s failed to start: %s" % (self.name, last_error))

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                return "server exited with code %d before answering /healthz" % code
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", "/healthz")
                resp = conn.getresponse()
                resp.read()
                if resp.status == 200:
                    return None
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
            time.sleep(0.05)
        return "GET /healthz did not answer 200 within %.0f s" % START_TIMEOUT

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines=40):
        return log_tail(self.log_path, lines)

    def _verify(self):
        """Runs `boxoffice verify` on the server's database once it stopped;
        returns "" when every invariant holds, else its report."""
        rc, out = run_verify(self.db)
        return "" if rc == 0 else out

    def stop(self):
        """SIGTERM, SIGKILL after 5 s, then `boxoffice verify` on its database, then
        remove the directory. Records the exit code (None when it had to be
        killed), any sanitizer report and the verify report."""
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    self.proc.send_signal(signal.SIGTERM)
                    self.exit_code = self.proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                    self.exit_code = None
            else:
                self.exit_code = self.proc.returncode
            self.proc = None
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None
            if self.sanitizer_report is None:
                self.sanitizer_report = sanitizer_report(self.log_path)
        if self.tmp is not None and self.verify_report is None:
            self.verify_report = self._verify()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None
        _live_servers.discard(self)


# --------------------------------------------------------------------------
# the PostgreSQL cluster of BOXOFFICE_PG_DIR

class ClusterError(AssertionError):
    """pg_ctl failed; an AssertionError, so the runners report it as a failure."""


class Cluster:
    """The cluster of a directory made by tests/pg/pg_cluster.sh start DIR:
    stop it, start it again with the options it was started with
    (DIR/data/postmaster.opts). Run as root (the cluster runs as the
    postgres user) or as the cluster's owner."""

    def __init__(self, directory, url=TEST_DB):
        self.dir = os.path.abspath(directory)
        self.data = os.path.join(self.dir, "data")
        self.url = url
        self.options = None

    @staticmethod
    def exists(directory):
        """True when directory holds a cluster and pg_ctl is installed."""
        return os.path.isfile(os.path.join(directory, "data", "PG_VERSION")) and \
            os.access(os.path.join(PG_BIN, "pg_ctl"), os.X_OK)

    def _pg_ctl(self, args, timeout=90):
        cmd = [os.path.join(PG_BIN, "pg_ctl"), "-D", self.data] + args
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace").strip()

    def running(self):
        return self._pg_ctl(["status"], timeout=30)[0] == 0

    def read_options(self):
        """The options the cluster runs with (postmaster.opts), as one -o
        string; pg_cluster.sh's own when the file says nothing usable."""
        words = []
        try:
            with open(os.path.join(self.data, "postmaster.opts")) as f:
                words = shlex.split(f.read().strip())[1:]  # [0] is the postgres binary
        except (OSError, ValueError):
            pass
        opts, i = [], 0
        while i < len(words):
            if words[i] == "-D":
                i += 2
                continue
            opts.append(words[i])
            i += 1
        if "-p" not in opts:
            port = urllib.parse.urlsplit(self.url).port
            opts = ["-c", "listen_addresses=127.0.0.1", "-p", str(port), "-k", self.dir,
                    "-c", "fsync=on", "-c", "max_connections=200"]
        self.options = " ".join(shlex.quote(w) for w in opts)
        return self.options

    def stop(self, mode="fast"):
        """pg_ctl -m MODE stop (immediate: a crash); raises ClusterError."""
        if self.options is None:
            self.read_options()
        rc, out = self._pg_ctl(["-w", "-t", "30", "-m", mode, "stop"])
        if rc != 0:
            raise ClusterError("pg_ctl -m %s stop failed (%d): %s" % (mode, rc, out))
        if self.running():
            raise ClusterError("PostgreSQL still running after pg_ctl -m %s stop" % mode)

    def start(self):
        """Starts it again with its own options; raises ClusterError."""
        if self.options is None:
            self.read_options()
        rc, out = self._pg_ctl(["-l", os.path.join(self.dir, "server.log"), "-w", "-t", "60",
                                "-o", self.options, "start"])
        if rc != 0:
            raise ClusterError("pg_ctl start failed (%d): %s" % (rc, out))

    def ensure_running(self):
        """Starts the cluster when it is down; returns a problem or None."""
        try:
            if self.running():
                return None
            self.start()
            return None if self.running() else "PostgreSQL did not come back"
        except Exception as e:  # reported by the caller
            return "%s: %s" % (type(e).__name__, e)
