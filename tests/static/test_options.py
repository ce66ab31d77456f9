#!/usr/bin/python3
"""test_options.py - the options of `boxoffice help` against the README's
options table, and against what the binary accepts.

`boxoffice help` is written from the one options table of src/options.c,
which also parses the flags and the environment. This suite checks that
 - the README's table (## Options) has exactly the rows that help's
   options give, in the same order (run with --print to get them);
 - every numeric option takes its range's ends and refuses one beyond
   each, as a flag and through its environment variable, so help's ranges
   and variables are the ones the parser uses.

Run from the repository root: /usr/bin/python3 tests/static/test_options.py
(BOXOFFICE_BIN selects the binary). The last line is "N passed, M failed".
"""

import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BIN = os.environ.get("BOXOFFICE_BIN", os.path.join(ROOT, "build", "boxoffice"))
README = os.path.join(ROOT, "README.md")

OPTION_RE = re.compile(r"^  ((?:-h, )?--[a-z][a-z0-9-]*)(?: (\S+))?\s+(.*)$")
RANGE_RE = re.compile(r"^(-?\d+) to (-?\d+)$")


def run(args, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("BOXOFFICE_") or k == "BOXOFFICE_BIN"}
    e.update(env or {})
    p = subprocess.run([BIN] + args, capture_output=True, text=True, env=e, timeout=20)
    return p.returncode, p.stdout + p.stderr


def help_options():
    """[{flag, arg, help, range, default, env}] from `boxoffice help`."""
    rc, out = run(["help"])
    if rc != 0:
        raise AssertionError("boxoffice help exited %d" % rc)
    lines = out.split("\n")
    start = next(i for i, l in enumerate(lines) if l.startswith("Options"))
    opts = []
    for line in lines[start + 1:]:
        m = OPTION_RE.match(line)
        if m:
            opts.append({"flag": m.group(1), "arg": m.group(2), "help": m.group(3).strip(),
                         "range": None, "default": None, "env": None})
        elif line.startswith("    ") and opts:
            for fact in line.strip().split("; "):
                r = RANGE_RE.match(fact)
                if r:
                    opts[-1]["range"] = (int(r.group(1)), int(r.group(2)))
                elif fact.startswith("default "):
                    opts[-1]["default"] = fact[len("default "):]
                elif fact.startswith("BOXOFFICE_"):
                    opts[-1]["env"] = fact
                else:
                    raise AssertionError("help line of %s: unknown fact %r" % (opts[-1]["flag"], fact))
        elif line.strip():
            break
    return opts


def readme_row(o):
    """The README row help's option o calls for."""
    flag = "`%s%s`" % (o["flag"], " " + o["arg"] if o["arg"] else "")
    what = o["help"].replace("|", "\\|")
    if o["range"]:
        what += " (%d to %d)" % o["range"]
    env = "`%s`" % o["env"] if o["env"] else ""
    return "| %s | %s | %s | %s |" % (flag, env, o["default"] or "", what)


def readme_rows():
    with open(README) as f:
        text = f.read()
    section = text.split("\n## Options\n", 1)[1].split("\n## ", 1)[0]
    rows, in_table = [], False
    for line in section.split("\n"):
        if line.startswith("| option | environment | default |"):
            in_table = True
            continue
        if in_table and line.startswith("|---"):
            continue
        if in_table and line.startswith("|"):
            rows.append(line)
        elif in_table:
            break
    return rows


def test_readme_table_matches_help():
    want = [readme_row(o) for o in help_options()]
    got = readme_rows()
    if got == want:
        return None
    extra = [r for r in got if r not in want]
    missing = [r for r in want if r not in got]
    why = "README.md's options table differs from boxoffice help"
    if missing:
        why += "\n  rows help calls for, not in the README:\n    " + "\n    ".join(missing)
    if extra:
        why += "\n  README rows help does not give:\n    " + "\n    ".join(extra)
    if not missing and not extra:
        why += " in its order"
    return why + "\n  (tests/static/test_options.py --print writes the table)"


def accepted(flag, env, value, extra):
    args = ["version"] + extra
    rc, out = run(args + [flag, str(value)])
    if rc != 0:
        return "%s %s exited %d: %s" % (flag, value, rc, out.strip())
    rc, out = run(args, {env: str(value)})
    if rc != 0:
        return "%s=%s exited %d: %s" % (env, value, rc, out.strip())
    return None


def refused(flag, env, value, extra):
    args = ["version"] + extra
    rc, out = run(args + [flag, str(value)])
    if rc != 2 or flag not in out:
        return "%s %s: exit %d, %r (want 2 naming the option)" % (flag, value, rc, out.strip())
    rc, out = run(args, {env: str(value)})
    if rc != 2 or flag not in out:
        return "%s=%s: exit %d, %r (want 2 naming the option)" % (env, value, rc, out.strip())
    return None


def test_ranges_and_variables_are_the_parsers():
    opts = [o for o in help_options() if o["range"]]
    if len(opts) < 10:
        return "help gives only %d options with a range" % len(opts)
    problems = []
    for o in opts:
        lo, hi = o["range"]
        if not o["env"]:
            problems.append("%s has a range but no environment variable" % o["flag"])
            continue
        # hold-max-lifetime must be at least hold-ttl: give it room.
        extra = ["--hold-ttl", "1"] if o["flag"] == "--hold-max-lifetime" else []
        if o["flag"] == "--hold-ttl":
            extra = ["--hold-max-lifetime", str(2 * hi)]
        for value in (lo, hi):
            problems.append(accepted(o["flag"], o["env"], value, extra))
        for value in (lo - 1, hi + 1):
            problems.append(refused(o["flag"], o["env"], value, extra))
    problems = [p for p in problems if p]
    return "\n  ".join(problems) if problems else None


def test_defaults_are_stated():
    # Every option that takes a value says its default (a value, or what
    # it is derived from, or "none").
    missing = [o["flag"] for o in help_options() if o["arg"] and not o["default"]]
    return "no default in help for %s" % missing if missing else None


TESTS = [
    ("README options table = boxoffice help", test_readme_table_matches_help),
    ("every range and variable of help is the parser's", test_ranges_and_variables_are_the_parsers),
    ("every option with a value states its default", test_defaults_are_stated),
]


def main():
    if "--print" in sys.argv[1:]:
        print("| option | environment | default | what it sets |")
        print("|---|---|---|---|")
        for o in help_options():
            print(readme_row(o))
        return 0
    passed = failed = 0
    for name, fn in TESTS:
        try:
            why = fn()
        except Exception as e:  # a crash of the test is a failure, not a pass
            why = "%s: %s" % (type(e).__name__, e)
        if why is None:
            passed += 1
            print("ok - %s" % name)
        else:
            failed += 1
            print("FAIL - %s:\n  %s" % (name, why))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
