"""routes[].compose end to end: the real binary runs a route's calls against scripted HTTP
upstreams on loopback (compose_upstream below: statuses, content types, sizes, broken JSON,
barriers and held responses), and the answer is checked byte for byte. Ordering is shown by what
the upstreams themselves saw (a barrier only two concurrent calls pass; the receive log), never by
client-side timing."""
import json
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import Gatehouse, NET_TIMEOUT, request, wait_until
from test_observability import parse_metrics, sample


class ScriptedUpstream:
    """An HTTP/1.1 server whose answers are scripted per path (the path with its query):
    {"status", "body" (bytes or a JSON-able value), "type", "headers", "barrier", "hold"}.
    Every request is logged as ("recv", target, headers) and every answer as ("sent", target)."""

    def __init__(self):
        self.script = {}
        self.log = []
        self.lock = threading.Lock()
        self.released = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.handle(self)

            do_POST = do_GET
            do_HEAD = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda *a: None  # gatehouse closing a pooled connection is no error
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def record(self, *entry):
        with self.lock:
            self.log.append(entry)

    def received(self, target):
        return [e for e in self.log if e[0] == "recv" and e[1] == target]

    def handle(self, h):
        n = int(h.headers.get("Content-Length", "0"))
        body_in = h.rfile.read(n) if n else b""
        self.record("recv", h.path, {k.lower(): v for k, v in h.headers.items()}, body_in)
        s = self.script.get(h.path, {"status": 404, "body": {"missing": h.path}})
        if "barrier" in s:
            try:
                s["barrier"].wait(timeout=NET_TIMEOUT / 2)
            except threading.BrokenBarrierError:
                s = {"status": 500, "body": {"barrier": "broken"}}
        if s.get("hold"):
            self.released.wait(NET_TIMEOUT)
        if s.get("gate"):  # a threading.Event of the test's
            s["gate"].wait(NET_TIMEOUT)
        if s.get("etag") and h.headers.get("If-None-Match") == s["etag"]:  # a conditional request that matches
            h.send_response(304)
            h.send_header("ETag", s["etag"])
            for k, v in s.get("headers", {}).items():
                h.send_header(k, v)
            h.end_headers()
            self.record("sent", h.path)
            return
        if s.get("until_close"):  # answers nothing; logs ("closed", target) once gatehouse hangs up
            import select
            import socket
            while select.select([h.connection], [], [], NET_TIMEOUT)[0]:
                if not h.connection.recv(1, socket.MSG_PEEK):
                    self.record("closed", h.path)
                    return
            return
        body = s.get("body", b"")
        if not isinstance(body, bytes):
            body = json.dumps(body, separators=(",", ":")).encode()
        if s.get("drip"):  # the whole answer a byte at a time, s["drip"] ms apart: ("closed", target) if gatehouse hangs up
            import time
            wire = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
            try:
                for i in range(len(wire)):
                    h.wfile.write(wire[i:i + 1])
                    h.wfile.flush()
                    time.sleep(s["drip"] / 1000)
            except OSError:
                self.record("closed", h.path)
                return
            self.record("sent", h.path)
            return
        try:
            h.send_response(s.get("status", 200))
            h.send_header("Content-Type", s.get("type", "application/json"))
            for k, v in s.get("headers", {}).items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            h.wfile.flush()
        except OSError:
            pass  # gatehouse gave up on the call (a timeout): nothing to answer
        self.record("sent", h.path)

    def stop(self):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


