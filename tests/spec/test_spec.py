#!/usr/bin/python3
"""test_spec.py - the files compiled into the binary (the page at /, the
OpenAPI spec at /openapi.json, the /docs reference), black box; and the spec
against the server both ways: every route of the server's routing table is
documented, every documented path and method answers on a live server with
a documented status, and every method a documented path does not list is
405 (so the server has no route there the spec leaves out).

Run from the repository root:  /usr/bin/python3 tests/spec/test_spec.py
(BOXOFFICE_BIN selects the binary, BOXOFFICE_TEST_DB a PostgreSQL URL).
"""

import glob
import http.client
import json
import os
import re
import sys
import urllib.parse

sys.dont_write_bytecode = True  # keep the source tree clean
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "http"))

from harness import (ADMIN_TOKEN, RESPONSE_LOG, check, eq, expect, expect_error, new_show,  # noqa: E402
                     record_response, run, short, unique_user)

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


# ---- the spec against the server ----

METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
# One entry of a routing table: {"GET", "/path", fn} or with designated
# initialisers {.method = "GET", .path = "/path", ...}.
ROUTE_RE = re.compile(r'\{\s*(?:\.method\s*=\s*)?"(%s)"\s*,\s*(?:\.(?:path|pattern)\s*=\s*)?"(/[^"]*)"'
                      % "|".join(METHODS))


_spec = None


def load_spec():
    global _spec
    if _spec is None:
        with open(SPEC_FILE, encoding="utf-8") as f:
            _spec = json.load(f)
    return _spec


def shape(path):
    """A path with every {parameter} as {}, to compare templates."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def server_routes():
    routes = set()
    for src in glob.glob(os.path.join(ROOT, "src", "**", "*.c"), recursive=True):
        with open(src, encoding="utf-8") as f:
            for method, pattern in ROUTE_RE.findall(f.read()):
                routes.add((method, shape(pattern)))
    return routes


def spec_operations(doc):
    return {(m.upper(), shape(p)) for p, item in doc["paths"].items() for m in item if m.upper() in METHODS}


def test_routes_documented(env):
    doc = load_spec()
    routes = server_routes()
    check(len(routes) >= 20, "found only %d routes in src/: the routing table's format changed?" % len(routes))
    missing = sorted(routes - spec_operations(doc))
    check(not missing, "routes of the server that web/openapi.json does not describe: %s" % missing)
    extra = sorted(spec_operations(doc) - routes)
    check(not extra, "operations in web/openapi.json that no route of the server serves: %s" % extra)


def fixture(env):
    """A show, a user with a confirmed booking, and ids to put into paths."""
    c = env.client("main")
    show = new_show(c, rows=3, seats_per_row=4)
    user = unique_user("spec")
    expect(c.post("/api/bookings/hold", {"username": user, "showId": show["showId"], "seats": ["A1"]}), 200, "hold")
    booking = expect(c.post("/api/bookings/confirm", {"username": user, "showId": show["showId"], "seats": ["A1"]}),
                     200, "confirm")
    c.close()
    return {"showId": show["showId"], "id": show["showId"], "movieId": show["movieId"],
            "screenId": show["screenId"], "username": user, "bookingReference": booking["bookingReference"],
            "booking_reference": booking["bookingReference"]}


def param_values(name, schema, fx):
    """The values a path parameter is tried with: every one of an enum."""
    if "enum" in schema:
        return list(schema["enum"])
    check(name in fx, "no value to try for path parameter {%s}" % name)
    return [str(fx[name])]


def concrete_paths(template, item, op, fx):
    params = {}
    for p in item.get("parameters", []) + op.get("parameters", []):
        if "$ref" in p:  # always #/components/parameters/NAME in this spec
            p = load_spec()["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]
        params[p["name"]] = p
    paths = [template]
    for name in re.findall(r"\{([^}]*)\}", template):
        values = param_values(name, params[name]["schema"], fx)
        paths = [p.replace("{%s}" % name, v) for p in paths for v in values]
    query = {}
    if "username" in params:
        query["username"] = fx["username"]
    if "booking_reference" in params:
        query["booking_reference"] = fx["bookingReference"]
    if query:
        paths = [p + "?" + urllib.parse.urlencode(query) for p in paths]
    return paths


def request_body(op, fx):
    ref = op.get("requestBody")
    if ref is None:
        return None
    example = dict(ref["content"]["application/json"]["example"])
    for key in ("showId", "movieId", "screenId", "username", "bookingReference"):
        if key in example:
            example[key] = fx[key]
    if "showTime" in example:
        example["showTime"] = "2099-01-01T10:00:00Z"
    if "name" in example:
        example["name"] = unique_user("spec-name")
    return example


def ask(port, method, path, body=None, admin=False):
    """One request on its own connection; for a stream, only its head."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": "Bearer " + ADMIN_TOKEN} if admin else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        ctype = resp.getheader("Content-Type", "")
        payload = b"" if ctype.startswith("text/event-stream") else resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload
    finally:
        conn.close()


