"""Edge middleware end to end with the real binary: ip_filter (IPv4, IPv6, behind a trusted
proxy), header rules on both sides (with variables), and CORS (preflights with curl, actual
requests, wildcard subdomains, Vary). Bad settings are rejected with file:line:col."""
import json
import re
import time
import subprocess
import unittest

from h2client import H2Client
from harness import BIN, PROTOCOL, Gatehouse, GatewayTestCase, connect, request, upstream


def echoed(r):
    body = json.loads(r.body)
    return {k.lower(): v for k, v in body["headers"]}


class IpFilter(GatewayTestCase):
    config = """
        listeners:
          - { name: public, listen: 127.0.0.1:0, trusted_proxies: [127.0.0.2/32] }
          - { name: v6, listen: "[::1]:0" }
        routes:
          - name: deny-local
            match: { path_prefix: /denied }
            upstream: u
            middleware: [{ ip_filter: { deny: [127.0.0.0/8, "::1"] } }]
          - name: allow-list
            match: { path_prefix: /allowed }
            upstream: u
            middleware: [{ ip_filter: { allow: [10.0.0.0/8, 127.0.0.1/32], deny: [10.9.0.0/16] } }]
    """

    def test_deny_and_allow_lists_on_ipv4_and_ipv6(self):
        r = request(self.gw.port, path="/denied/x")
        self.assertEqual(r.status, 403)
        self.assertEqual(json.loads(r.body)["error"], "client address not allowed")
        self.assertEqual(request(self.gw.port, path="/allowed/x").status, 200)
        self.assertEqual(self.over_ipv6("/denied/x"), 403, "::1 is on the deny list")
        self.assertEqual(self.over_ipv6("/allowed/x"), 403, "::1 is not on the allow list")

    def over_ipv6(self, path):
        out = subprocess.run(["curl", "-s", "-g", "-o", "/dev/null", "-w", "%{http_code}", f"http://[::1]:{self.gw.ports['v6']}{path}"],
                             capture_output=True, text=True, timeout=20)
        return int(out.stdout)

    def test_the_client_behind_a_trusted_proxy_is_the_one_filtered(self):
        # From 127.0.0.1 (not trusted), X-Forwarded-For is the client's own claim: ignored.
        self.assertEqual(request(self.gw.port, path="/allowed/x", headers={"X-Forwarded-For": "10.9.1.1"}).status, 200)
        # From 127.0.0.2, a trusted proxy: the forwarded client decides.
        def via_proxy(xff):
            out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--interface", "127.0.0.2", "-H", f"X-Forwarded-For: {xff}",
                                  f"http://127.0.0.1:{self.gw.port}/allowed/x"], capture_output=True, text=True, timeout=20)
            return int(out.stdout)
        self.assertEqual(via_proxy("10.1.2.3"), 200)
        self.assertEqual(via_proxy("10.9.1.1"), 403, "denied range wins")
        self.assertEqual(via_proxy("192.0.2.1"), 403, "not on the allow list")
        self.assertEqual(via_proxy("192.0.2.1, 10.1.2.3"), 200, "the rightmost untrusted entry is the client")


class HeaderRules(GatewayTestCase):
    config = """
        routes:
          - name: api
            upstream: u
            middleware:
              - headers:
                  request:
                    set: { X-Client: "${client_ip}", X-Route: "route=${route}" }
                    add: { X-Extra: "one" }
                    remove: [X-Secret]
                  response:
                    set: { Content-Type: "application/vnd.test+json", X-Served-By: "gatehouse ${host}" }
                    add: { X-Trace: "${request_id}" }
                    remove: [X-Upstream]
    """

    def test_request_and_response_rules_with_variables(self):
        r = request(self.gw.port, path="/echo", headers={"X-Client": "spoofed", "X-Secret": "s", "X-Request-Id": "abc-123"}, host="api.example.com")
        self.assertEqual(r.status, 200)
        h = echoed(r)
        self.assertEqual(h["x-client"], "127.0.0.1", "set replaces the client's own value")
        self.assertEqual(h["x-route"], "route=api")
        self.assertEqual(h["x-extra"], "one")
        self.assertNotIn("x-secret", h)
        self.assertEqual(r.headers["content-type"], "application/vnd.test+json")
        self.assertEqual(r.headers["x-served-by"], "gatehouse api.example.com")
        self.assertEqual(r.headers["x-trace"], "abc-123")
        self.assertNotIn("x-upstream", r.headers)

    def test_bad_rules_are_rejected_with_their_place(self):
        path = self.gw.dir + "/bad.yaml"
        with open(path, "w") as f:
            f.write("listeners: [{ name: p, listen: 127.0.0.1:0 }]\nroutes:\n  - name: a\n    upstream: u\n    middleware:\n"
                    "      - headers: { request: { set: { X-A: \"${clientip}\" } } }\n"
                    "      - headers: { response: { remove: [Content-Length] } }\n"
                    "upstreams: [{ name: u, discovery: { static: [127.0.0.1:1] } }]\n")
        out = subprocess.run([BIN, "check", path], capture_output=True, text=True, timeout=20)
        self.assertNotEqual(out.returncode, 0)
        self.assertRegex(out.stdout + out.stderr, r"bad\.yaml:6:\d+: .*set\.X-A: unknown variable \$\{clientip\} \(did you mean \$\{client_ip\}\?\)")
        self.assertRegex(out.stdout + out.stderr, r"bad\.yaml:7:\d+: .*remove: 'Content-Length': framing")


