#!/usr/bin/env bash
# Profiles the SQLite write path with callgrind (instruction counts, which
# stay meaningful on a loaded machine): a RelWithDebInfo build serves under
# valgrind --tool=callgrind --separate-threads=yes while wrk runs the
# `hold` (or `pair`) scenario of bench/lua/writes.lua; prints the writer
# thread's top functions (inclusive) and the instructions per write
# (the show is 60 x 100 seats so that its creation stays a small share).
# usage: bench/profile.sh [hold|pair] [SECONDS]   (defaults hold 20)
# env: PROFILE_BUILD (/tmp/boxoffice-prof, configured and built here),
#      PROFILE_KEEP (a path: the writer thread's callgrind file is copied there)
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-hold}
SECS=${2:-20}
BUILD=${PROFILE_BUILD:-/tmp/boxoffice-prof}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
nice -n 10 cmake --build "$BUILD" -j2 --target boxoffice >/dev/null
TMP=$(mktemp -d /tmp/boxoffice-profile.XXXXXX)
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	[ -n "${PROFILE_KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$TMP/cg.%p" \
	"$BUILD/boxoffice" serve --db "sqlite:$TMP/p.db" --listen "127.0.0.1:$PORT" --admin-token t \
	--no-demo --log-level error --max-seats-per-user 100 --threads 2 2>"$TMP/vg.log" &
PID=$!
for _ in $(seq 300); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.2; done
admin() { curl -sf -H 'Authorization: Bearer t' -H 'Content-Type: application/json' -d "$2" "$URL$1"; }
admin /api/admin/movies '{"name":"P","durationMinutes":100,"lastShowDate":"2027-12-30"}' >/dev/null
admin /api/admin/screens '{"name":"P","rows":60,"seatsPerRow":100}' >/dev/null
admin /api/admin/shows "{\"movieId\":1,\"screenId\":1,\"showTime\":\"$(date -u -d '+2 day' +%Y-%m-%dT%H:%M:%S.000Z)\"}" >/dev/null
cat bench/lua/common.lua bench/lua/writes.lua >"$TMP/w.lua"
wrk -t2 -c16 -d"${SECS}s" -s "$TMP/w.lua" "$URL" -- "$MODE" 1 1 60 100 0 1 2 | grep BENCHJSON >"$TMP/wrk.json"
kill -TERM "$PID"
wait "$PID" || true
PID=
/usr/bin/python3 - "$TMP" <<'PY'
import glob, json, re, subprocess, sys
tmp = sys.argv[1]
r = json.loads(open(tmp + "/wrk.json").read().split(" ", 1)[1])
writes = r["counters"]["holds"] + r["counters"]["confirms"]
best = None
for f in glob.glob(tmp + "/cg.*"):
    text = open(f, errors="replace").read()
    m = re.search(r"^summary: (\d+)", text, re.M) or re.search(r"^totals: (\d+)", text, re.M)
    if "sq_do_hold" in text and m and (best is None or int(m.group(1)) > best[1]):
        best = (f, int(m.group(1)))
f, total = best
import os, shutil
if os.environ.get("PROFILE_KEEP"):
    shutil.copy(f, os.environ["PROFILE_KEEP"])
print("writes answered under callgrind: %d (holds %d, confirms %d)" % (
    writes, r["counters"]["holds"], r["counters"]["confirms"]))
print("writer thread: %d instructions = %.0f per write" % (total, total / max(1, writes)))
out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=99", f],
                     capture_output=True, text=True).stdout
# Creating the show is a fixed cost of the run, not of a write.
setup = re.search(r"^\s*([\d,]+) \(.*sq_do_create_show \[", out, re.M)
if setup:
    rest = total - int(setup.group(1).replace(",", ""))
    print("without creating the show: %.0f per write" % (rest / max(1, writes)))
lines = [l for l in out.splitlines() if re.match(r"^\s*[\d,]+ \(", l)]
for l in lines[:45]:
    print(l[:160])
PY
