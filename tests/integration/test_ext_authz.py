"""ext_authz: the policy service is a real HTTP server on loopback (written here, counting its
calls), reached as an ordinary upstream; the protected upstream is the test upstream, whose
/echo shows what reached it. Cached decisions, coalescing, TTLs, stale_if_error, purge, header
copying both ways, and oauth2_introspection against a real introspection endpoint."""
import base64
import http.server
import json
import os
import threading
import time
import unittest
import urllib.parse

from harness import Gatehouse, request, upstream, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))


class Policy:
    """A policy service: GET /authorize decides from X-Forwarded-Uri's first segment;
    POST /introspect answers RFC 7662 for the tokens in `tokens`. Counts calls per URI (or token)
    and keeps each call's headers. Calls to /hold/... wait for `gate`."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls = {}
        self.seen = []
        self.bodies = []
        self.gate = threading.Event()
        self.tokens = {}
        self.conns = []
        self.drips_cut = 0  # dripped answers gatehouse hung up on
        self.client = ("gatehouse", "s3cret")
        policy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def setup(self):
                super().setup()
                with policy.lock:
                    policy.conns.append(self.connection)

            def answer(self, status, headers, body=b""):
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                uri = self.headers.get("X-Forwarded-Uri", "")
                policy.count(uri, dict(self.headers.items()))
                kind = uri.split("/")[1] if uri.count("/") >= 1 else ""
                if kind == "hold":
                    policy.gate.wait(20)
                if kind == "drip":  # an allow a byte per 100 ms (about 10 s): counts the close if gatehouse hangs up
                    wire = b"HTTP/1.1 200 OK\r\nX-User: slow\r\nX-Pad: " + b"p" * 60 + b"\r\nContent-Length: 0\r\n\r\n"
                    try:
                        for i in range(len(wire)):
                            self.wfile.write(wire[i:i + 1])
                            self.wfile.flush()
                            time.sleep(0.1)
                    except OSError:
                        with policy.lock:
                            policy.drips_cut += 1
                    return
                if kind in ("allow", "hold"):
                    self.answer(200, {"Cache-Control": "max-age=60", "X-User": "alice", "X-Roles": "admin", "X-Other": "no"})
                elif kind == "short":
                    self.answer(200, {"Cache-Control": "max-age=1", "X-User": "bob"})
                elif kind == "nostore":
                    self.answer(200, {"Cache-Control": "no-store", "X-User": "carol"})
                elif kind == "vary":
                    self.answer(200, {"Cache-Control": "max-age=60", "Vary": "X-Forwarded-For", "X-User": "dave"})
                elif kind in ("deny", "denyshort"):
                    self.answer(403, {"WWW-Authenticate": 'Bearer error="insufficient_scope"', "X-Secret": "no"}, b"no")
                elif kind == "unauth":
                    self.answer(401, {"WWW-Authenticate": 'Bearer realm="policy"'})
                else:
                    self.answer(500, {})

            def do_POST(self):
                if self.path.startswith("/authorize"):  # send_body: the client's body decides
                    raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                    uri = self.headers.get("X-Forwarded-Uri", "")
                    policy.count(uri, dict(self.headers.items()))
                    with policy.lock:
                        policy.bodies.append((uri, raw))
                    if b"deny" in raw:
                        return self.answer(403, {"WWW-Authenticate": 'Bearer error="body"'})
                    return self.answer(200, {"Cache-Control": "max-age=60", "X-User": f"body-{len(raw)}"})
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                form = urllib.parse.parse_qs(body)
                token = form.get("token", [""])[0]
                policy.count(token, dict(self.headers.items()))
                want = "Basic " + base64.b64encode(f"{policy.client[0]}:{policy.client[1]}".encode()).decode()
                if self.headers.get("Authorization") != want:
                    return self.answer(401, {})
                info = policy.tokens.get(token, {"active": False})
                self.answer(200, {"Content-Type": "application/json"}, json.dumps(info).encode())

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, key, headers):
        with self.lock:
            self.calls[key] = self.calls.get(key, 0) + 1
            self.seen.append((key, headers))

    def calls_for(self, key):
        with self.lock:
            return self.calls.get(key, 0)

    def headers_for(self, key):
        with self.lock:
            return [h for k, h in self.seen if k == key]

    def stop(self):
        """Gone for good: no new connections, and the kept-alive ones closed too."""
        self.server.shutdown()
        self.server.server_close()
        import socket
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


ROUTE_AUTHZ = """
      - ext_authz:
          upstream: policy
          path: /authorize
          send_headers: [authorization, x-tenant]
          upstream_headers: [x-user, x-roles]
          deny_headers: [www-authenticate]
          timeout: {timeout}
          on_error: {on_error}
          cache: {{ max_ttl: 60s, deny_ttl: {deny_ttl}, stale_if_error: {stale}, max_entries: 1000 }}
