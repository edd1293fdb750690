"""The openapi middleware end to end: requests validated against a petstore written for these
tests (tests/integration/openapi/, OAS 3.1 in YAML with a sibling-file $ref, and OAS 3.0 in
JSON), every parameter style and body shape, valid and invalid; the problem+json answer field
by field; the hostile bodies (a catastrophic pattern, deep nesting, a body too large); unmatched
operations; the rejection metric; `check` pointing into the spec file; a spec reload that
fails keeps the old spec serving. Runs over HTTP/1.1 and again over h2c."""
import json
import os
import shutil
import subprocess
import unittest
import urllib.parse

from harness import BIN, Gatehouse, GatewayTestCase, http1_only, request, upstream, wait_until  # noqa: F401

HERE = os.path.dirname(os.path.abspath(__file__))
SPECS = os.path.join(HERE, "openapi")

CONFIG = f"""
    openapi:
      - {{ name: petstore, spec: {SPECS}/petstore-3.1.yaml }}
      - {{ name: petstore30, spec: {SPECS}/petstore-3.0.json }}
    routes:
      - name: pets
        match: {{ path_prefix: /v1/ }}
        upstream: u
        middleware:
          - openapi: {{ spec: petstore, server_base: /v1, request: {{ unknown_query_parameters: pass }}, max_body: 60KiB, max_depth: 32 }}
      - name: strict
        match: {{ path_prefix: /strict/ }}
        upstream: u
        middleware:
          - openapi: {{ spec: petstore, server_base: /strict, unmatched: 405, request: {{ unknown_query_parameters: reject }} }}
      - name: lenient
        match: {{ path_prefix: /lenient/ }}
        upstream: u
        middleware:
          - openapi: {{ spec: petstore, server_base: /lenient, unmatched: pass, request: {{ body: false }} }}
      - name: answers
        match: {{ path_prefix: /r/ }}
        upstream: u
        middleware:
          - openapi: {{ spec: petstore, server_base: /r, response: {{ body: report }} }}
      - name: enforced
        match: {{ path_prefix: /e/ }}
        upstream: u
        middleware:
          - openapi: {{ spec: petstore, server_base: /e, response: {{ body: enforce }}, max_body: 512KiB }}
      - name: big
        match: {{ path_prefix: /big/ }}
        upstream: u
        middleware:
          - openapi: {{ spec: petstore, server_base: /big, max_body: 1MiB }}
      - name: old
        match: {{ path_prefix: /v0/ }}
        upstream: u
        middleware:
          - openapi: {{ spec: petstore30, server_base: /v0 }}
"""

JSON = {"Content-Type": "application/json"}


def problem(test, r, status=400):
    test.assertEqual(r.status, status, r.body)
    test.assertEqual(r.headers.get("content-type"), "application/problem+json")
    p = json.loads(r.body)
    test.assertEqual(p["type"], "urn:gatehouse:problem:openapi-validation")
    test.assertIsInstance(p["title"], str)
    test.assertEqual(p["status"], status)
    test.assertEqual(p["request_id"], r.headers.get("x-request-id"))
    test.assertTrue(p["request_id"])
    return p["errors"]


def q(**params):
    return urllib.parse.urlencode(params)