CONFIG = """
routes:
  - name: dashboard
    match: { path_template: "/dashboard/{id}", methods: [GET] }
    timeout: 5s
    compose:
      calls:
        - name: user
          upstream: users
          path: "/users/{path.id}"
          required: true
          status_from: true
          into: user
          select: data
          fields: { allow: [id, name, email], rename: { email: contact } }
        - name: orders
          upstream: orders
          path: "/orders?user={user.id}"
          into: orders
          forward: [authorization]
        - name: recs
          upstream: recs
          path: "/recs/{path.id}"
          into: items
          merge: append
        - name: more
          upstream: recs
          path: "/more/{path.id}"
          into: items
          merge: append
        - name: profile
          upstream: users
          path: "/profile/{path.id}"
          fields: { deny: [secret] }
  - name: parallel
    match: { path: /parallel }
    compose:
      calls:
        - { name: a, upstream: users, path: /barrier/a, into: a }
        - { name: b, upstream: orders, path: /barrier/b, into: b }
  - name: optional
    match: { path_template: "/optional/{case}" }
    timeout: 5s
    compose:
      calls:
        - { name: base, upstream: users, path: "/base", into: base }
        - { name: opt, upstream: orders, path: "/opt/{path.case}", into: opt, timeout: 300ms }
        - { name: child, upstream: orders, path: "/child/{opt.id}", into: child }
  - name: required
    match: { path_template: "/required/{case}" }
    compose:
      calls:
        - { name: must, upstream: users, path: "/must/{path.case}", required: true, status_from: true, timeout: 300ms }
        - { name: other, upstream: orders, path: "/base", into: other }
  - name: slow-route
    match: { path: /slow-route }
    timeout: 400ms
    compose:
      calls:
        - { name: quick, upstream: users, path: "/base", into: quick }
        - { name: held, upstream: orders, path: "/held", into: held }
  - name: each
    match: { path_template: "/each/{id}" }
    compose:
      calls:
        - { name: user, upstream: users, path: "/users/{path.id}", select: data, into: user }
        - name: orders
          upstream: orders
          path: "/order/{item}"
          foreach: { over: user.order_ids, max: 10, concurrency: 2 }
          into: orders
        - name: audit
          upstream: orders
          method: POST
          path: "/audit"
          body: { user: "{user.id}", who: "{query.who}", note: "seen {user.name}" }
          into: audit
  - name: caching
    match: { path: /caching }
    compose:
      calls:
        - { name: a, upstream: users, path: /cc/a, into: a }
        - { name: b, upstream: orders, path: /cc/b, into: b }
  - name: leaving
    match: { path: /leaving }
    timeout: 60s                         # longer than the test waits: only cancellation closes the calls
    compose:
      calls:
        - { name: a, upstream: users, path: /wait/a, into: a }
        - { name: b, upstream: orders, path: /wait/b, into: b }
  - name: leaving-h1
    match: { path: /leaving-h1 }
    timeout: 60s
    compose:
      calls:
        - { name: a, upstream: users, path: /gone/a, into: a }
        - { name: b, upstream: orders, path: /gone/b, into: b }
  - name: dripping
    match: { path: /dripping }
    timeout: 60s                         # longer than the test waits: only the call's own timeout ends it
    compose:
      calls:
        - { name: quick, upstream: users, path: "/base", into: quick }
        - { name: slow, upstream: orders, path: "/drip", into: slow, timeout: 500ms }
  - name: cached
    match: { path: /cached }
    compose:
      calls:
        - { name: a, upstream: users, path: /cached/a, into: a, cache: true }
        - { name: b, upstream: orders, path: /cached/b, into: b }
        - { name: c, upstream: recs, path: /cached/c, into: c, cache: true }
  - name: cached-only
    match: { path: /cached-only }
    compose:
      calls:
        - { name: a, upstream: users, path: /cached/only, into: a, cache: true }
  - name: submit
    match: { path: /submit, methods: [POST] }
    compose:
      calls:
        - { name: save, upstream: orders, method: POST, path: /save, body: client, required: true, into: saved }
        - { name: who, upstream: users, path: "/who/{header.x-tenant}", into: who }
  - name: fragile
    match: { path: /fragile }
    compose:
      calls:
        - { name: flaky, upstream: flaky, path: /flaky, into: flaky }
        - { name: steady, upstream: users, path: /base, into: steady }
  - name: spliced
    match: { path: /spliced }
    compose:
      max_depth: 8
      calls:
        - { name: pretty, upstream: users, path: /pretty, into: p }
        - { name: root, upstream: orders, path: /root-object }
        - { name: again, upstream: recs, path: /pretty-too, into: m }
        - { name: deep, upstream: users, path: /deep, into: d }
        - { name: bad, upstream: orders, path: /bad-utf8, into: x }
        - { name: twice, upstream: recs, path: /repeated, into: t }
  - name: coalesce
    match: { path: /coalesce }
    compose:
      calls:
        - { name: a, upstream: users, path: /slow-cached, into: a, cache: true }
  - name: revalidate
    match: { path: /revalidate }
    compose:
      calls:
        - { name: a, upstream: users, path: /etagged, into: a, cache: true }
  - name: compressed
    match: { path_template: "/compressed/{id}" }
    middleware: [ { compress: { min_bytes: 100, algorithms: [gzip] } } ]
    compose:
      calls:
        - { name: user, upstream: users, path: "/users/{path.id}", select: data, into: user }
        - { name: profile, upstream: users, path: "/profile/{path.id}", into: profile }
  - name: spliced-first-root
    match: { path: /spliced-first-root }
    compose:
      calls:
        - { name: root, upstream: orders, path: /root-object }
        - { name: pretty, upstream: users, path: /pretty, into: p }
"""