class Cors(GatewayTestCase):
    config = """
        routes:
          - name: api
            upstream: u
            middleware:
              - cors:
                  allow_origins: [https://app.example.com, "https://*.example.org"]
                  allow_methods: [GET, POST, DELETE]
                  allow_headers: [Content-Type, Authorization]
                  expose_headers: [X-Upstream]
                  allow_credentials: true
                  max_age: 10m
    """

    def curl(self, *args):
        out = subprocess.run(["curl", "-s", "-D", "-", "-o", "/dev/null", *args], capture_output=True, text=True, timeout=20)
        lines = out.stdout.replace("\r", "").split("\n")
        status = int(lines[0].split()[1])
        headers = {}
        for l in lines[1:]:
            if ":" in l:
                k, v = l.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        return status, headers

    def test_preflight_of_an_allowed_origin(self):
        before = self.up.stats.requests
        status, h = self.curl("-X", "OPTIONS", "-H", "Origin: https://app.example.com", "-H", "Access-Control-Request-Method: DELETE",
                              "-H", "Access-Control-Request-Headers: content-type", f"http://127.0.0.1:{self.gw.port}/items/1")
        self.assertEqual(status, 204)
        self.assertEqual(h["access-control-allow-origin"], "https://app.example.com")
        self.assertEqual(h["access-control-allow-methods"], "GET, POST, DELETE")
        self.assertEqual(h["access-control-allow-headers"], "Content-Type, Authorization")
        self.assertEqual(h["access-control-allow-credentials"], "true")
        self.assertEqual(h["access-control-max-age"], "600")
        self.assertEqual(h["vary"], "Origin")
        self.assertNotIn("content-length", h)
        self.assertEqual(self.up.stats.requests, before, "a preflight never reaches the upstream")

    def test_wildcard_subdomain_and_disallowed_origins(self):
        status, h = self.curl("-H", "Origin: https://a.b.example.org", f"http://127.0.0.1:{self.gw.port}/echo")
        self.assertEqual(status, 200)
        self.assertEqual(h["access-control-allow-origin"], "https://a.b.example.org")
        self.assertEqual(h["access-control-expose-headers"], "X-Upstream")
        for bad in ["https://example.org", "http://a.example.org", "https://evil.com", "https://a.example.org.evil.com", "https://app.example.com.evil"]:
            status, h = self.curl("-H", f"Origin: {bad}", f"http://127.0.0.1:{self.gw.port}/echo")
            self.assertEqual(status, 200, bad)
            self.assertNotIn("access-control-allow-origin", h, bad)
            self.assertEqual(h["vary"], "Origin")
        status, h = self.curl("-X", "OPTIONS", "-H", "Origin: https://evil.com", "-H", "Access-Control-Request-Method: GET",
                              f"http://127.0.0.1:{self.gw.port}/echo")
        self.assertEqual(status, 204)
        self.assertNotIn("access-control-allow-origin", h)
        self.assertNotIn("access-control-allow-methods", h)

    def test_wildcard_with_credentials_is_a_config_error(self):
        path = self.gw.dir + "/bad.yaml"
        with open(path, "w") as f:
            f.write("listeners: [{ name: p, listen: 127.0.0.1:0 }]\nroutes:\n  - name: a\n    upstream: u\n    middleware:\n"
                    "      - cors: { allow_credentials: true, allow_origins: [\"*\"] }\n"
                    "upstreams: [{ name: u, discovery: { static: [127.0.0.1:1] } }]\n")
        out = subprocess.run([BIN, "check", path], capture_output=True, text=True, timeout=20)
        self.assertNotEqual(out.returncode, 0)
        self.assertRegex(out.stdout + out.stderr, r"bad\.yaml:6:\d+: .*allow_origins: \"\*\" cannot be used with allow_credentials")