"""


def config(timeout="10s", on_error="deny", deny_ttl="60s", stale="0s", extra_routes=""):
    mw = ROUTE_AUTHZ.format(timeout=timeout, on_error=on_error, deny_ttl=deny_ttl, stale=stale)
    return f"""
routes:
  - name: denyshort
    match: {{ path_prefix: /denyshort }}
    upstream: u
    middleware:{ROUTE_AUTHZ.format(timeout=timeout, on_error=on_error, deny_ttl="1s", stale=stale)}
{extra_routes}
  - name: all
    upstream: u
    middleware:{mw}
"""


def status_of(gw, route="all"):
    code, body = gw.admin("GET", "/ext_authz")
    assert code == 200, body
    return next((r for r in body if r["route"] == route), None)


def echoed(resp):
    return {k.lower(): v for k, v in resp.json()["headers"]}


class PolicyTestCase(unittest.TestCase):
    """A policy service, the test upstream u and a gateway with `config_text`, shared by the class."""
    config_text = config()
    workers = 1

    @classmethod
    def setUpClass(cls):
        cls.policy = Policy()
        cls.addClassCleanup(cls.policy.stop)
        cls.up = upstream("u")
        cls.addClassCleanup(cls.up.stop)
        cls.gw = Gatehouse(cls.config_text, workers=cls.workers, upstreams={"u": [cls.up], "policy": [cls.policy]}).start()
        cls.addClassCleanup(cls.gw.stop)


class ExtAuthzHttp(PolicyTestCase):
    workers = 2

    def test_hundred_identical_requests_make_one_call(self):
        for _ in range(100):
            r = request(self.gw.port, "GET", "/allow/hundred", headers={"Authorization": "Bearer t1"})
            self.assertEqual(r.status, 200)
        self.assertEqual(self.policy.calls_for("/allow/hundred"), 1)
        # What was sent: the listed headers and the request's facts.
        sent = {k.lower(): v for k, v in self.policy.headers_for("/allow/hundred")[0].items()}
        self.assertEqual(sent["authorization"], "Bearer t1")
        self.assertEqual(sent["x-forwarded-method"], "GET")
        self.assertEqual(sent["x-forwarded-host"], "test.local")
        self.assertEqual(sent["x-forwarded-for"], "127.0.0.1")

    def test_different_listed_header_is_another_question(self):
        request(self.gw.port, "GET", "/allow/tenant", headers={"X-Tenant": "a"})
        request(self.gw.port, "GET", "/allow/tenant", headers={"X-Tenant": "b"})
        request(self.gw.port, "GET", "/allow/tenant", headers={"X-Tenant": "a", "X-Unlisted": "1"})
        self.assertEqual(self.policy.calls_for("/allow/tenant"), 2)

    def test_allow_headers_reach_upstream_and_client_copies_never_do(self):
        r = request(self.gw.port, "GET", "/allow/echo", headers={"X-User": "mallory", "X-Roles": "root"})
        self.assertEqual(r.status, 200)
        got = echoed(r)
        self.assertEqual(got["x-user"], "alice")
        self.assertEqual(got["x-roles"], "admin")
        self.assertNotIn("x-other", got)  # not listed in upstream_headers
        self.assertNotIn("mallory", json.dumps(r.json()["headers"]))
        # A cached allow too.
        got = echoed(request(self.gw.port, "GET", "/allow/echo", headers={"X-User": "mallory"}))
        self.assertEqual(got["x-user"], "alice")
        self.assertEqual(self.policy.calls_for("/allow/echo"), 1)

    def test_deny_copies_listed_headers_and_is_cached(self):
        before = self.up.stats.requests
        for _ in range(3):
            r = request(self.gw.port, "GET", "/deny/x")
            self.assertEqual(r.status, 403)
            self.assertEqual(r.headers.get("www-authenticate"), 'Bearer error="insufficient_scope"')
            self.assertIsNone(r.headers.get("x-secret"))
        self.assertEqual(self.policy.calls_for("/deny/x"), 1)
        r = request(self.gw.port, "GET", "/unauth/x")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.headers.get("www-authenticate"), 'Bearer realm="policy"')
        self.assertEqual(self.up.stats.requests, before)  # nothing denied reached the upstream

    def test_deny_ttl_expires(self):
        self.assertEqual(request(self.gw.port, "GET", "/denyshort/a").status, 403)
        # deny_ttl: 1s on this route: the decision is asked again once it ran out.
        self.assertTrue(wait_until(lambda: request(self.gw.port, "GET", "/denyshort/a").status == 403
                                   and self.policy.calls_for("/denyshort/a") >= 2))

    def test_max_age_expires(self):
        self.assertEqual(request(self.gw.port, "GET", "/short/a").status, 200)
        self.assertTrue(wait_until(lambda: request(self.gw.port, "GET", "/short/a").status == 200
                                   and self.policy.calls_for("/short/a") >= 2))

    def test_no_store_is_asked_every_time(self):
        for _ in range(3):
            self.assertEqual(echoed(request(self.gw.port, "GET", "/nostore/a"))["x-user"], "carol")
        self.assertEqual(self.policy.calls_for("/nostore/a"), 3)

    def test_vary_on_client_address(self):
        for _ in range(3):
            self.assertEqual(request(self.gw.port, "GET", "/vary/a").status, 200)
        self.assertEqual(self.policy.calls_for("/vary/a"), 1)

    def test_policy_error_is_on_error(self):
        r = request(self.gw.port, "GET", "/error/a")
        self.assertEqual(r.status, 503)
        self.assertEqual(self.policy.calls_for("/error/a"), 1)
        request(self.gw.port, "GET", "/error/a")
        self.assertEqual(self.policy.calls_for("/error/a"), 2)  # errors are never cached

    def test_concurrent_misses_share_one_call(self):
        base = status_of(self.gw)["cache"]["coalesced"]
        results = []
        lock = threading.Lock()

        def one():
            r = request(self.gw.port, "GET", "/hold/fifty")
            with lock:
                results.append((r.status, echoed(r).get("x-user")))

        threads = [threading.Thread(target=one) for _ in range(50)]
        for t in threads:
            t.start()
        try:
            # The leader's call is held at the policy service; every other miss joins it.
            self.assertTrue(wait_until(lambda: status_of(self.gw)["cache"]["coalesced"] - base >= 49))
        finally:
            self.policy.gate.set()
        for t in threads:
            t.join()
        self.assertEqual(results, [(200, "alice")] * 50)
        self.assertEqual(self.policy.calls_for("/hold/fifty"), 1)

    def test_admin_purge(self):
        request(self.gw.port, "GET", "/allow/purge")
        request(self.gw.port, "GET", "/allow/purge")
        self.assertEqual(self.policy.calls_for("/allow/purge"), 1)
        code, body = self.gw.admin("POST", "/ext_authz/purge", b'{"route": "all"}')
        self.assertEqual(code, 200)
        self.assertGreaterEqual(body["purged"], 1)
        request(self.gw.port, "GET", "/allow/purge")
        self.assertEqual(self.policy.calls_for("/allow/purge"), 2)
        self.assertEqual(self.gw.admin("POST", "/ext_authz/purge", b'{"nope": 1}')[0], 400)

    def test_metrics(self):
        request(self.gw.port, "GET", "/allow/metrics")
        request(self.gw.port, "GET", "/allow/metrics")
        code, text = self.gw.admin("GET", "/metrics")
        self.assertIn('gatehouse_ext_authz_decisions_total{route="all",result="allow"}', text)
        self.assertIn('gatehouse_ext_authz_cache_lookups_total{route="all",result="hit"}', text)
        self.assertIn("gatehouse_ext_authz_call_duration_seconds_bucket", text)
        self.assertIn('upstream="policy"', text)  # an ordinary upstream: its calls are in the upstream metrics


BODY_ROUTES = """
  - name: body
    match: { path_prefix: /body }
    upstream: u
    middleware:
      - ext_authz:
          upstream: policy
          path: /authorize
          send_body: { max: 16KiB }
          upstream_headers: [x-user]
          deny_headers: [www-authenticate]
          cache: { max_ttl: 60s }
  - name: partial
    match: { path_prefix: /partial }
    upstream: u
    middleware:
      - ext_authz: { upstream: policy, path: /authorize, send_body: { max: 1KiB, allow_partial: true }, upstream_headers: [x-user] }
  - name: both
    match: { path_prefix: /v1/ }
    upstream: u
    middleware:
      - ext_authz: { upstream: policy, path: /authorize, send_body: { max: 64, allow_partial: true }, upstream_headers: [x-user] }
      - openapi: { spec: petstore, server_base: /v1 }