class Composition(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.users, cls.orders, cls.recs, cls.flaky = (ScriptedUpstream() for _ in range(4))
        for u in (cls.users, cls.orders, cls.recs, cls.flaky):
            cls.addClassCleanup(u.stop)
        cls.gw = Gatehouse(CONFIG, upstreams={
            "users": [cls.users], "orders": [cls.orders], "recs": [cls.recs],
            "flaky": ([cls.flaky], "circuit_breaker: { consecutive_failures: 1, open_for: 60s }"),
        }).start()
        cls.addClassCleanup(cls.gw.stop)
        cls.users.script.update({
            "/users/42": {"body": {"apiVersion": "2", "data": {"id": 42, "name": "Ada", "email": "ada@example.com",
                                                               "password": "x", "order_ids": [7, 8, 9]}}},
            "/profile/42": {"body": {"plan": "pro", "secret": "s3", "since": 2019}},
            "/base": {"body": {"ok": True}},
            "/users/404": {"status": 404, "body": {"error": "no such user", "leak": "upstream body"}},
            "/must/404": {"status": 404, "body": {"leak": "upstream body"}},
            "/must/500": {"status": 500, "body": {"leak": "upstream body"}},
            "/must/held": {"hold": True, "body": {}},
            "/must/html": {"body": b"<html>not json</html>", "type": "text/html"},
            "/must/big": {"body": b"[" + b"1," * 700000 + b"1]"},
            "/cc/a": {"body": {"a": 1}, "headers": {"Cache-Control": "public, max-age=60", "Set-Cookie": "a=1"}},
            "/pretty": {"body": b'\xef\xbb\xbf{ "z" : [1, 2.50],\n\t"a": "\\u00e9 \xc3\xa9 \\" x" }\r\n'},
            "/deep": {"body": b"[" * 9 + b"]" * 9},
        })
        cls.orders.script.update({
            "/orders?user=42": {"body": [{"id": 1}, {"id": 2}]},
            "/base": {"body": {"ok": True}},
            "/opt/ok": {"body": {"id": "o1"}},
            "/child/o1": {"body": {"child": True}},
            "/opt/500": {"status": 500, "body": {"leak": "upstream body"}},
            "/opt/broken": {"body": b'{"id": "o1", ', "type": "application/json"},
            "/opt/held": {"hold": True},
            "/opt/empty": {"status": 204, "body": b""},
            "/held": {"hold": True},
            "/order/7": {"body": {"n": 7}},
            "/order/8": {"body": {"n": 8}},
            "/order/9": {"body": {"n": 9}},
            "/audit": {"body": {"logged": True}},
            "/cc/b": {"body": {"b": 2}, "headers": {"Cache-Control": "private, max-age=30"}},
        })
        cls.recs.script.update({
            "/recs/42": {"body": [{"sku": "r1"}, {"sku": "r2"}]},
            "/more/42": {"body": [{"sku": "m1"}]},
        })
        cls.flaky.script["/flaky"] = {"status": 503, "body": {"down": True}}
        cls.users.script["/wait/a"] = {"until_close": True}
        cls.orders.script["/save"] = {"status": 201, "body": {"saved": True}}
        cls.users.script["/who/acme%2F..%2Fx"] = {"body": {"tenant": "acme"}}
        cls.orders.script["/wait/b"] = {"until_close": True}
        cls.users.script["/cached/a"] = {"body": {"a": 1}, "headers": {"Cache-Control": "max-age=60"}}
        cls.users.script["/cached/only"] = {"body": {"only": 1}, "headers": {"Cache-Control": "max-age=60", "ETag": '"v1"'}}
        cls.orders.script["/cached/b"] = {"body": {"b": 2}, "headers": {"Cache-Control": "max-age=60"}}
        cls.recs.script["/cached/c"] = {"body": {"c": 3}, "headers": {"Cache-Control": "no-store"}}
        cls.users.script["/gone/a"] = {"until_close": True}
        cls.orders.script["/gone/b"] = {"until_close": True}
        # 100 ms a byte, about 30 s in all: each read comes well within the call's 500 ms
        cls.orders.script["/drip"] = {"drip": 100, "body": {"pad": "x" * 200}}

    def get(self, path, **kw):
        return request(self.gw.port, path=path, **kw)

    def test_merged_answer_is_byte_exact(self):
        r = self.get("/dashboard/42", headers={"Authorization": "Bearer t", "Cookie": "c=1"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.headers["content-type"], "application/json")
        self.assertNotIn("gatehouse-partial", r.headers)
        self.assertEqual(r.body, b'{"items":[{"sku":"r1"},{"sku":"r2"},{"sku":"m1"}],'
                                 b'"orders":[{"id":1},{"id":2}],"plan":"pro","since":2019,'
                                 b'"user":{"contact":"ada@example.com","id":42,"name":"Ada"}}')

    def test_answers_taken_whole_are_checked_and_passed_as_their_bytes(self):
        # Calls under an `into` of their own, not shaped, read by no other call: their answers go
        # into the merged one as they came, checked as JSON (BOM and whitespace dropped, members
        # and escapes as the upstream wrote them), among the root-merged call's members in
        # nlohmann's (sorted) order, later calls winning a key as in any merge. A document that
        # repeats a member name is parsed after all: only the last value of the name is kept.
        self.orders.script["/root-object"] = {"body": {"p": "root", "m": 1, "b": True}}
        self.recs.script["/pretty-too"] = {"body": b'  [ {"k": null}, true ]  '}
        self.orders.script["/bad-utf8"] = {"body": b'{"s": "\xed\xa0\x80"}'}
        self.recs.script["/repeated"] = {"body": b'{"k": 1, "k": {"x": 2}}'}
        r = request(self.gw.port, path="/spliced")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.body, b'{"_errors":{"bad":{"reason":"invalid_json","status":502},'
                                 b'"deep":{"reason":"too_deep","status":502}},'
                                 b'"b":true,"m":[{"k":null},true],"p":"root","t":{"k":{"x":2}}}')
        self.assertEqual(r.headers["gatehouse-partial"], "deep;reason=too_deep, bad;reason=invalid_json")
        # The root call's "p" was written after the first call's: swap their order of arrival in
        # the list and the spliced bytes win.
        r = request(self.gw.port, path="/spliced-first-root")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.body, b'{"b":true,"m":1,"p":{"z":[1,2.50],"a":"\\u00e9 \xc3\xa9 \\" x"}}')
        self.assertEqual(json.loads(r.body)["p"], {"z": [1, 2.5], "a": "\u00e9 \u00e9 \" x"})

    def test_client_fields_go_only_where_listed(self):
        self.get("/dashboard/42", headers={"Authorization": "Bearer t", "Cookie": "c=1"})
        orders = self.orders.received("/orders?user=42")[-1][2]
        user = self.users.received("/users/42")[-1][2]
        self.assertEqual(orders.get("authorization"), "Bearer t")
        self.assertNotIn("authorization", user)
        self.assertNotIn("cookie", user)
        self.assertNotIn("cookie", orders)
        self.assertIn("x-request-id", user)
        self.assertEqual(user["x-request-id"], orders["x-request-id"])
        self.assertEqual(user["x-forwarded-for"], "127.0.0.1")

    def test_independent_calls_run_together(self):
        # Each upstream holds its request at a barrier that opens only when both arrived: run one
        # after the other, the first would break the barrier (a 500) and the answer would say so.
        barrier = threading.Barrier(2)
        self.users.script["/barrier/a"] = {"barrier": barrier, "body": {"v": "a"}}
        self.orders.script["/barrier/b"] = {"barrier": barrier, "body": {"v": "b"}}
        r = self.get("/parallel")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.body, b'{"a":{"v":"a"},"b":{"v":"b"}}')

    def test_a_dependent_call_waits_for_the_parent(self):
        # The parent is held: until it is released the dependent call must not arrive.
        self.users.script["/users/77"] = {"hold": True, "body": {"data": {"id": 77, "name": "B", "email": "b@x"}}}
        self.orders.script["/orders?user=77"] = {"body": []}
        result = {}
        t = threading.Thread(target=lambda: result.update(r=self.get("/dashboard/77")))
        released = self.users.released
        t.start()
        from harness import wait_until
        self.assertTrue(wait_until(lambda: self.users.received("/users/77")))
        self.assertTrue(wait_until(lambda: self.recs.received("/recs/77")))  # the independent one came
        self.assertEqual(self.orders.received("/orders?user=77"), [])
        released.set()
        t.join(NET_TIMEOUT)
        released.clear()
        self.assertEqual(result["r"].status, 200, result["r"].body)
        self.assertEqual(len(self.orders.received("/orders?user=77")), 1)

    def test_required_call_status_from(self):
        r = self.get("/required/404")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.headers["content-type"], "application/problem+json")
        body = r.json()
        self.assertEqual((body["call"], body["reason"], body["status"]), ("must", "status", 404))
        self.assertNotIn(b"upstream body", r.body)

    def test_required_call_failures_are_502_or_504(self):
        for case, status, reason in [("500", 502, "status"), ("held", 504, "timeout"), ("html", 502, "invalid_json"),
                                     ("big", 502, "too_large")]:
            with self.subTest(case=case):
                r = self.get(f"/required/{case}")
                self.assertEqual(r.status, status, r.body)
                self.assertEqual((r.json()["call"], r.json()["reason"]), ("must", reason))
                self.assertNotIn(b"upstream body", r.body)

    def test_optional_failures_make_a_partial_answer(self):
        for case, err in [("500", b'{"reason":"status","status":500}'), ("broken", b'{"reason":"invalid_json","status":502}'),
                          ("held", b'{"reason":"timeout","status":504}')]:
            with self.subTest(case=case):
                r = self.get(f"/optional/{case}")
                self.assertEqual(r.status, 200, r.body)
                self.assertEqual(r.headers["gatehouse-partial"],
                                 f"opt;reason={json.loads(err)['reason']}, child;reason=dependency")
                self.assertEqual(r.headers["cache-control"], "no-store")
                self.assertEqual(r.body, b'{"_errors":{"child":{"reason":"dependency"},"opt":' + err + b'},"base":{"ok":true}}')

    def test_optional_success_and_204(self):
        r = self.get("/optional/ok")
        self.assertEqual(r.body, b'{"base":{"ok":true},"child":{"child":true},"opt":{"id":"o1"}}')
        r = self.get("/optional/empty")
        self.assertEqual(r.status, 200)
        # opt answered 204 (null): the child's {opt.id} names nothing, so the child fails.
        self.assertEqual(r.headers["gatehouse-partial"], "child;reason=reference")
        self.assertEqual(r.body, b'{"_errors":{"child":{"reason":"reference","status":502}},"base":{"ok":true},"opt":null}')

    def test_the_route_timeout_bounds_the_whole_composition(self):
        r = self.get("/slow-route")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.headers["gatehouse-partial"], "held;reason=timeout")
        self.assertEqual(r.body, b'{"_errors":{"held":{"reason":"timeout","status":504}},"quick":{"ok":true}}')

    def test_foreach_and_a_json_body_from_references(self):
        r = self.get("/each/42?who=ops%2Fteam")
        self.assertEqual(r.status, 200, r.body)
        answer = r.json()
        self.assertEqual(answer["orders"], [{"n": 7}, {"n": 8}, {"n": 9}])
        self.assertEqual(answer["audit"], {"logged": True})
        sent = json.loads(self.orders.received("/audit")[-1][3])
        self.assertEqual(sent, {"user": 42, "who": "ops/team", "note": "seen Ada"})

    def test_a_post_call_sends_the_clients_body_and_header_references_are_encoded(self):
        body = b'{"order": [1, 2, 3]}'
        r = self.post("/submit", body, {"Content-Type": "application/json", "X-Tenant": "acme/../x"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.body, b'{"saved":{"saved":true},"who":{"tenant":"acme"}}')
        got = self.orders.received("/save")[-1]
        self.assertEqual(got[3], body)
        self.assertEqual(got[2]["content-type"], "application/json")

    def post(self, path, body, headers):
        return request(self.gw.port, method="POST", path=path, body=body, headers=headers)

    def test_cache_control_is_the_most_restrictive_and_cookies_stay(self):
        r = self.get("/caching")
        self.assertEqual(r.headers["cache-control"], "private, max-age=30")
        self.assertNotIn("set-cookie", r.headers)

    def test_traceparent_per_call_under_the_requests_trace(self):
        trace = "0af7651916cd43dd8448eb211c80319c"
        self.get("/dashboard/42", headers={"traceparent": f"00-{trace}-b7ad6b7169203331-01"})
        parents = []
        for up, target in [(self.users, "/users/42"), (self.orders, "/orders?user=42"), (self.recs, "/recs/42")]:
            tp = up.received(target)[-1][2]["traceparent"].split("-")
            self.assertEqual(tp[1], trace)
            parents.append(tp[2])
        self.assertEqual(len(set(parents)), 3)
        self.assertNotIn("b7ad6b7169203331", parents)

    def test_a_client_that_leaves_cancels_every_call(self):
        # An HTTP/2 stream reset while both calls wait: the upstreams see their connections close.
        from h2client import H2Client
        from harness import wait_until
        c = H2Client(self.gw.port)
        self.addCleanup(c.close)
        sid = c.send_request(path="/leaving")
        self.assertTrue(wait_until(lambda: self.users.received("/wait/a") and self.orders.received("/wait/b")))
        c.reset(sid)
        self.assertTrue(wait_until(lambda: ("closed", "/wait/a") in self.users.log and ("closed", "/wait/b") in self.orders.log))

    def test_an_http1_client_that_leaves_cancels_every_call(self):
        # The client closes its HTTP/1.1 connection while both calls wait: no write to it is
        # pending, yet the upstreams see their connections close.
        import socket
        from harness import wait_until
        c = socket.create_connection(("127.0.0.1", self.gw.port))
        c.sendall(b"GET /leaving-h1 HTTP/1.1\r\nHost: test.local\r\n\r\n")
        self.assertTrue(wait_until(lambda: self.users.received("/gone/a") and self.orders.received("/gone/b")))
        c.close()
        self.assertTrue(wait_until(lambda: ("closed", "/gone/a") in self.users.log and ("closed", "/gone/b") in self.orders.log))

    def test_a_calls_timeout_bounds_the_whole_call(self):
        # The upstream trickles its answer a byte per 100 ms: every read is quick, the whole
        # takes about 30 s. The call's 500 ms timeout ends it (the route's 60 s does not matter).
        from harness import wait_until
        r = self.get("/dripping")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.headers["gatehouse-partial"], "slow;reason=timeout")
        self.assertEqual(r.body, b'{"_errors":{"slow":{"reason":"timeout","status":504}},"quick":{"ok":true}}')
        self.assertTrue(wait_until(lambda: ("closed", "/drip") in self.orders.log))
        self.assertNotIn(("sent", "/drip"), self.orders.log)

    def test_a_cached_call_reaches_its_upstream_once(self):
        # a: cache: true and max-age=60 (stored); b: not cached; c: cache: true but no-store.
        first = self.get("/cached")
        second = self.get("/cached")
        for r in (first, second):
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.body, b'{"a":{"a":1},"b":{"b":2},"c":{"c":3}}')
        self.assertEqual(len(self.users.received("/cached/a")), 1)
        self.assertEqual(len(self.orders.received("/cached/b")), 2)
        self.assertEqual(len(self.recs.received("/cached/c")), 2)
        self.assertEqual(second.headers["cache-control"], "no-store")  # c's no-store still wins

    def test_a_compress_middleware_compresses_the_merged_answer(self):
        import gzip
        plain = self.get("/compressed/42")
        self.assertEqual(plain.status, 200, plain.body)
        self.assertNotIn("content-encoding", plain.headers)
        r = self.get("/compressed/42", headers={"Accept-Encoding": "gzip"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.headers.get("content-encoding"), "gzip")
        self.assertEqual(gzip.decompress(r.body), plain.body)
        self.assertIn("Accept-Encoding", r.headers.get("vary", ""))

    def cache_metric(self, result):
        return metric(self.gw.admin("GET", "/metrics")[1], "gatehouse_compose_call_cache_total", route="coalesce" if result != "revalidated" else "revalidate", call="a", result=result)

    def test_concurrent_misses_of_a_cached_call_wait_for_the_first(self):
        import threading
        gate = threading.Event()
        self.users.script["/slow-cached"] = {"gate": gate, "body": {"v": 1}, "headers": {"Cache-Control": "max-age=60"}}
        results = []
        first = threading.Thread(target=lambda: results.append(self.get("/coalesce")))
        first.start()
        self.assertTrue(wait_until(lambda: len(self.users.received("/slow-cached")) == 1))
        second = threading.Thread(target=lambda: results.append(self.get("/coalesce")))
        second.start()
        self.assertTrue(wait_until(lambda: self.gw.admin("GET", "/cache")[1]["waiting"] == 1))  # the second joined the first's fill
        gate.set()
        first.join()
        second.join()
        self.assertEqual([r.status for r in results], [200, 200])
        self.assertEqual([r.body for r in results], [b"{\"a\":{\"v\":1}}"] * 2)
        self.assertEqual(len(self.users.received("/slow-cached")), 1)
        self.assertEqual(self.cache_metric("miss"), 1)
        self.assertEqual(self.cache_metric("coalesced"), 1)

    def test_a_stale_cached_answer_is_revalidated(self):
        self.users.script["/etagged"] = {"body": {"v": 2}, "etag": '"e1"', "headers": {"Cache-Control": "max-age=0", "ETag": '"e1"'}}
        first = self.get("/revalidate")
        second = self.get("/revalidate")
        for r in (first, second):
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.body, b'{"a":{"v":2}}')
        seen = self.users.received("/etagged")
        self.assertEqual(len(seen), 2)
        self.assertNotIn("if-none-match", seen[0][2])
        self.assertEqual(seen[1][2].get("if-none-match"), '"e1"')  # the second asked with the stored validator, got a 304
        self.assertEqual(self.cache_metric("revalidated"), 1)

    def test_a_stored_answer_gives_what_is_left_of_its_lifetime(self):
        import re
        first = self.get("/cached-only")
        second = self.get("/cached-only")
        self.assertEqual(first.headers["cache-control"], "max-age=60")
        self.assertEqual(second.body, b'{"a":{"only":1}}')
        m = re.fullmatch(r"max-age=(\d+)", second.headers["cache-control"])
        self.assertIsNotNone(m, second.headers["cache-control"])
        self.assertLessEqual(int(m.group(1)), 60)
        self.assertEqual(len(self.users.received("/cached/only")), 1)

    def test_an_open_breaker_fails_the_call_fast(self):
        r = self.get("/fragile")
        self.assertEqual(r.headers["gatehouse-partial"], "flaky;reason=status")
        seen = len(self.flaky.received("/flaky"))
        r = self.get("/fragile")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["gatehouse-partial"], "flaky;reason=breaker_open")
        self.assertEqual(r.json()["_errors"]["flaky"], {"reason": "breaker_open", "status": 503})
        self.assertEqual(len(self.flaky.received("/flaky")), seen)