if __name__ == "__main__":
    unittest.main()


class RouteLimits(GatewayTestCase):
    config = """
        limits: { max_body_bytes: 1KiB, request_timeout: 10s }
        routes:
          - name: upload
            match: { path_prefix: /upload }
            upstream: u
            limits: { max_body_bytes: 1MiB }
          - name: quick
            match: { path_prefix: /delay }
            upstream: u
            limits: { request_timeout: 300ms }
          - name: rest
            upstream: u
    """

    def test_a_route_above_the_global_body_limit_and_one_below_the_global_timeout(self):
        body = b"x" * 100_000
        self.assertEqual(request(self.gw.port, "POST", "/upload", body=body).status, 200)
        self.assertEqual(request(self.gw.port, "POST", "/echo", body=body).status, 413, "the global limit elsewhere")
        chunked = hex(len(body))[2:].encode() + b"\r\n" + body + b"\r\n0\r\n\r\n"
        self.assertEqual(request(self.gw.port, "POST", "/upload", headers={"Transfer-Encoding": "chunked"}, body=chunked).status, 200)
        self.assertEqual(request(self.gw.port, "POST", "/upload", body=b"x" * (2 << 20)).status, 413, "the route's own limit")
        self.assertEqual(request(self.gw.port, path="/delay?ms=3000").status, 504)
        self.assertEqual(request(self.gw.port, path="/echo/delay").status, 200)

    def test_timeout_and_limits_request_timeout_together_is_an_error(self):
        path = self.gw.dir + "/bad.yaml"
        with open(path, "w") as f:
            f.write("listeners: [{ name: p, listen: 127.0.0.1:0 }]\nroutes:\n  - name: a\n    upstream: u\n    timeout: 1s\n"
                    "    limits: { request_timeout: 2s, max_body_bytes: lots }\n"
                    "upstreams: [{ name: u, discovery: { static: [127.0.0.1:1] } }]\n")
        out = subprocess.run([BIN, "check", path], capture_output=True, text=True, timeout=20)
        self.assertNotEqual(out.returncode, 0)
        self.assertRegex(out.stdout + out.stderr, r"bad\.yaml:6:\d+: routes\[0\]\.limits\.request_timeout: the route already has `timeout`")
        self.assertRegex(out.stdout + out.stderr, r"bad\.yaml:6:\d+: routes\[0\]\.limits\.max_body_bytes")


class TrafficSplit(unittest.TestCase):
    def setUp(self):
        self.v1, self.v2 = upstream("v1"), upstream("v2")
        self.addCleanup(self.v1.stop)
        self.addCleanup(self.v2.stop)

    def gateway(self, routes):
        gw = Gatehouse(routes, upstreams={"v1": [self.v1], "v2": [self.v2]}).start()
        self.addCleanup(gw.stop)
        return gw

    def served(self, gw, n, headers=None):
        counts = {}
        for _ in range(n):
            r = request(gw.port, path="/echo", headers=headers)
            self.assertEqual(r.status, 200)
            name = r.headers["x-upstream"]
            counts[name] = counts.get(name, 0) + 1
        return counts

    def test_weights_are_honoured(self):
        gw = self.gateway("routes: [{ name: api, upstreams: [{ name: v1, weight: 80 }, { name: v2, weight: 20 }] }]\n")
        counts = self.served(gw, 1000)
        # Binomial(1000, 0.2): sd 12.6; 70 is 5.5 sd, a false failure once in ~10^8 runs.
        self.assertLess(abs(counts.get("v2", 0) - 200), 70, counts)

    def test_sticky_key_and_blue_green_by_reload(self):
        gw = self.gateway("routes: [{ name: api, upstreams: [{ name: v1, weight: 50 }, { name: v2, weight: 50 }], split_on: { header: X-User } }]\n")
        seen = {}
        for user in range(40):
            got = self.served(gw, 5, {"X-User": f"user-{user}"})
            self.assertEqual(len(got), 1, f"user-{user} moved between upstreams: {got}")
            seen.update(got)
        self.assertEqual(set(seen), {"v1", "v2"}, "users are spread over both")
        with open(gw.config_path) as f:
            text = f.read()
        gw.write_config(text.replace("weight: 50 }, { name: v2, weight: 50 }", "weight: 0 }, { name: v2, weight: 100 }"))
        self.assertEqual(gw.reload()[1]["result"], "ok")
        self.assertEqual(self.served(gw, 20), {"v2": 20})

    def test_bad_splits_are_rejected(self):
        gw = self.gateway("routes: [{ name: api, upstream: v1 }]\n")
        path = gw.dir + "/bad.yaml"
        with open(path, "w") as f:
            f.write("listeners: [{ name: p, listen: 127.0.0.1:0 }]\nroutes:\n  - name: a\n"
                    "    upstreams: [{ name: v1, weight: 0 }, { name: v3, weight: 0 }]\n"
                    "upstreams: [{ name: v1, discovery: { static: [127.0.0.1:1] } }]\n")
        out = subprocess.run([BIN, "check", path], capture_output=True, text=True, timeout=20)
        text = out.stdout + out.stderr
        self.assertNotEqual(out.returncode, 0)
        self.assertRegex(text, r"bad\.yaml:4:\d+: routes\[0\]\.upstreams: every weight is 0")
        self.assertRegex(text, r"bad\.yaml:4:\d+: routes\[0\]\.upstreams\[1\]\.name: no upstream named 'v3' \(did you mean 'v1'\?\)")


