#!/usr/bin/python3
"""Draws the charts of a bench/bench.py run with gnuplot (Debian gnuplot-nox):
  latency-<backend>.png   probe latency over time, one line per scenario
  ratio.png               each scenario's req/s as a ratio to /healthz,
                          per backend
usage: plot.py [RESULTS.json] [OUTDIR]   (defaults: bench/results/latest.json,
       its directory)
"""

import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def slug(s):
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "bench/results/latest.json")
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(src))
    with open(src) as f:
        doc = json.load(f)
    tmp = tempfile.mkdtemp(prefix="boxoffice-plot.")
    script = ["set terminal pngcairo size 1000,560 noenhanced" if has_cairo() else
              "set terminal png size 1000,560 noenhanced"]
    # throughput ratios: one block per backend, scenarios as rows
    names = ["map", "browse", "hold", "pair", "book", "lowconc_pair"]
    ratio_dat = os.path.join(tmp, "ratio.dat")
    backends = [r["backend"] for r in doc["results"]]
    with open(ratio_dat, "w") as f:
        f.write("scenario " + " ".join('"%s"' % b for b in backends) + "\n")
        rows = names + ["stadium"]
        for n in rows:
            vals = []
            for r in doc["results"]:
                ref = r["reference_rps"]
                if n == "stadium":
                    st = r["extra"].get("stadium")
                    vals.append("%.4f" % (st["boxoffice"]["rps"] / ref) if st else "NaN")
                else:
                    s = r["scenarios"].get(n)
                    vals.append("%.4f" % (s["rps"] / ref) if s else "NaN")
            f.write('"%s" %s\n' % (n, " ".join(vals)))
    script += [
        "set output '%s'" % os.path.join(out, "ratio.png"),
        "set title 'req/s as a ratio to the same server''s /healthz (%s)'" % doc["started"],
        "set style data histograms", "set style histogram clustered gap 1",
        "set style fill solid 0.8 border -1", "set yrange [0:*]", "set grid ytics",
        "set key top right", "set ylabel 'ratio to /healthz'",
        "plot " + ", ".join("'%s' using %d:xtic(1) title columnheader(%d)" % (ratio_dat, i + 2, i + 2)
                            for i in range(len(backends))),
        "unset style", "reset",
    ]
    # latency over time: the probe's samples
    for r in doc["results"]:
        plots = []
        for name, s in r["scenarios"].items():
            samples = s.get("probe") if isinstance(s, dict) else None
            if not samples:
                continue
            dat = os.path.join(tmp, "lat-%s-%s.dat" % (slug(r["backend"]), name))
            with open(dat, "w") as f:
                for t, lat, _ in samples:
                    f.write("%s %s\n" % (t, lat))
            plots.append("'%s' using 1:2 with lines title '%s'" % (dat, name))
        if not plots:
            continue
        script += [
            "set output '%s'" % os.path.join(out, "latency-%s.png" % slug(r["backend"])),
            "set title 'probe latency over time while wrk loads the server: %s'" % r["backend"],
            "set xlabel 'seconds into the scenario'", "set ylabel 'ms (log)'", "set logscale y",
            "set grid", "set key outside right",
            "plot " + ", ".join(plots), "unset logscale y",
        ]
    gp = os.path.join(tmp, "plot.gp")
    with open(gp, "w") as f:
        f.write("\n".join(script) + "\n")
    subprocess.run(["gnuplot", gp], check=True)
    for r in os.listdir(tmp):
        os.unlink(os.path.join(tmp, r))
    os.rmdir(tmp)
    print("charts in %s" % out)


def has_cairo():
    try:
        t = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
        return "pngcairo" in (t.stdout + t.stderr)
    except OSError:
        return False


if __name__ == "__main__":
    main()