def metric(text, name, **labels):
    return sample(parse_metrics(text), name, **labels)


class CompositionObservability(unittest.TestCase):
    """Metrics by route, call and outcome, the access log's compose_calls and the admin API's
    call graph, from one composition with an ok call, a failed optional one and a dependent one."""

    def test_metrics_access_log_and_call_graph(self):
        import os
        import tempfile
        up = ScriptedUpstream()
        self.addCleanup(up.stop)
        up.script.update({"/a": {"body": {"id": 5}}, "/b": {"status": 500, "body": {}}, "/c/5": {"body": {"c": True}}})
        log = os.path.join(tempfile.mkdtemp(prefix="gatehouse-compose-log-"), "access.log")
        gw = Gatehouse(f"""
            access_log: {{ path: {log}, format: json }}
            routes:
              - name: comp
                match: {{ path: /comp }}
                compose:
                  calls:
                    - {{ name: a, upstream: s, path: /a, into: a }}
                    - {{ name: b, upstream: s, path: /b, into: b }}
                    - {{ name: c, upstream: s, path: "/c/{{a.id}}", into: c }}
              - name: hold
                match: {{ path: /hold }}
                compose:
                  calls:
                    - {{ name: small, upstream: s, path: /small, into: small }}
                    - {{ name: held, upstream: s, path: /held, into: held }}
              - name: probe
                match: {{ path: /probe }}
                compose:
                  worker_memory: 32
                  calls: [ {{ name: a, upstream: s, path: /a }} ]
        """, upstreams={"s": [up]}).start()
        self.addCleanup(gw.stop)
        r = request(gw.port, path="/comp")
        self.assertEqual(r.headers["gatehouse-partial"], "b;reason=status")
        _, text = gw.admin("GET", "/metrics")
        self.assertEqual(metric(text, "gatehouse_compose_requests_total", route="comp", outcome="partial"), 1)
        self.assertEqual(metric(text, "gatehouse_compose_requests_total", route="comp", outcome="complete"), 0)
        self.assertEqual(metric(text, "gatehouse_compose_calls_total", route="comp", call="a", outcome="ok"), 1)
        self.assertEqual(metric(text, "gatehouse_compose_calls_total", route="comp", call="b", outcome="status"), 1)
        self.assertEqual(metric(text, "gatehouse_compose_calls_total", route="comp", call="c", outcome="ok"), 1)
        self.assertEqual(metric(text, "gatehouse_compose_call_duration_seconds_count", route="comp", call="c"), 1)
        # Every call went through the upstream call unit: the upstream's own metrics count three.
        self.assertEqual(metric(text, "gatehouse_upstream_requests_total", upstream="s"), 3)
        status, routes = gw.admin("GET", "/routes")
        self.assertEqual(status, 200)
        routes = routes if isinstance(routes, list) else routes["routes"]
        comp = next(x for x in routes if x["name"] == "comp")["compose"]
        self.assertEqual([(c["name"], c["after"], c["stage"]) for c in comp["calls"]],
                         [("a", [], 0), ("b", [], 0), ("c", ["a"], 1)])
        # compose.worker_memory: while the held composition keeps a's bytes, a new one is a 503.
        up.script.update({"/small": {"body": {"id": 5, "pad": "x" * 64}}, "/held": {"hold": True, "body": {}}})
        holder = threading.Thread(target=lambda: request(gw.port, path="/hold"))
        holder.start()
        from harness import wait_until
        self.assertTrue(wait_until(lambda: request(gw.port, path="/probe").status == 503))
        up.released.set()
        holder.join(NET_TIMEOUT)
        self.assertTrue(wait_until(lambda: request(gw.port, path="/probe").status == 200))
        gw.stop()
        with open(log) as f:
            lines = [json.loads(line) for line in f if '"comp"' in line]
        self.assertEqual(len(lines), 1)
        calls = lines[0]["compose_calls"].split(",")
        self.assertEqual([c.split(":")[0] + ":" + c.split(":")[1] for c in calls], ["a:200", "b:500", "c:200"])
        self.assertTrue(calls[1].endswith(":status"))
        self.assertEqual(lines[0]["upstream"], "compose")