class Parameters(GatewayTestCase):
    config = CONFIG

    def get(self, path, headers=None):
        return request(self.gw.port, path=path, headers=headers)

    def test_valid_parameters_of_every_style_pass(self):
        near = urllib.parse.quote(json.dumps({"lat": 1.5}))
        r = self.get(f"/v1/pets?limit=5&tags=a&tags=b&ids=1,2,3&sizes=1|2&words=x%20y&filter[kind]=cat&filter[age]=3&near={near}",
                     headers={"X-Pet-Tag": "abc", "X-Coords": "1.5,-2", "Cookie": "a=b; session=abcd"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(json.loads(r.body)["path"], "/v1/pets", "the request went upstream unchanged")
        self.assertEqual(self.get("/v1/pets/7").status, 200)
        self.assertEqual(self.get("/v1/pets/7/photos/.a,b").status, 200)  # label style
        self.assertEqual(self.get("/v1/grid/;x=1;y=2").status, 200)  # matrix style, exploded object
        self.assertEqual(self.get("/v1/pets/mine").status, 200, "a concrete path wins over /pets/{petId}")

    def test_problem_names_each_parameter_and_keyword_never_the_value(self):
        r = self.get("/v1/pets?limit=SECRET1&tags=abcdefghijk&ids=1,SECRET2&filter[kind]=bird&filter[x]=1",
                     headers={"X-Pet-Tag": "SECRET3", "X-Coords": "1,2,3", "Cookie": "session=ab"})
        errors = problem(self, r)
        got = [(e["in"], e["name"], e["keyword"]) for e in errors]
        self.assertEqual(got, [
            ("query", "limit", "type"),
            ("query", "tags", "maxLength"),
            ("query", "ids", "type"),
            ("query", "filter", "enum"),
            ("query", "filter", "false"),
            ("header", "x-pet-tag", "pattern"),
            ("header", "x-coords", "maxItems"),
            ("cookie", "session", "minLength"),
        ])
        for e in errors:
            self.assertEqual(set(e), {"in", "name", "keyword", "detail"})
            self.assertTrue(e["detail"])
        for secret in (b"SECRET1", b"SECRET2", b"SECRET3", b"abcdefghijk", b"bird"):
            self.assertNotIn(secret, r.body)

    def test_more_parameter_failures(self):
        self.assertEqual([e["keyword"] for e in problem(self, self.get("/v1/pets?limit=0"))], ["minimum"])
        self.assertEqual([e["keyword"] for e in problem(self, self.get("/v1/pets?sizes=1|x"))], ["type"])
        self.assertEqual([e["keyword"] for e in problem(self, self.get("/v1/pets?words=a%20b%20c"))], ["maxItems"])
        near = urllib.parse.quote(json.dumps({"lon": 1}))
        self.assertEqual([e["keyword"] for e in problem(self, self.get(f"/v1/pets?near={near}"))], ["required"])
        errors = problem(self, self.get("/v1/pets/0"))
        self.assertEqual([(e["in"], e["name"], e["keyword"]) for e in errors], [("path", "petId", "minimum")])
        self.assertEqual([e["keyword"] for e in problem(self, self.get("/v1/pets/abc"))], ["type"])
        self.assertEqual([e["keyword"] for e in problem(self, self.get("/v1/pets/7/photos/a,b"))], ["type"])  # no leading '.'
        self.assertEqual([e["keyword"] for e in problem(self, self.get("/v1/grid/;x=a;y=2"))], ["pattern"])

    def test_a_repeated_scalar_is_refused_as_such(self):
        # Not an array: which of the two values counts? (Before, it became [] and a schema
        # without `type` let it through.)
        errors = problem(self, self.get("/v1/pets?cursor=1&cursor=x"))
        self.assertEqual([(e["in"], e["name"], e["keyword"]) for e in errors], [("query", "cursor", "repeated")])
        self.assertEqual([e["keyword"] for e in problem(self, self.get("/v1/pets?limit=1&limit=2"))], ["repeated"])
        self.assertEqual([e["keyword"] for e in problem(self, self.get("/v1/pets?ids=1&ids=2"))], ["repeated"])
        self.assertEqual(self.get("/v1/pets?cursor=x&tags=a&tags=b").status, 200, "an exploded array takes repeats")

    def test_unknown_query_parameters_as_configured(self):
        self.assertEqual(self.get("/v1/pets?limit=1&other=1").status, 200)
        errors = problem(self, self.get("/strict/pets?limit=1&other=1"))
        self.assertEqual(errors, [{"in": "query", "name": "other", "keyword": "unknown",
                                   "detail": "is not a parameter of this operation"}])

    def test_unmatched_operations(self):
        errors = problem(self, self.get("/v1/nothing"), 404)
        self.assertEqual(errors[0]["keyword"], "operation")
        problem(self, request(self.gw.port, "DELETE", "/v1/pets"), 404)
        r = request(self.gw.port, "DELETE", "/strict/pets")
        problem(self, r, 405)
        self.assertEqual(r.headers.get("allow"), "GET, POST")
        self.assertEqual(request(self.gw.port, "DELETE", "/lenient/pets").status, 200)
        problem(self, self.get("/v1/"), 404)  # server_base alone: the spec has no "/"

    def test_rejections_counted_by_route_and_keyword(self):
        self.get("/v1/pets?limit=1000")
        def count():
            text = self.gw.admin("GET", "/metrics")[1]
            for line in text.splitlines():
                if line.startswith("gatehouse_openapi_rejections_total{") and 'route="pets"' in line and 'keyword="maximum"' in line:
                    return float(line.split()[-1])
            return 0
        self.assertGreaterEqual(count(), 1)


class Responses(GatewayTestCase):
    config = CONFIG

    def counts(self):
        out = {}
        for line in self.gw.admin("GET", "/metrics")[1].splitlines():
            if line.startswith("gatehouse_openapi_response_errors_total{") and 'route="answers"' in line:
                keyword = line.split('keyword="')[1].split('"')[0]
                out[keyword] = float(line.split()[-1])
        return out

    def test_responses_reported_not_changed(self):
        good = request(self.gw.port, path="/r/answers/good")
        self.assertEqual(good.status, 200)
        bad = request(self.gw.port, path="/r/answers/bad")
        self.assertEqual(bad.status, 200, "report: the client gets the response as it is")
        self.assertEqual(json.loads(bad.body)["method"], "GET")
        self.assertTrue(wait_until(lambda: self.counts().get("required") == 1 and self.counts().get("const") == 1), self.counts())
        self.assertTrue(self.gw.wait_for_log(r'route answers: a 200 response does not match the spec: required at "/pets" \(2 errors\)'))
        self.assertNotIn("GET", self.gw.log().split("does not match the spec")[1].splitlines()[0], "no value in the log")
        self.assertEqual(request(self.gw.port, path="/r/answers/good").status, 200)
        self.assertEqual(sum(self.counts().values()), 2, "the matching response counted nothing")


class EnforcedResponses(GatewayTestCase):
    """response: { body: enforce }: the response is held until its body is judged; one the spec
    does not allow, or larger than max_body, is a 502 (logged and counted); a good one arrives
    whole and unchanged, also when it took many reads."""
    config = CONFIG

    def counts(self):
        out = {}
        for line in self.gw.admin("GET", "/metrics")[1].splitlines():
            if line.startswith("gatehouse_openapi_response_errors_total{") and 'route="enforced"' in line:
                out[line.split('keyword="')[1].split('"')[0]] = float(line.split()[-1])
        return out

    def test_a_matching_response_passes_unchanged(self):
        r = request(self.gw.port, path="/e/answers/good")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(json.loads(r.body)["path"], "/e/answers/good")
        big = json.dumps(list(range(60000))).encode()  # ~400 KB: many reads from the upstream
        self.up.files["/e/big"] = (200, big, "Content-Type: application/json\r\nX-Kept: yes\r\n")
        r = request(self.gw.port, path="/e/big")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, big)
        self.assertEqual(r.headers.get("x-kept"), "yes", "the upstream's fields survive the wait")

    def test_a_mismatch_is_a_502(self):
        r = request(self.gw.port, path="/e/answers/bad")
        self.assertEqual(r.status, 502)
        self.assertNotIn(b'"method"', r.body, "nothing of the upstream's body reaches the client")
        self.assertTrue(wait_until(lambda: self.counts().get("required", 0) >= 1), self.counts())
        self.up.files["/e/big"] = (200, json.dumps(list(range(60000)) + ["x"]).encode(), "Content-Type: application/json\r\n")
        self.assertEqual(request(self.gw.port, path="/e/big").status, 502)
        self.assertEqual(request(self.gw.port, path="/e/answers/good").status, 200, "the connection after a 502 still serves")

    def test_a_response_past_max_body_is_a_502(self):
        self.up.files["/e/big"] = (200, json.dumps(list(range(100000))).encode(), "Content-Type: application/json\r\n")
        self.assertEqual(request(self.gw.port, path="/e/big").status, 502)
        self.assertTrue(wait_until(lambda: self.counts().get("max_body", 0) >= 1), self.counts())


class Bodies(GatewayTestCase):
    config = CONFIG

    def post(self, path, body, headers=JSON, method="POST"):
        return request(self.gw.port, method, path, headers=headers, body=body)

    def test_valid_body_goes_upstream_whole(self):
        pet = json.dumps({"id": 1, "name": "Rex", "tag": None, "weight": 3.5, "photos": ["https://a", "https://b"]}).encode()
        r = self.post("/v1/pets", pet)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(json.loads(r.body)["body"], pet.decode())
        self.assertEqual(self.post("/v1/pets/3", json.dumps({"name": "a"}).encode(), method="PUT").status, 200)
        self.assertEqual(self.post("/v1/pets", json.dumps({"name": "Rex"}).encode(),
                                   headers={"Content-Type": "application/json; charset=utf-8"}).status, 200)

    def test_invalid_bodies_name_the_pointer_and_keyword(self):
        body = json.dumps({"id": 0, "tag": 5, "weight": 0, "photos": ["http://x", "https://a", "https://a"], "SECRET": 1})
        errors = problem(self, self.post("/v1/pets", body.encode()))
        got = sorted((e["in"], e["pointer"], e["keyword"]) for e in errors)
        self.assertEqual(got, sorted([
            ("body", "/name", "required"),
            ("body", "/id", "minimum"),
            ("body", "/tag", "type"),
            ("body", "/weight", "exclusiveMinimum"),
            ("body", "/photos", "uniqueItems"),
            ("body", "/photos/0", "pattern"),
            ("body", "/SECRET", "false"),
        ]))
        for e in errors:
            self.assertEqual(set(e), {"in", "pointer", "keyword", "detail"})
        self.assertNotIn(b"http://x", self.post("/v1/pets", body.encode()).body)

    def test_body_presence_media_type_and_syntax(self):
        self.assertEqual([e["keyword"] for e in problem(self, request(self.gw.port, "POST", "/v1/pets"))], ["required"])
        errors = problem(self, self.post("/v1/pets", b"name=Rex", headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)
        self.assertEqual(errors, [{"in": "header", "name": "content-type", "keyword": "media_type",
                                   "detail": "is not a media type of the operation's request body"}])
        self.assertEqual([e["keyword"] for e in problem(self, self.post("/v1/pets", b'{"name": "Rex",'))], ["syntax"])
        self.assertEqual(self.post("/lenient/pets", b"{}").status, 200, "request.body: false")

    def test_catastrophic_pattern_answered(self):
        # ^(a|b)*$ against a long run of a's ending in a c: exponential for a backtracking
        # engine, linear for RE2. The answer is what is asserted.
        errors = problem(self, self.post("/v1/words", json.dumps("a" * 60000 + "c").encode()))
        self.assertEqual([(e["pointer"], e["keyword"]) for e in errors], [("", "pattern")])
        self.assertEqual(self.post("/v1/words", json.dumps("ab" * 30000).encode()).status, 200)

    def test_deep_and_huge_bodies_refused_before_parsing(self):
        errors = problem(self, self.post("/v1/trees", b"[" * 10000))
        self.assertEqual([(e["pointer"], e["keyword"]) for e in errors], [("", "depth")])
        self.assertEqual(self.post("/v1/trees", b"[" * 100000).status, 413)
        self.assertEqual(self.post("/v1/trees", b"[[[[]]]]").status, 200)
        self.assertEqual(self.post("/v1/pets", b" " * (200 * 1024)).status, 413)

    def test_bodies_past_64k_are_validated_whole(self):
        # max_body: 1MiB: the body is taken from the connection as it comes (HTTP/1.1's buffer
        # and an HTTP/2 stream's window are 64 KiB) and validated whole; the upstream gets it all.
        good = json.dumps("ab" * 300000).encode()
        r = self.post("/big/words", good)
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(json.loads(r.body)["body_length"], len(good))
        errors = problem(self, self.post("/big/words", json.dumps("ab" * 300000 + "c").encode()))
        self.assertEqual([(e["pointer"], e["keyword"]) for e in errors], [("", "pattern")])
        self.assertEqual(self.post("/big/words", json.dumps("a" * (1024 * 1024)).encode()).status, 413)

    @http1_only("chunked framing is HTTP/1.1's")
    def test_a_chunked_body_past_64k_is_validated_and_sent_whole(self):
        good = json.dumps("ab" * 200000).encode()
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(good[i:i + 10000]), good[i:i + 10000]) for i in range(0, len(good), 10000)) + b"0\r\n\r\n"
        r = self.post("/big/words", chunked, headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(json.loads(r.body)["body_length"], len(good))
        bad = json.dumps("ab" * 200000 + "c").encode()
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(bad[i:i + 10000]), bad[i:i + 10000]) for i in range(0, len(bad), 10000)) + b"0\r\n\r\n"
        r = self.post("/big/words", chunked, headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        self.assertEqual(r.status, 400)

    def test_openapi_3_0_normalised(self):
        ok = {"name": "Rex", "tag": None, "weight": 1, "owner": {"id": 1}}
        self.assertEqual(self.post("/v0/pets", json.dumps(ok).encode()).status, 200)
        bad = {"name": "Rex", "weight": 0, "owner": {}}
        errors = problem(self, self.post("/v0/pets", json.dumps(bad).encode()))
        self.assertEqual(sorted((e["pointer"], e["keyword"]) for e in errors),
                         [("/owner/id", "required"), ("/weight", "exclusiveMinimum")])
        self.assertEqual([e["keyword"] for e in problem(self, request(self.gw.port, path="/v0/pets?limit=100"))],
                         ["exclusiveMaximum"])
        self.assertEqual(request(self.gw.port, path="/v0/pets?limit=99").status, 200)


def validate_openapi(test, doc):
    """The verdict of @seriousme/openapi-schema-validator (tests/integration/openapi_validator)."""
    out = subprocess.run(["node", "validate.mjs"], cwd=os.path.join(HERE, "openapi_validator"), input=json.dumps(doc),
                         capture_output=True, text=True, timeout=60)
    test.assertEqual(out.returncode, 0, out.stderr)
    return json.loads(out.stdout)


class ConfiguredSpecs(GatewayTestCase):
    config = CONFIG

    def test_configured_specs_served_on_the_admin_listener(self):
        status, doc = self.gw.admin("GET", "/openapi.json")
        self.assertEqual(status, 200)
        self.assertEqual(doc["x-gatehouse-specs"], ["petstore", "petstore30"])
        self.assertTrue(validate_openapi(self, doc)["valid"])
        status, spec = self.gw.admin("GET", "/openapi.json?spec=petstore")
        self.assertEqual(status, 200)
        self.assertEqual(spec["info"]["title"], "Petstore")
        self.assertIn("/pets/{petId}", spec["paths"])
        status, spec30 = self.gw.admin("GET", "/openapi.json?spec=petstore30")
        self.assertEqual(spec30["components"]["schemas"]["Pet"]["properties"]["tag"]["nullable"], True, "as written, not normalised")
        verdict = validate_openapi(self, spec30)
        self.assertTrue(verdict["valid"], verdict["errors"])
        self.assertEqual(verdict["version"], "3.0")
        self.assertEqual(self.gw.admin("GET", "/openapi.json?spec=nope")[0], 404)


class AdminDocument(GatewayTestCase):
    """GET /openapi.json on the admin listener, checked by an independent OpenAPI validator
    (@seriousme/openapi-schema-validator, pinned in openapi_validator/package-lock.json)."""
    config = """
        routes:
          - name: user
            match: { path_template: "/users/{id}/files/{rest=**}", methods: [GET, PUT] }
            upstream: u
            middleware:
              - api_key: { keys: [{ consumer: c, sha256: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae }] }
              - rate_limit: { limits: [{ name: l, key: client_ip, rate: 100/s }] }
          - name: health
            match: { path: /healthz }
            upstream: u
          - name: rest
            match: { path_prefix: /api/ }
            upstream: u
    """

    def test_generated_document_is_valid_openapi(self):
        status, doc = self.gw.admin("GET", "/openapi.json")
        self.assertEqual(status, 200)
        verdict = validate_openapi(self, doc)
        self.assertTrue(verdict["valid"], verdict["errors"])
        self.assertEqual(verdict["version"], "3.1")
        user = doc["paths"]["/users/{id}/files/{rest}"]
        self.assertEqual(sorted(k for k in user if not k.startswith("x-")), ["get", "put"])
        get = user["get"]
        self.assertEqual(get["x-gatehouse-route"], "user")
        self.assertEqual([p["name"] for p in get["parameters"]], ["id", "rest"])
        self.assertEqual(get["security"], [{"api_key": []}])
        self.assertTrue({"401", "403", "429", "503"} <= set(get["responses"]))
        self.assertEqual(doc["components"]["securitySchemes"]["api_key"]["type"], "apiKey")
        self.assertNotIn("401", doc["paths"]["/healthz"]["get"]["responses"])
        self.assertEqual(doc["paths"]["/api/"]["x-gatehouse-match"], "path_prefix")


class Check(unittest.TestCase):
    def check(self, spec_text, name="spec.yaml"):
        d = os.path.join(os.path.dirname(__file__), "..", "..", "build")
        import tempfile
        tmp = tempfile.mkdtemp(prefix="gatehouse-openapi-")
        self.addCleanup(shutil.rmtree, tmp)
        spec = os.path.join(tmp, name)
        with open(spec, "w") as f:
            f.write(spec_text)
        cfg = os.path.join(tmp, "gatehouse.yaml")
        with open(cfg, "w") as f:
            f.write(f"""listeners: [{{ name: public, listen: 127.0.0.1:0 }}]
openapi:
  - {{ name: s, spec: {spec} }}
upstreams: [{{ name: u, discovery: {{ static: [127.0.0.1:1] }} }}]
routes:
  - name: r
    upstream: u
    middleware: [{{ openapi: {{ spec: s }} }}]
""")
        out = subprocess.run([BIN, "check", cfg], capture_output=True, text=True, timeout=30)
        return out.returncode, out.stdout + out.stderr, spec

    def test_refusals_point_into_the_spec_file(self):
        code, out, spec = self.check("""openapi: 3.1.0
info: { title: t, version: "1" }
paths:
  /a:
    post:
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                name: { type: string, pattern: "^(?!admin)" }
                age: { type: integer, minimun: 3 }
""")
        self.assertNotEqual(code, 0)
        self.assertIn(f"{spec}:12:39: ", out)  # the pattern keyword
        self.assertIn("RE2", out)
        self.assertIn(f"{spec}:13:39: ", out)
        self.assertIn("minimun", out)

    def test_valid_spec_passes_check(self):
        code, out, _ = self.check("""openapi: 3.0.0
info: { title: t, version: "1" }
paths:
  /a/{id}:
    get:
      parameters: [{ name: id, in: path, required: true, schema: { type: integer, nullable: true } }]
      responses: { "200": { description: ok } }
""")
        self.assertEqual(code, 0, out)


class Reload(unittest.TestCase):
    def test_a_broken_spec_keeps_the_old_one_serving(self):
        import tempfile
        tmp = tempfile.mkdtemp(prefix="gatehouse-openapi-")
        self.addCleanup(shutil.rmtree, tmp)
        spec = os.path.join(tmp, "spec.yaml")
        good = """openapi: 3.1.0
info: { title: t, version: "1" }
paths:
  /items:
    get:
      parameters: [{ name: n, in: query, schema: { type: integer, maximum: LIMIT } }]
      responses: { "200": { description: ok } }
"""
        with open(spec, "w") as f:
            f.write(good.replace("LIMIT", "10"))
        up = upstream("u")
        self.addCleanup(up.stop)
        config = f"""
            openapi: [{{ name: s, spec: {spec} }}]
            routes: [{{ name: r, upstream: u, middleware: [{{ openapi: {{ spec: s }} }}] }}]
        """
        with Gatehouse(config, upstreams={"u": [up]}) as gw:
            self.assertEqual(request(gw.port, path="/items?n=20").status, 400)
            with open(spec + ".tmp", "w") as f:
                f.write(good.replace("LIMIT", "10").replace("maximum", "maximun"))
            os.replace(spec + ".tmp", spec)
            # The watcher reloads on its own; an admin reload makes the outcome independent of
            # when its event arrives (every reload with this file is rejected the same way).
            status, body = gw.reload()
            self.assertEqual(status, 400)
            self.assertEqual(body["result"], "rejected")
            self.assertIn("maximun", body["error"])
            self.assertTrue(gw.wait_for_log(r"reload .* rejected"), "rejected and logged")
            self.assertEqual(request(gw.port, path="/items?n=20").status, 400, "the old spec still serves")
            self.assertEqual(request(gw.port, path="/items?n=5").status, 200)
            with open(spec + ".tmp", "w") as f:
                f.write(good.replace("LIMIT", "30"))
            os.replace(spec + ".tmp", spec)
            self.assertEqual(gw.reload()[0], 200)
            self.assertEqual(request(gw.port, path="/items?n=20").status, 200, "the new spec serves")


if __name__ == "__main__":
    unittest.main()
