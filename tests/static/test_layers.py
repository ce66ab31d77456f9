#!/usr/bin/python3
"""test_layers.py - the layer rule of ARCHITECTURE.md, checked against the
#include lines of every file under src/.

What each folder of src/ may include besides its own files (the rule as
ARCHITECTURE.md states it):

    main (src/*.c, *.h: main.c, options, log, sweeper, ...)  everything
    api     http, events, store, core
    http    nothing of ours
    events  core, and store (for its change type only)
    store   core
    core    nothing of ours

A folder the rule does not name is a failure too: a new layer gets its
line here and in ARCHITECTURE.md. The checker is first run on a small
made-up tree with known violations, so it is seen to catch them.

Run from anywhere: /usr/bin/python3 tests/static/test_layers.py
The last line is "N passed, M failed".
"""

import os
import re
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

RULES = {
    "main": {"api", "http", "events", "store", "core"},
    "api": {"http", "events", "store", "core"},
    "http": set(),
    "events": {"core", "store"},
    "store": {"core"},
    "core": set(),
}

INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(rel):
    """The layer of a path relative to src/: its folder, or main at the top."""
    parts = rel.split("/")
    return "main" if len(parts) == 1 else parts[0]


def violations(src):
    """[(file, include, why)] for every include that breaks the rule."""
    found = []
    for dirpath, _, files in os.walk(src):
        for name in sorted(files):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, src)
            layer = layer_of(rel)
            if layer not in RULES:
                found.append((rel, "", "folder %s/ has no line in the layer rule" % layer))
                continue
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            for inc in INCLUDE_RE.findall(text):
                target = layer_of(inc)
                if target == layer:
                    continue
                if not os.path.exists(os.path.join(src, inc)) and "/" not in inc:
                    continue  # a header generated into the build tree
                if target not in RULES[layer]:
                    found.append((rel, inc, "%s may not use %s" % (layer, target)))
    return found


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def test_checker_sees_violations():
    with tempfile.TemporaryDirectory() as tmp:
        write(tmp, "core/a.c", '#include "core/a.h"\n#include "store/store.h"\n')
        write(tmp, "core/a.h", "")
        write(tmp, "store/store.h", '#include "core/a.h"\n')
        write(tmp, "http/h.c", '#include <stdio.h>\n#include "api/api.h"\n')
        write(tmp, "api/api.h", '#include "http/h.h"\n#include "log.h"\n')
        write(tmp, "log.h", '#include "api/api.h"\n')
        write(tmp, "gadgets/g.c", "")
        got = sorted((f, i) for f, i, _ in violations(tmp))
        want = sorted([("core/a.c", "store/store.h"), ("http/h.c", "api/api.h"),
                       ("api/api.h", "log.h"), ("gadgets/g.c", "")])
        if got != want:
            return "the checker found %s in a tree whose violations are %s" % (got, want)
    return None


def test_src_follows_the_rule():
    found = violations(os.path.join(ROOT, "src"))
    if found:
        return "\n".join("  %s: #include \"%s\": %s" % v for v in found)
    return None


def test_every_layer_has_files():
    # A rule for a folder that no longer exists is a rule nobody checks.
    src = os.path.join(ROOT, "src")
    missing = [l for l in RULES if l not in ("main", "events") and not os.path.isdir(os.path.join(src, l))]
    return "no src/ folder for %s" % missing if missing else None


TESTS = [
    ("the checker catches a made-up tree's violations", test_checker_sees_violations),
    ("every #include under src/ follows the layer rule", test_src_follows_the_rule),
    ("every layer of the rule is a folder of src/", test_every_layer_has_files),
]


def main():
    passed = failed = 0
    for name, fn in TESTS:
        why = fn()
        if why is None:
            passed += 1
            print("ok - %s" % name)
        else:
            failed += 1
            print("FAIL - %s:\n%s" % (name, why))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