class CompositionEdges(unittest.TestCase):
    """What a review of the first version found: the client's address and the head's facts are
    taken before the client's body is read (reading it moves the head's buffer), the answer's
    Cache-Control weighs every foreach element, and an empty 2xx body is null."""

    @classmethod
    def setUpClass(cls):
        cls.up = ScriptedUpstream()
        cls.addClassCleanup(cls.up.stop)
        cls.gw = Gatehouse("""
            listeners: [{ name: public, listen: 127.0.0.1:0, trusted_proxies: [127.0.0.1/32] }]
            routes:
              - name: submit
                match: { path: /submit, methods: [POST] }
                compose:
                  calls:
                    - { name: save, upstream: up, method: POST, path: /save, body: client, into: saved }
              - name: each
                match: { path: /each }
                compose:
                  calls:
                    - { name: list, upstream: up, path: /list, into: list }
                    - { name: item, upstream: up, path: "/item/{item}", foreach: { over: list.ids }, into: items }
              - name: empty
                match: { path: /empty }
                compose:
                  calls:
                    - { name: ping, upstream: up, method: HEAD, path: /ping, into: ping }
                    - { name: blank, upstream: up, path: /blank, into: blank }
        """, upstreams={"up": [cls.up]}).start()
        cls.addClassCleanup(cls.gw.stop)
        cls.up.script.update({
            "/save": {"body": {"ok": True}},
            "/list": {"body": {"ids": [1, 2]}, "headers": {"Cache-Control": "max-age=60"}},
            "/item/1": {"body": {"n": 1}, "headers": {"Cache-Control": "no-store, private"}},
            "/item/2": {"body": {"n": 2}, "headers": {"Cache-Control": "max-age=3600"}},
            "/ping": {"body": b""},
            "/blank": {"body": b""},
        })

    def test_the_forwarded_client_is_the_one_before_the_body(self):
        # A body larger than the read buffer's first fill, with CRLFs in it: the forwarded
        # address must still be the trusted proxy's X-Forwarded-For entry.
        body = b"\r\nX-Evil: 1\r\n" * 4000
        r = request(self.gw.port, method="POST", path="/submit", body=body,
                    headers={"X-Forwarded-For": "203.0.113.7", "Content-Type": "text/plain"})
        self.assertEqual(r.status, 200, r.body)
        got = self.up.received("/save")[-1]
        self.assertEqual(got[2]["x-forwarded-for"], "203.0.113.7")
        self.assertNotIn("x-evil", got[2])
        self.assertEqual(got[3], body)

    def test_every_foreach_elements_cache_control_counts(self):
        r = request(self.gw.port, path="/each")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(json.loads(r.body)["items"], [{"n": 1}, {"n": 2}])
        self.assertEqual(r.headers["cache-control"], "no-store")

    def test_an_empty_answer_is_null(self):
        r = request(self.gw.port, path="/empty")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(json.loads(r.body), {"blank": None, "ping": None})


