#!/usr/bin/python3
"""Smoke test of the benchmark tool (bench/bench.py --quick, about 15 s):
it runs, prints its ratio table, and writes JSON whose figures add up
(every scenario answered, booked seats sold out, ratios to /healthz);
bench/plot.py draws the charts from it. Asserts behaviour, not speed."""

import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok - %s" % name)
    else:
        failed += 1
        print("not ok - %s %s" % (name, detail))


def main():
    tmp = tempfile.mkdtemp(prefix="bench-smoke.")
    out = os.path.join(tmp, "r.json")
    env = dict(os.environ)
    p = subprocess.run([sys.executable, os.path.join(ROOT, "bench/bench.py"), "--quick", "--out", out],
                       capture_output=True, text=True, env=env, timeout=240)
    check("bench.py --quick exits 0", p.returncode == 0, p.stderr[-2000:])
    check("prints the ratio table", "| durable holds |" in p.stdout and "÷ /healthz" in p.stdout,
          p.stdout[-1000:])
    try:
        with open(out) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        check("writes its JSON", False, str(e))
        print("%d passed, %d failed" % (passed, failed))
        return
    check("writes its JSON", True)
    r = doc["results"][0]
    sc = r["scenarios"]
    for k in ("healthz", "healthz_end", "map", "hold", "pair", "book"):
        s = sc.get(k)
        check("%s answered, all 200" % k, s is not None and s["requests"] > 0 and
              set(s["statuses"]) == {"200"} and s["socket_errors"] == 0, str(s and s["statuses"]))
    check("reference is the mean of both /healthz runs",
          abs(r["reference_rps"] - (sc["healthz"]["rps"] + sc["healthz_end"]["rps"]) / 2) < 1e-6)
    check("holds counted as holds", sc["hold"]["counters"]["holds"] > 0 and
          sc["hold"]["counters"]["confirms"] == 0)
    pc = sc["pair"]["counters"]
    check("every confirm follows a hold", 0 < pc["confirms"] <= pc["holds"])
    b = sc["book"]
    check("book sells every seat exactly once", b["sold_out"] and
          b["counters"]["seats_sold"] == b["seats_total"], str(b["counters"]))
    for k in ("p50_ms", "p90_ms", "p99_ms", "p999_ms"):
        check("percentile %s ordered" % k, 0 <= sc["hold"]["p50_ms"] <= sc["hold"][k] <=
              sc["hold"]["max_ms"] + 1e-6)
    png = os.path.join(tmp, "png")
    os.makedirs(png)
    q = subprocess.run([sys.executable, os.path.join(ROOT, "bench/plot.py"), out, png],
                       capture_output=True, text=True, timeout=60)
    files = sorted(os.listdir(png))
    check("plot.py draws ratio.png and a latency chart", q.returncode == 0 and "ratio.png" in files
          and any(f.startswith("latency-") for f in files), q.stderr[-500:] + str(files))
    for f in files:
        with open(os.path.join(png, f), "rb") as fh:
            check("%s is a PNG" % f, fh.read(8) == b"\x89PNG\r\n\x1a\n")
    print("%d passed, %d failed" % (passed, failed))


if __name__ == "__main__":
    main()