class InterimResponses(GatewayTestCase):
    def exchange(self, request_bytes):
        s = connect(self.gw.port)
        try:
            s.sendall(request_bytes)
            data = b""
            while b'"upstream"' not in data or not data.endswith(b"}"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return data
        finally:
            s.close()

    def test_early_hints_reach_http11_clients_before_the_final_answer(self):
        data = self.exchange(b"GET /echo?interim=103,102 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        self.assertTrue(data.startswith(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 102 Processing\r\n"), data[:200])
        self.assertIn(b"\r\n\r\nHTTP/1.1 200 OK\r\n", data)
        self.assertNotIn(b"Connection: keep-alive\r\n\r\nHTTP", data, "hop-by-hop fields of an interim answer stay behind")

    def test_http10_clients_get_only_the_final_answer(self):
        data = self.exchange(b"GET /echo?interim=103 HTTP/1.0\r\nHost: t\r\n\r\n")
        self.assertTrue(data.startswith(b"HTTP/1.1 200 OK\r\n"), data[:100])

    def test_one_100_continue_for_a_client_that_asked(self):
        body = b"hello"
        data = self.exchange(b"POST /echo?interim=100 HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n" + body)
        self.assertLessEqual(data.count(b"100 Continue"), 1, data[:300])
        self.assertIn(b"HTTP/1.1 200 OK", data)


class Mirror(unittest.TestCase):
    @staticmethod
    def wait_metric(gw, pattern):
        """The mirror runs after the client's answer: poll the scrape (bounded) until it counted."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if re.search(pattern, gw.admin("GET", "/metrics")[1]):
                return True
            gw.wait_for_log(r"a line that never comes", 0.05)
        return False

    def test_copies_reach_the_shadow_and_never_change_the_answer(self):
        main, shadow = upstream("main"), upstream("shadow")
        self.addCleanup(main.stop)
        self.addCleanup(shadow.stop)
        gw = Gatehouse("""
            routes:
              - name: api
                match: { path_prefix: /api }
                upstream: main
                mirror: { upstream: shadow, percent: 100 }
              - name: lost
                match: { path_prefix: /lost }
                upstream: main
                mirror: { upstream: nowhere }
        """, upstreams={"main": [main], "shadow": [shadow], "nowhere": ["127.0.0.1:1"]}).start()
        self.addCleanup(gw.stop)
        r = request(gw.port, "POST", "/api/orders", body=b"order-123")
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.body)["upstream"], "main")
        self.assertTrue(shadow.wait_for(lambda st: st.requests >= 1, 10), "the copy reached the shadow")
        self.assertIn(b"POST /api/orders HTTP/1.1", bytes(shadow.stats.raw))
        self.assertIn(b"order-123", bytes(shadow.stats.raw))
        # A body of unknown length is streamed to the one real upstream only.
        if PROTOCOL == "h2":
            c = H2Client(gw.port)
            sid = c.send_request("POST", "/api/stream", end=False)
            c.send_body(sid, b"abc")
            chunked = c.response(sid)
            c.close()
        else:
            chunked = request(gw.port, "POST", "/api/stream", headers={"Transfer-Encoding": "chunked"}, body=b"3\r\nabc\r\n0\r\n\r\n")
        self.assertEqual(chunked.status, 200)
        # A shadow that is down costs the client nothing.
        self.assertEqual(request(gw.port, path="/lost/x").status, 200)
        for result, route in (("sent", "api"), ("skipped", "api"), ("failed", "lost")):
            self.assertTrue(self.wait_metric(gw, rf'gatehouse_mirror_requests_total\{{route="{route}",result="{result}"\}} 1\b'), (result, route))
        self.assertEqual(main.stats.requests, 3)