"""


class ExtAuthzBody(PolicyTestCase):
    """send_body: the client's body goes to the policy service (POST, its Content-Type), is part
    of the cache key, bounded by max (413, or its first max bytes with allow_partial); the allow
    answer's headers still reach the upstream, which gets the whole body."""
    config_text = f"openapi: [{{ name: petstore, spec: {HERE}/openapi/petstore-3.1.yaml }}]\n" + config(extra_routes=BODY_ROUTES)

    def post(self, path, body, ctype="application/json"):
        return request(self.gw.port, "POST", path, headers={"Content-Type": ctype}, body=body)

    def bodies_for(self, uri):
        with self.policy.lock:
            return [b for u, b in self.policy.bodies if u == uri]

    def test_the_body_is_sent_and_decides(self):
        body = b'{"amount": 12, "to": "bob"}'
        r = self.post("/body/pay", body)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["body"], body.decode(), "the upstream gets the whole body")
        self.assertEqual(echoed(r)["x-user"], f"body-{len(body)}", "an answer in the body phase still adds its headers")
        self.assertEqual(self.bodies_for("/body/pay"), [body])
        sent = {k.lower(): v for k, v in self.policy.headers_for("/body/pay")[0].items()}
        self.assertEqual(sent["content-type"], "application/json")
        self.assertEqual(sent["x-forwarded-method"], "POST")
        denied = self.post("/body/pay", b'{"deny": true}')
        self.assertEqual(denied.status, 403)
        self.assertEqual(denied.headers.get("www-authenticate"), 'Bearer error="body"')

    def test_the_body_is_part_of_the_key(self):
        for _ in range(3):
            self.assertEqual(self.post("/body/key", b"one").status, 200)
        self.assertEqual(self.post("/body/key", b"two").status, 200)
        self.assertEqual(self.bodies_for("/body/key"), [b"one", b"two"])

    def test_a_body_past_max_is_413_before_any_call(self):
        r = self.post("/body/big", b"x" * (16 * 1024 + 1))
        self.assertEqual(r.status, 413)
        self.assertEqual(self.policy.calls_for("/body/big"), 0)
        self.assertEqual(self.post("/body/big", b"x" * (16 * 1024)).status, 200)

    def test_with_openapi_on_the_route_both_see_the_body(self):
        # ext_authz wants the first 64 bytes, openapi the whole body: the body is read whole, the
        # policy gets its 64, the validator and the upstream everything.
        pet = json.dumps({"name": "Rex", "tag": "t" * 20, "photos": ["https://a.example/1", "https://a.example/2"]}).encode()
        r = self.post("/v1/pets", pet)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.bodies_for("/v1/pets"), [pet[:64]])
        self.assertEqual(r.json()["body"], pet.decode())
        self.assertEqual(echoed(r)["x-user"], "body-64")
        bad = json.dumps({"name": "Rex", "tag": "t" * 20, "photos": ["http://a.example/1"]}).encode()
        self.assertEqual(self.post("/v1/pets", bad).status, 400, "allowed by the policy, refused by the spec")

    def test_allow_partial_sends_the_first_max_bytes(self):
        body = bytes(str(list(range(2000))), "ascii")
        r = self.post("/partial/p", body)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.bodies_for("/partial/p"), [body[:1024]])
        self.assertEqual(r.json()["body"], body.decode(), "the upstream gets the whole body")
        self.assertEqual(echoed(r)["x-user"], "body-1024")