if __name__ == "__main__":
    unittest.main()


class CompositionClaimsAndQuietErrors(unittest.TestCase):
    """{claim.X} references from a token the route's jwt middleware verified (signed by an
    independent implementation: test_jwt's Tokens), in a path and a JSON body; `errors: none`."""

    @classmethod
    def setUpClass(cls):
        import os
        import shutil
        import tempfile
        from test_jwt import Tokens
        cls.t = Tokens()
        cls.addClassCleanup(cls.t.close)
        cls.key = cls.t.keypair("ES256", "k1")
        d = tempfile.mkdtemp(prefix="gatehouse-compose-jwt-")
        cls.addClassCleanup(shutil.rmtree, d, True)
        jwks = os.path.join(d, "jwks.json")
        with open(jwks, "w") as f:
            json.dump({"keys": [cls.key["public"]]}, f)
        cls.users, cls.orders = ScriptedUpstream(), ScriptedUpstream()
        for u in (cls.users, cls.orders):
            cls.addClassCleanup(u.stop)
        cls.users.script.update({"/profile/u%2F42": {"body": {"plan": "pro"}}, "/base": {"body": {"ok": True}}})
        cls.orders.script.update({"/audit": {"body": {"logged": True}}, "/broken": {"status": 500, "body": {"leak": "x"}}})
        cls.gw = Gatehouse(f"""
jwt_providers: [{{ name: main, jwks: {{ file: {jwks} }} }}]
routes:
  - name: me
    match: {{ path: /me }}
    middleware: [ {{ jwt: {{ provider: main }} }} ]
    compose:
      calls:
        - {{ name: profile, upstream: users, path: "/profile/{{claim.sub}}", into: profile }}
        - name: audit
          upstream: orders
          method: POST
          path: /audit
          body: {{ who: "{{claim.sub}}", tenant: "{{claim.tenant}}", note: "for {{claim.tenant}}" }}
          into: audit
  - name: quiet
    match: {{ path: /quiet }}
    compose:
      errors: none
      calls:
        - {{ name: ok, upstream: users, path: /base, into: ok }}
        - {{ name: broken, upstream: orders, path: /broken, into: broken }}
""", upstreams={"users": [cls.users], "orders": [cls.orders]}).start()
        cls.addClassCleanup(cls.gw.stop)

    def token(self, **claims):
        import time
        c = {"sub": "u/42", "tenant": "acme", "roles": ["reader", "writer"], "exp": int(time.time()) + 300}
        c.update(claims)
        return self.t.sign("ES256", self.key["private"], c)

    def test_claims_reach_the_path_encoded_and_the_body_typed(self):
        r = request(self.gw.port, path="/me", headers={"Authorization": f"Bearer {self.token()}"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.body, b'{"audit":{"logged":true},"profile":{"plan":"pro"}}')
        self.assertTrue(self.users.received("/profile/u%2F42"))  # the '/' cannot add a segment
        sent = json.loads(self.orders.received("/audit")[-1][3])
        self.assertEqual(sent, {"who": "u/42", "tenant": "acme", "note": "for acme"})

    def test_no_token_no_call(self):
        before = len(self.users.log) + len(self.orders.log)
        r = request(self.gw.port, path="/me")
        self.assertEqual(r.status, 401)
        self.assertEqual(len(self.users.log) + len(self.orders.log), before)

    def test_a_missing_claim_fails_the_call_as_a_reference(self):
        r = request(self.gw.port, path="/me", headers={"Authorization": f"Bearer {self.token(tenant=None)}"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.headers["gatehouse-partial"], "audit;reason=reference")

    def test_errors_none_keeps_the_summary_out(self):
        r = request(self.gw.port, path="/quiet")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.headers["gatehouse-partial"], "broken;reason=status")
        self.assertEqual(r.headers["cache-control"], "no-store")
        self.assertEqual(r.body, b'{"ok":{"ok":true}}')