def test_documented_paths_answer(env):
    doc = load_spec()
    fx = fixture(env)
    port = env.server("main").port
    tried = 0
    for template, item in doc["paths"].items():
        for method, op in item.items():
            if method.upper() not in METHODS:
                continue
            admin = "security" in op and op["security"] != []
            for path in concrete_paths(template, item, op, fx):
                status, headers, payload = ask(port, method.upper(), path, request_body(op, fx), admin)
                tried += 1
                what = "%s %s -> %d %s" % (method.upper(), path, status, short(payload, 200))
                check(str(status) in op["responses"], "%s: status not documented" % what)
                unrouted = status == 405 or (status == 404 and b'"NOT_FOUND"' in payload)
                check(not unrouted, "%s: the documented path does not answer" % what)
                if method == "get":
                    check(200 <= status < 300, "%s: a documented GET with real ids must succeed" % what)
                    media = list(op["responses"][str(status)].get("content", {}))
                    ctype = headers.get("content-type", "").split(";")[0].strip()
                    check(not media or ctype in media, "%s: Content-Type %s, documented %s" % (what, ctype, media))
    check(tried >= 25, "only %d requests tried" % tried)


def test_undocumented_methods_405(env):
    doc = load_spec()
    fx = fixture(env)
    port = env.server("main").port
    for template, item in doc["paths"].items():
        documented = {m.upper() for m in item if m.upper() in METHODS}
        # HEAD is answered wherever GET is; Allow may name it or not.
        allowed = [documented, documented | {"HEAD"}] if "GET" in documented else [documented]
        op = next(item[m] for m in item if m.upper() in METHODS)
        path = concrete_paths(template, item, op, fx)[0]
        for method in METHODS:
            if method in documented:
                continue
            status, headers, payload = ask(port, method, path, {} if method != "GET" else None)
            what = "%s %s -> %d %s" % (method, path, status, short(payload, 200))
            eq(status, 405, "%s: a method the spec does not list" % what)
            check(b'"METHOD_NOT_ALLOWED"' in payload, "%s: error code" % what)
            got = {m.strip() for m in headers.get("allow", "").split(",") if m.strip()}
            check(got in allowed, "%s: Allow %s, documented %s" % (what, sorted(got), sorted(documented)))


def test_head_as_get(env):
    doc = load_spec()
    fx = fixture(env)
    port = env.server("main").port
    for template, item in doc["paths"].items():
        if "get" not in item or template.endswith("/events"):
            continue  # a stream's HEAD is not worth a stream
        for path in concrete_paths(template, item, item["get"], fx):
            get = ask(port, "GET", path)
            head = ask(port, "HEAD", path)
            what = "HEAD %s" % path
            eq(head[0], get[0], "%s status (GET's)" % what)
            eq(head[2], b"", "%s body" % what)
            eq(head[1].get("content-type"), get[1].get("content-type"), "%s Content-Type" % what)


def read_event(resp, buf):
    """Reads from the stream until one whole event (a blank line ends it)."""
    while "\n\n" not in buf[0]:
        chunk = resp.readline()
        check(chunk, "the event stream ended")
        buf[0] += chunk.decode("utf-8")
    block, buf[0] = buf[0].split("\n\n", 1)
    fields = {}
    for line in block.split("\n"):
        if line and not line.startswith(":") and ":" in line:
            k, v = line.split(":", 1)
            v = v[1:] if v.startswith(" ") else v
            fields[k] = fields[k] + "\n" + v if k in fields else v
    return block + "\n\n", fields


def next_event(resp, buf, seen):
    """The next event that carries data (skipping retry: and comments)."""
    while True:
        block, fields = read_event(resp, buf)
        seen.append(block)
        if "data" in fields:
            return fields


def test_event_stream(env):
    """API.md 9 as the spec describes it: a snapshot, then a seats event for
    a hold; what was read is recorded for validate_responses.mjs."""
    c = env.client("main")
    show = new_show(c, rows=2, seats_per_row=3)
    path = "/api/shows/%d/events" % show["showId"]
    conn = http.client.HTTPConnection("127.0.0.1", env.server("main").port, timeout=30)
    seen = []
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        eq(resp.status, 200, "GET %s status" % path)
        check(resp.getheader("Content-Type", "").startswith("text/event-stream"), "events Content-Type")
        buf = [""]
        first = next_event(resp, buf, seen)
        eq(first.get("event"), "snapshot", "first event")
        snap = json.loads(first["data"])
        eq((snap["showId"], snap["availableSeats"]), (show["showId"], 6), "snapshot")
        user = unique_user("sse")
        expect(c.post("/api/bookings/hold", {"username": user, "showId": show["showId"], "seats": ["B2"]}),
               200, "hold")
        ev = next_event(resp, buf, seen)
        eq(ev.get("event"), "seats", "event after a hold")
        data = json.loads(ev["data"])
        eq(data["changes"], [{"seat": "B2", "status": "HELD"}], "the hold's changes")
        eq(ev.get("id"), str(data["seq"]), "id: is seq")
        headers = {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()
        c.close()
    if RESPONSE_LOG:
        record_response("GET", path, 200, headers, "".join(seen).encode())


TESTS = [
    ("/openapi.json is web/openapi.json, OpenAPI 3.1", test_openapi_served),
    ("/ is the page; its files are local", test_page_served),
    ("/docs renders the spec with swagger-ui-dist, locally", test_docs_served),
    ("unknown files are 404 NOT_FOUND", test_unknown_files),
    ("the page's paths answer 405 to POST", test_page_methods),
    ("every route of the server is documented, every operation is a route", test_routes_documented),
    ("every documented path and method answers with a documented status", test_documented_paths_answer),
    ("methods a documented path does not list are 405 with Allow", test_undocumented_methods_405),
    ("HEAD answers as GET without a body on every documented GET", test_head_as_get),
    ("the event stream: a snapshot, then a seats event per change", test_event_stream),
]

if __name__ == "__main__":
    run(TESTS, SPECS, title="boxoffice page, spec and docs")