class ExtAuthzServiceDown(unittest.TestCase):
    """The policy service killed: a cached allow keeps serving within stale_if_error, then on_error."""

    def test_stale_allows_then_on_error(self):
        policy = Policy()
        up = upstream("u")
        self.addCleanup(up.stop)
        extra = """
  - name: open
    match: { path_prefix: /open }
    upstream: u
    middleware:
      - ext_authz: { upstream: policy, path: /authorize, timeout: 2s, on_error: allow }
"""
        gw = Gatehouse(config(timeout="2s", stale="3s", extra_routes=extra), upstreams={"u": [up], "policy": [policy]}).start()
        self.addCleanup(gw.stop)
        self.assertEqual(request(gw.port, "GET", "/short/down").status, 200)
        self.assertEqual(policy.calls_for("/short/down"), 1)
        policy.stop()
        statuses = []

        def until_refused():
            statuses.append(request(gw.port, "GET", "/short/down").status)
            return statuses[-1] != 200

        self.assertTrue(wait_until(until_refused))
        self.assertEqual(statuses[-1], 503)
        self.assertEqual(set(statuses[:-1]), {200})
        self.assertGreaterEqual(status_of(gw)["cache"]["stale"], 1)  # served stale while the service was down
        self.assertEqual(request(gw.port, "GET", "/open/x").status, 200)  # on_error: allow


