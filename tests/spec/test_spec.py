#!/usr/bin/python3
"""test_spec.py - the files compiled into the binary (the page at /, the
OpenAPI spec at /openapi.json, the /docs reference), black box.

Run from the repository root:  /usr/bin/python3 tests/spec/test_spec.py
(BOXOFFICE_BIN selects the binary, BOXOFFICE_TEST_DB a PostgreSQL URL).
"""

import json
import os
import re
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "http"))

from harness import check, eq, expect_error, run, short  # noqa: E402

SPECS = {"main": {"args": []}}
SPEC_FILE = os.path.join(ROOT, "web", "openapi.json")


def raw(env, path, method="GET"):
    c = env.client("main", strict=False)
    try:
        return c.request(method, path)
    finally:
        c.close()


def content_type(resp):
    return resp[1].get("content-type", "")


# Attributes that make a browser fetch something; every one must stay on
# this server (a path starting with one "/"), so nothing comes from a CDN.
FETCH_ATTR_RE = re.compile(r'\b(?:src|href)\s*=\s*"([^"]*)"', re.I)


def local_references(html):
    refs = FETCH_ATTR_RE.findall(html)
    for ref in refs:
        check(ref.startswith(("/", "#")) and not ref.startswith("//"),
              "reference %r leaves this server" % ref)
    return [r for r in refs if r.startswith("/")]


def test_openapi_served(env):
    resp = raw(env, "/openapi.json")
    eq(resp[0], 200, "GET /openapi.json status")
    eq(content_type(resp), "application/json", "GET /openapi.json Content-Type")
    with open(SPEC_FILE, "rb") as f:
        source = f.read()
    check(resp[3] == source, "GET /openapi.json is not web/openapi.json byte for byte (%d vs %d bytes)"
          % (len(resp[3]), len(source)))
    doc = json.loads(resp[3])
    eq(doc.get("openapi"), "3.1.0", "openapi version")
    for path in ("/", "/docs", "/openapi.json", "/healthz", "/readyz", "/metrics",
                 "/api/shows/{showId}/events"):
        check(path in doc["paths"], "API.md section 12/9 path %s is not in the spec" % path)


def test_page_served(env):
    resp = raw(env, "/")
    eq(resp[0], 200, "GET / status")
    eq(content_type(resp), "text/html; charset=utf-8", "GET / Content-Type")
    html = resp[3].decode("utf-8")
    check("<html" in html and 'id="map"' in html, "GET / is not the seat-map page: %s" % short(html))
    refs = local_references(html)
    types = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
    want = sorted(r for r in refs if os.path.splitext(r)[1] in types)
    eq(want, ["/web/app.js", "/web/style.css"], "the page's scripts and styles")
    for ref in want:
        sub = raw(env, ref)
        eq(sub[0], 200, "GET %s status" % ref)
        eq(content_type(sub), types[os.path.splitext(ref)[1]], "GET %s Content-Type" % ref)
        with open(os.path.join(ROOT, "web", os.path.basename(ref)), "rb") as f:
            check(sub[3] == f.read(), "GET %s is not web/%s" % (ref, os.path.basename(ref)))
        check(b"http://" not in sub[3] and b"https://" not in sub[3], "%s names another origin" % ref)


def test_docs_served(env):
    resp = raw(env, "/docs")
    eq(resp[0], 200, "GET /docs status")
    eq(content_type(resp), "text/html; charset=utf-8", "GET /docs Content-Type")
    refs = local_references(resp[3].decode("utf-8"))
    eq(sorted(refs), ["/docs/docs.js", "/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"],
       "the files /docs loads")
    for ref in refs:
        sub = raw(env, ref)
        eq(sub[0], 200, "GET %s status" % ref)
        want = "text/css; charset=utf-8" if ref.endswith(".css") else "text/javascript; charset=utf-8"
        eq(content_type(sub), want, "GET %s Content-Type" % ref)
    bundle = raw(env, "/docs/swagger-ui-bundle.js")[3]
    with open(os.path.join(ROOT, "web", "node_modules", "swagger-ui-dist", "swagger-ui-bundle.js"), "rb") as f:
        check(bundle == f.read(), "/docs/swagger-ui-bundle.js is not npm's swagger-ui-dist file")
    docs_js = raw(env, "/docs/docs.js")[3]
    check(b"'/openapi.json'" in docs_js and b"validatorUrl: null" in docs_js,
          "/docs renders /openapi.json without the online validator: %s" % short(docs_js))


def test_unknown_files(env):
    c = env.client("main")
    for path in ("/web/nope.js", "/web/", "/docs/", "/docs/index.html", "/docs/../web/app.js",
                 "/index.html", "/openapi.yaml"):
        expect_error(c.get(path), 404, "NOT_FOUND", "GET %s" % path)
    c.close()


def test_page_methods(env):
    c = env.client("main")
    for path in ("/", "/docs", "/openapi.json", "/web/app.js"):
        resp = c.post(path, {})
        expect_error(resp, 405, "METHOD_NOT_ALLOWED", "POST %s" % path)
        check("GET" in resp[1].get("allow", ""), "POST %s: Allow %r" % (path, resp[1].get("allow")))
    c.close()


TESTS = [
    ("/openapi.json is web/openapi.json, OpenAPI 3.1", test_openapi_served),
    ("/ is the page; its files are local", test_page_served),
    ("/docs renders the spec with swagger-ui-dist, locally", test_docs_served),
    ("unknown files are 404 NOT_FOUND", test_unknown_files),
    ("the page's paths answer 405 to POST", test_page_methods),
]

if __name__ == "__main__":
    run(TESTS, SPECS, title="boxoffice page, spec and docs")