class ExtAuthzTimeout(unittest.TestCase):
    """The policy call's timeout bounds the whole call: a service that trickles its answer a byte
    at a time (each read quick, the whole slow) is cut off at the timeout."""

    def test_a_trickling_policy_is_cut_at_the_timeout(self):
        policy = Policy()
        self.addCleanup(policy.stop)
        up = upstream("u")
        self.addCleanup(up.stop)
        gw = Gatehouse(config(timeout="300ms"), upstreams={"u": [up], "policy": [policy]}).start()
        self.addCleanup(gw.stop)
        self.assertEqual(request(gw.port, "GET", "/drip/a").status, 503)  # on_error: deny
        self.assertTrue(wait_until(lambda: policy.drips_cut >= 1))
        self.assertEqual(up.stats.requests, 0)


class ExtAuthzIntrospection(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.policy = Policy()
        cls.addClassCleanup(cls.policy.stop)
        now = int(time.time())
        cls.policy.tokens = {
            "good": {"active": True, "sub": "alice", "scope": "read write", "exp": now + 3600},
            "narrow": {"active": True, "sub": "bob", "scope": "write", "exp": now + 3600},
        }
        cls.up = upstream("u")
        cls.addClassCleanup(cls.up.stop)
        import tempfile
        fd, cls.secret = tempfile.mkstemp(prefix="gatehouse-introspection-")
        os.write(fd, b"s3cret\n")
        os.close(fd)
        cls.addClassCleanup(os.unlink, cls.secret)
        cfg = f"""
routes:
  - name: api
    upstream: u
    middleware:
      - ext_authz:
          upstream: policy
          mode: oauth2_introspection
          path: /introspect
          timeout: 5s
          introspection:
            client_id: gatehouse
            client_secret_file: {cls.secret}
            required_scopes: [read]
            claims_to_headers: {{ sub: x-user, scope: x-scopes }}
          cache: {{ max_ttl: 60s, deny_ttl: 60s }}
"""
        cls.gw = Gatehouse(cfg, upstreams={"u": [cls.up], "policy": [cls.policy]}).start()
        cls.addClassCleanup(cls.gw.stop)

    def test_active_token_allowed_and_cached(self):
        for _ in range(5):
            r = request(self.gw.port, "GET", "/x", headers={"Authorization": "Bearer good", "X-User": "mallory"})
            self.assertEqual(r.status, 200)
            got = echoed(r)
            self.assertEqual(got["x-user"], "alice")
            self.assertEqual(got["x-scopes"], "read write")
        self.assertEqual(self.policy.calls_for("good"), 1)

    def test_inactive_and_missing_tokens(self):
        r = request(self.gw.port, "GET", "/x", headers={"Authorization": "Bearer unknown"})
        self.assertEqual(r.status, 401)
        self.assertIn("invalid_token", r.headers.get("www-authenticate"))
        self.assertEqual(request(self.gw.port, "GET", "/x").status, 401)
        self.assertEqual(self.policy.calls_for(""), 0)  # no token: no call

    def test_required_scope(self):
        r = request(self.gw.port, "GET", "/x", headers={"Authorization": "Bearer narrow"})
        self.assertEqual(r.status, 403)
        self.assertIn("insufficient_scope", r.headers.get("www-authenticate"))

    def test_cached_until_exp(self):
        self.policy.tokens["soon"] = {"active": True, "sub": "carol", "scope": "read", "exp": int(time.time()) + 2}
        first = request(self.gw.port, "GET", "/x", headers={"Authorization": "Bearer soon"}).status
        self.assertIn(first, (200, 401))
        # The allow is kept no longer than exp (not max_ttl's 60 s): asked again once exp passed, the
        # endpoint's exp is in the past and gatehouse denies.
        self.assertTrue(wait_until(lambda: request(self.gw.port, "GET", "/x", headers={"Authorization": "Bearer soon"}).status == 401))
        if first == 200:
            self.assertGreaterEqual(self.policy.calls_for("soon"), 2)


if __name__ == "__main__":
    unittest.main()
