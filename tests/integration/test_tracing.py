"""OTLP/HTTP trace export through the real binary to a real OTLP receiver (otlp_receiver.py):
SERVER and CLIENT spans, their links to the client's and the upstream's traceparent, HTTP
semantic-convention attributes, parent-based sampling, both encodings, a dead or slow collector,
the drop counter, the CLIENT spans of middleware calls (a real redis-server, a real JWKS server),
export over TLS to a receiver whose certificate pki.py made (and refused when it does not verify),
and the receiver's own honesty against the official OpenTelemetry JS exporter."""
import base64
import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import textwrap
import time
import unittest

from harness import Gatehouse, connect, read_response, request, upstream, wait_until
from otlp_receiver import Receiver
from pki import Pki, sh
from services import Redis, refusing_port

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = "t0ken-for-the-collector"
os.environ["GATEHOUSE_TEST_OTLP_TOKEN"] = TOKEN  # named by every config below as ${GATEHOUSE_TEST_OTLP_TOKEN}


def tracing_yaml(endpoint, sample="100%", encoding="protobuf", batch="{ max_queue: 2048, max_batch: 512, delay: 100ms }",
                 timeout="5s", tls=None):
    return textwrap.dedent(f"""
        tracing:
          sample: {sample}
          otlp:
            endpoint: {endpoint}
            encoding: {encoding}
            headers: {{ authorization: "Bearer ${{GATEHOUSE_TEST_OTLP_TOKEN}}" }}
            timeout: {timeout}
            batch: {batch}
            resource: {{ service.name: gatehouse, deployment.environment: test }}
    """) + (f"    tls: {tls}\n" if tls else "")


def metric(gw, name):
    status, text = gw.admin("GET", "/metrics")
    m = re.search(rf"^{name}(?:{{}})? (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def spans_by_kind(spans):
    return {s["kind"]: s for s in spans}


class Tracing(unittest.TestCase):
    encoding = "protobuf"

    @classmethod
    def setUpClass(cls):
        cls.receiver = Receiver()
        cls.addClassCleanup(cls.receiver.stop)
        cls.up = upstream("u")
        cls.addClassCleanup(cls.up.stop)
        cls.shadow = upstream("shadow")
        cls.addClassCleanup(cls.shadow.stop)
        cls.pdp = upstream("pdp")
        cls.addClassCleanup(cls.pdp.stop)
        cls.dead_port = refusing_port()
        config = textwrap.dedent(f"""
            routes:
              - {{ name: api, match: {{ path_prefix: /api }}, rewrite: {{ strip_prefix: /api }}, upstream: u }}
              - {{ name: broken, match: {{ path_prefix: /broken }}, upstream: dead }}
              - {{ name: half, match: {{ path_prefix: /half }}, rewrite: {{ strip_prefix: /half }}, upstream: half }}
              - {{ name: mirrored, match: {{ path_prefix: /mirrored }}, upstream: u, mirror: {{ upstream: shadow, percent: 100 }} }}
              - {{ name: cached, match: {{ path_prefix: /cached }}, upstream: u, middleware: [{{ cache: {{ default_ttl: 0s }} }}] }}
              - name: authz
                match: {{ path_prefix: /authz }}
                rewrite: {{ strip_prefix: /authz }}
                upstream: u
                middleware: [{{ ext_authz: {{ upstream: pdp, path: /echo }} }}]
        """) + tracing_yaml(cls.receiver.endpoint, encoding=cls.encoding)
        cls.gw = Gatehouse(config, upstreams={"u": [cls.up], "dead": [f"127.0.0.1:{cls.dead_port}"],
                                                 "half": [f"127.0.0.1:{cls.dead_port}", cls.up], "shadow": [cls.shadow],
                                                 "pdp": [cls.pdp]}).start()
        cls.addClassCleanup(cls.gw.stop)

    def get(self, path, headers=None):
        r = request(self.gw.port, path=path, headers=headers)
        return r, (dict(r.json()["headers"]) if r.status == 200 else {})

    def test_server_and_client_spans_of_a_new_trace(self):
        r, seen = self.get("/api/echo?x=1")
        self.assertEqual(r.status, 200)
        version, trace, parent, flags = seen["traceparent"].split("-")
        self.assertEqual(flags, "01")  # sampled: the upstream is told to record it too
        spans = spans_by_kind(self.receiver.wait_for_trace(trace, 2))
        server, client = spans[2], spans[3]
        self.assertEqual(server["parent_span_id"], "")  # a new trace: the SERVER span is its root
        self.assertEqual(client["parent_span_id"], server["span_id"])
        self.assertEqual(parent, client["span_id"])  # the upstream's parent is the CLIENT span
        self.assertEqual(server["name"], "GET api")
        self.assertEqual(client["name"], "GET")
        a = server["attributes"]
        self.assertEqual(a["http.request.method"], "GET")
        self.assertEqual(a["http.route"], "api")
        self.assertEqual(a["http.response.status_code"], 200)
        self.assertEqual(a["url.path"], "/api/echo")
        self.assertEqual(a["url.query"], "x=1")
        self.assertEqual(a["url.scheme"], "http")
        self.assertEqual(a["server.address"], "test.local")
        self.assertEqual(a["client.address"], "127.0.0.1")
        self.assertNotIn("error.type", a)
        c = client["attributes"]
        self.assertEqual(c["network.peer.address"], "127.0.0.1")
        self.assertEqual(c["network.peer.port"], self.up.port)
        self.assertEqual(c["http.response.status_code"], 200)
        self.assertEqual((server["status_code"], client["status_code"]), (0, 0))  # UNSET: no error
        self.assertLessEqual(server["start"], client["start"])
        self.assertLessEqual(client["end"], server["end"])
        self.assertEqual(server["resource"], {"service.name": "gatehouse", "deployment.environment": "test"})
        self.assertEqual(server["scope"], "gatehouse")

    def test_a_sampled_client_trace_is_continued_under_its_span(self):
        incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        r, seen = self.get("/api/echo", {"traceparent": incoming})
        _, trace, parent, flags = seen["traceparent"].split("-")
        self.assertEqual((trace, flags), ("4bf92f3577b34da6a3ce929d0e0e4736", "01"))
        spans = spans_by_kind(self.receiver.wait_for_trace(trace, 2))
        self.assertEqual(spans[2]["parent_span_id"], "00f067aa0ba902b7")
        self.assertEqual(spans[3]["parent_span_id"], spans[2]["span_id"])
        self.assertEqual(parent, spans[3]["span_id"])

    def test_an_unsampled_client_trace_records_nothing(self):
        unsampled = "00-11111111111111111111111111111111-00f067aa0ba902b7-00"
        r, seen = self.get("/api/echo", {"traceparent": unsampled})
        self.assertTrue(seen["traceparent"].endswith("-00"))
        # A sampled request after it: once its spans are in, the unsampled one's would be too.
        r, seen = self.get("/api/echo")
        self.receiver.wait_for_trace(seen["traceparent"].split("-")[1], 2)
        self.assertEqual(self.receiver.of_trace("11111111111111111111111111111111"), [])

    def test_a_failed_upstream_makes_both_spans_errors(self):
        incoming = "00-22222222222222222222222222222222-00f067aa0ba902b7-01"
        r = request(self.gw.port, path="/broken", headers={"traceparent": incoming})
        self.assertEqual(r.status, 502)
        spans = self.receiver.wait_for_trace("22222222222222222222222222222222", 2)
        server = [s for s in spans if s["kind"] == 2][0]
        clients = [s for s in spans if s["kind"] == 3]
        self.assertEqual(server["status_code"], 2)  # STATUS_CODE_ERROR
        self.assertEqual(server["attributes"]["error.type"], "502")
        self.assertEqual(server["attributes"]["http.response.status_code"], 502)
        self.assertTrue(clients)
        self.assertEqual(clients[0]["status_code"], 2)
        self.assertEqual(clients[0]["attributes"]["error.type"], "connect")
        self.assertEqual(clients[0]["attributes"]["network.peer.port"], self.dead_port)
        self.assertEqual(clients[0]["parent_span_id"], server["span_id"])

    def test_a_second_try_sends_its_own_span_id(self):
        # Round robin over a dead and a live endpoint: a connect failure moves to the other one.
        for _ in range(6):
            r, seen = self.get("/half/echo")
            self.assertEqual(r.status, 200)
            _, trace, parent, _ = seen["traceparent"].split("-")
            spans = self.receiver.wait_for_trace(trace, 2)
            clients = sorted((s for s in spans if s["kind"] == 3), key=lambda s: s["start"])
            if len(clients) < 2:
                continue
            self.assertEqual(clients[0]["attributes"]["error.type"], "connect")
            self.assertEqual(clients[1]["attributes"]["http.request.resend_count"], 1)
            self.assertEqual(parent, clients[1]["span_id"])  # the try that reached the upstream
            self.assertNotEqual(clients[0]["span_id"], clients[1]["span_id"])
            return
        self.fail("no request met the dead endpoint first")

    def test_a_mirrored_copy_has_its_own_client_span(self):
        r, seen = self.get("/mirrored/echo")
        _, trace, parent, _ = seen["traceparent"].split("-")
        spans = self.receiver.wait_for_trace(trace, 3)
        server = [s for s in spans if s["kind"] == 2][0]
        clients = {s["attributes"]["gatehouse.upstream"]: s for s in spans if s["kind"] == 3}
        self.assertEqual(set(clients), {"u", "shadow"})
        self.assertEqual(clients["shadow"]["parent_span_id"], server["span_id"])
        self.assertEqual(parent, clients["u"]["span_id"])
        shadow_heads = [h for h in self.shadow.stats.requests_raw if trace.encode() in h]
        self.assertEqual(len(shadow_heads), 1)
        self.assertIn(f"traceparent: 00-{trace}-{clients['shadow']['span_id']}-01".encode(), shadow_heads[0])

    def test_an_ext_authz_check_has_its_own_client_span(self):
        r, seen = self.get("/authz/echo")
        self.assertEqual(r.status, 200)
        _, trace, parent, _ = seen["traceparent"].split("-")
        spans = self.receiver.wait_for_trace(trace, 3)
        server = [s for s in spans if s["kind"] == 2][0]
        clients = {s["attributes"]["gatehouse.upstream"]: s for s in spans if s["kind"] == 3}
        self.assertEqual(set(clients), {"u", "pdp"})
        self.assertEqual(clients["pdp"]["parent_span_id"], server["span_id"])
        self.assertEqual(clients["pdp"]["attributes"]["http.response.status_code"], 200)
        self.assertEqual(parent, clients["u"]["span_id"])
        self.assertNotEqual(clients["pdp"]["span_id"], clients["u"]["span_id"])
        checks = [h for h in self.pdp.stats.requests_raw if trace.encode() in h]
        self.assertEqual(len(checks), 1)
        self.assertIn(f"traceparent: 00-{trace}-{clients['pdp']['span_id']}-01".encode(), checks[0])

    def test_a_background_refresh_has_its_own_client_span(self):
        self.up.files["/cached/swr"] = (200, b"fresh", "Cache-Control: max-age=0, stale-while-revalidate=600\r\n")
        self.assertEqual(request(self.gw.port, path="/cached/swr").status, 200)  # fills the entry
        incoming = "00-44444444444444444444444444444444-00f067aa0ba902b7-01"
        r = request(self.gw.port, path="/cached/swr", headers={"traceparent": incoming})  # stale: served, refreshed behind
        self.assertEqual(r.body, b"fresh")
        spans = self.receiver.wait_for_trace("44444444444444444444444444444444", 2)
        server = [s for s in spans if s["kind"] == 2][0]
        client = [s for s in spans if s["kind"] == 3][0]
        self.assertEqual(server["parent_span_id"], "00f067aa0ba902b7")
        self.assertEqual(client["parent_span_id"], server["span_id"])
        self.assertEqual(client["attributes"]["http.response.status_code"], 200)
        refresh = [h for h in self.up.stats.requests_raw if b"44444444444444444444444444444444" in h]
        self.assertEqual(len(refresh), 1)
        self.assertIn(f"-{client['span_id']}-01".encode(), refresh[0])

    def test_export_carries_the_configured_headers_and_is_counted(self):
        r, seen = self.get("/api/echo")
        self.receiver.wait_for_trace(seen["traceparent"].split("-")[1], 2)
        path, headers, ctype = self.receiver.requests[-1]
        self.assertEqual(path, "/v1/traces")
        self.assertEqual(headers.get("authorization"), f"Bearer {TOKEN}")  # ${VAR} resolved at load
        self.assertEqual(ctype, "application/json" if self.encoding == "json" else "application/x-protobuf")
        self.assertTrue(wait_until(lambda: metric(self.gw, "gatehouse_tracing_spans_exported_total") >= 2))
        self.assertEqual(self.receiver.errors, [])


class TracingJson(Tracing):
    encoding = "json"


class WithUpstream(unittest.TestCase):
    def upstream(self):
        up = upstream("u")
        self.addCleanup(up.stop)
        return up


class Sampling(WithUpstream):
    def test_ratio_zero_sends_unsampled_traces_and_records_none_but_honours_a_sampled_client(self):
        receiver = Receiver()
        self.addCleanup(receiver.stop)
        up = self.upstream()
        with Gatehouse("routes: [{ name: all, upstream: u }]\n" + tracing_yaml(receiver.endpoint, sample="0%"), upstreams={"u": [up]}) as gw:
            new = [dict(request(gw.port, path="/echo").json()["headers"])["traceparent"] for _ in range(20)]
            self.assertTrue(all(t.endswith("-00") for t in new), new)
            sampled = "00-33333333333333333333333333333333-00f067aa0ba902b7-01"
            seen = dict(request(gw.port, path="/echo", headers={"traceparent": sampled}).json()["headers"])
            self.assertTrue(seen["traceparent"].endswith("-01"))
            receiver.wait_for_trace("33333333333333333333333333333333", 2)
            self.assertEqual({s["trace_id"] for s in receiver.spans}, {"33333333333333333333333333333333"})


class Collector(WithUpstream):
    def test_a_dead_or_silent_collector_never_delays_requests(self):
        silent = socket.socket()  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        self.addCleanup(silent.close)
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}/v1/traces"
        config = "routes: [{ name: all, upstream: u }]\n" + tracing_yaml(
            endpoint, batch="{ max_queue: 64, max_batch: 4, delay: 50ms }", timeout="3s")
        up = self.upstream()
        with Gatehouse(config, upstreams={"u": [up]}) as gw:
            c = connect(gw.port)
            f = c.makefile("rb")
            slowest = 0
            for _ in range(200):
                t0 = time.monotonic()
                c.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
                self.assertEqual(read_response(f).status, 200)
                slowest = max(slowest, time.monotonic() - t0)
            c.close()
            self.assertLess(slowest, 0.5)  # each export hangs for 3 s: requests do not wait for it
            # The one export in flight holds 4 spans; the ring holds 64; the rest are dropped, counted.
            self.assertTrue(wait_until(lambda: metric(gw, "gatehouse_tracing_spans_dropped_total") >= 300))

    def test_a_refused_export_counts_failures_and_drops(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        config = "routes: [{ name: all, upstream: u }]\n" + tracing_yaml(f"http://127.0.0.1:{port}/v1/traces")
        up = self.upstream()
        with Gatehouse(config, upstreams={"u": [up]}) as gw:
            for _ in range(5):
                self.assertEqual(request(gw.port, path="/echo").status, 200)
            self.assertTrue(wait_until(lambda: metric(gw, "gatehouse_tracing_export_failures_total") >= 1))
            self.assertTrue(wait_until(lambda: metric(gw, "gatehouse_tracing_spans_dropped_total") >= 10))
            self.assertEqual(metric(gw, "gatehouse_tracing_spans_exported_total"), 0)

    def test_a_full_queue_drops_spans_and_counts_them(self):
        receiver = Receiver()
        self.addCleanup(receiver.stop)
        # 3 spans per worker ring, exported only after a minute: everything past 3 is dropped.
        config = "routes: [{ name: all, upstream: u }]\n" + tracing_yaml(
            receiver.endpoint, batch="{ max_queue: 3, max_batch: 512, delay: 60s }")
        up = self.upstream()
        with Gatehouse(config, upstreams={"u": [up]}) as gw:
            for _ in range(10):
                self.assertEqual(request(gw.port, path="/echo").status, 200)
            self.assertTrue(wait_until(lambda: metric(gw, "gatehouse_tracing_spans_dropped_total") == 17))


class Shutdown(WithUpstream):
    def test_spans_still_queued_are_exported_before_exit(self):
        receiver = Receiver()
        self.addCleanup(receiver.stop)
        up = self.upstream()
        config = "routes: [{ name: all, upstream: u }]\n" + tracing_yaml(receiver.endpoint, batch="{ max_queue: 64, max_batch: 512, delay: 60s }")
        gw = Gatehouse(config, upstreams={"u": [up]}).start()
        try:
            seen = dict(request(gw.port, path="/echo").json()["headers"])
            self.assertEqual(receiver.spans, [])  # nothing is due for a minute
        finally:
            gw.stop()  # SIGTERM: drained, then the rings are flushed
        self.assertEqual(len(receiver.of_trace(seen["traceparent"].split("-")[1])), 2)


class Reload(WithUpstream):
    def test_reload_replaces_the_exporter_settings(self):
        a, b = Receiver(), Receiver()
        self.addCleanup(a.stop)
        self.addCleanup(b.stop)
        up = self.upstream()
        routes = "routes: [{ name: all, upstream: u }]\n"
        with Gatehouse(routes + tracing_yaml(a.endpoint), upstreams={"u": [up]}) as gw:
            request(gw.port, path="/echo")
            a.wait_for(lambda spans: len(spans) >= 2)
            gw.write_config(gw.render(routes + tracing_yaml(b.endpoint, encoding="json"), 1, {"u": [up]}))
            self.assertEqual(gw.reload()[0], 200)  # answered once every worker uses the new snapshot
            seen = dict(request(gw.port, path="/echo").json()["headers"])
            b.wait_for_trace(seen["traceparent"].split("-")[1], 2)
            self.assertEqual(b.requests[-1][2], "application/json")


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Hs256Key:
    """A symmetric JWK (kty oct) and HS256 tokens signed with it: the JWKS server's keys."""

    def __init__(self, kid):
        self.kid, self.secret = kid, os.urandom(64)
        self.jwk = {"kty": "oct", "kid": kid, "alg": "HS256", "k": b64(self.secret)}

    def token(self):
        head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": self.kid}).encode())
        body = b64(json.dumps({"sub": "s", "exp": int(time.time()) + 300}).encode())
        sig = hmac.new(self.secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{b64(sig)}"


def traced(trace_id):
    return {"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}


UNSAMPLED = {"traceparent": "00-0000000000000000000000000000000a-00f067aa0ba902b7-00"}


class MiddlewareCalls(unittest.TestCase):
    """The external calls middleware make, as CLIENT spans: the shared rate limiter's commands to a
    real redis-server, the JWT middleware's JWKS fetches from a real HTTP server."""

    @classmethod
    def setUpClass(cls):
        cls.receiver = Receiver()
        cls.addClassCleanup(cls.receiver.stop)
        cls.redis = Redis().start()
        cls.addClassCleanup(cls.redis.cleanup)
        cls.up = upstream("u")
        cls.addClassCleanup(cls.up.stop)
        cls.idp = upstream("idp")
        cls.addClassCleanup(cls.idp.stop)
        cls.k1, cls.k3 = Hs256Key("k1"), Hs256Key("k3")
        cls.serve_jwks([cls.k1])
        cls.jwks_url = f"http://127.0.0.1:{cls.idp.port}/jwks.json"
        config = textwrap.dedent(f"""
            redis:
              - {{ name: shared, address: 127.0.0.1:{cls.redis.port}, timeout: 2s }}
            jwt_providers:
              - name: remote
                jwks: {{ url: "{cls.jwks_url}", refetch_interval: 100ms, kid_wait: 10s }}
            routes:
              - name: limited
                match: {{ path_prefix: /limited }}
                upstream: u
                middleware:
                  - rate_limit: {{ limits: [{{ name: per-client, key: client_ip, rate: 1000/s, burst: 1000 }}], store: shared }}
              - name: remote
                match: {{ path_prefix: /remote }}
                upstream: u
                middleware: [{{ jwt: {{ provider: remote }} }}]
        """) + tracing_yaml(cls.receiver.endpoint)
        cls.gw = Gatehouse(config, upstreams={"u": [cls.up]}).start()
        cls.addClassCleanup(cls.gw.stop)
        # The first fetch, in the background at start, has ended: a test's refetch is its own, not
        # a share of that one.
        assert wait_until(lambda: cls.provider_status()["last_result"].startswith("ok"), 15)

    @classmethod
    def serve_jwks(cls, keys, status=200):
        body = json.dumps({"keys": [k.jwk for k in keys]}).encode()
        cls.idp.files["/jwks.json"] = (status, body, "Content-Type: application/json\r\nCache-Control: max-age=300\r\n")

    def trace_of(self, trace_id, path, count, headers=None, status=200):
        r = request(self.gw.port, path=path, headers={**traced(trace_id), **(headers or {})})
        self.assertEqual(r.status, status)
        spans = self.receiver.wait_for_trace(trace_id, count)
        server = [s for s in spans if s["kind"] == 2]
        self.assertEqual(len(server), 1)
        return server[0], [s for s in spans if s["kind"] == 3]

    def redis_spans(self, clients):
        return sorted((s for s in clients if s["attributes"].get("db.system.name") == "redis"), key=lambda s: s["start"])

    def test_a_redis_command_is_a_client_span_of_the_request(self):
        self.assertEqual(request(self.gw.port, path="/limited/a", headers=UNSAMPLED).status, 200)  # the script is cached
        server, clients = self.trace_of("55555555555555555555555555555555", "/limited/a", 3)
        [cmd] = self.redis_spans(clients)
        self.assertEqual(cmd["parent_span_id"], server["span_id"])
        self.assertEqual(cmd["name"], "EVALSHA")
        self.assertEqual(cmd["status_code"], 0)
        self.assertEqual(cmd["attributes"], {"db.system.name": "redis", "db.operation.name": "EVALSHA",
                                             "server.address": "127.0.0.1", "server.port": self.redis.port})
        self.assertLessEqual(server["start"], cmd["start"])
        self.assertLessEqual(cmd["start"], cmd["end"])
        self.assertLessEqual(cmd["end"], server["end"])

    def test_a_flushed_script_is_an_error_span_then_an_eval(self):
        self.assertEqual(request(self.gw.port, path="/limited/b", headers=UNSAMPLED).status, 200)
        self.redis.command("SCRIPT", "FLUSH")  # as after a Redis restart: EVALSHA answers NOSCRIPT
        server, clients = self.trace_of("56565656565656565656565656565656", "/limited/b", 4)
        evalsha, eval_ = self.redis_spans(clients)
        self.assertEqual((evalsha["name"], evalsha["status_code"]), ("EVALSHA", 2))
        self.assertEqual(evalsha["attributes"]["error.type"], "NOSCRIPT")
        self.assertEqual(evalsha["status_message"], "NOSCRIPT")
        self.assertEqual((eval_["name"], eval_["status_code"]), ("EVAL", 0))
        self.assertEqual({evalsha["parent_span_id"], eval_["parent_span_id"]}, {server["span_id"]})

    @classmethod
    def provider_status(cls):
        _, providers = cls.gw.admin("GET", "/jwt/providers")
        return next(p for p in providers if p["name"] == "remote")

    def jwks_spans(self, spans):
        return [s for s in spans if s["attributes"].get("url.full") == self.jwks_url]

    def test_a_jwks_refetch_for_a_request_is_its_child(self):
        rotated = Hs256Key("rotated")
        self.serve_jwks([self.k1, rotated])  # a token with the new kid waits for the refetch
        server, clients = self.trace_of("66666666666666666666666666666666", "/remote/x", 3,
                                        {"Authorization": f"Bearer {rotated.token()}"})
        [fetch] = self.jwks_spans(clients)
        self.assertEqual(fetch["parent_span_id"], server["span_id"])
        self.assertEqual(fetch["name"], "GET")
        self.assertEqual(fetch["status_code"], 0)
        a = fetch["attributes"]
        self.assertEqual(a["http.request.method"], "GET")
        self.assertEqual(a["http.response.status_code"], 200)
        self.assertEqual((a["server.address"], a["server.port"]), ("127.0.0.1", self.idp.port))
        self.assertEqual((a["network.peer.address"], a["network.peer.port"]), ("127.0.0.1", self.idp.port))
        self.assertNotIn("error.type", a)
        self.assertLessEqual(fetch["start"], fetch["end"])

    def test_a_failed_refetch_is_an_error_span(self):
        self.serve_jwks([], status=500)
        try:
            server, clients = self.trace_of("77777777777777777777777777777777", "/remote/x", 2,
                                            {"Authorization": f"Bearer {self.k3.token()}"}, status=401)
            spans = self.receiver.wait_for(lambda spans: self.jwks_spans(s for s in spans if s["trace_id"] == server["trace_id"]))
        finally:
            self.serve_jwks([self.k1])
            # The retry after the failure (in the background, 1 s later) succeeds: a later test's
            # refetch finds the provider settled, not racing that retry.
            self.assertTrue(wait_until(lambda: not self.provider_status()["last_result"].startswith("failed"), 15))
        [fetch] = spans
        self.assertEqual(fetch["parent_span_id"], server["span_id"])
        self.assertEqual(fetch["status_code"], 2)
        self.assertEqual(fetch["attributes"]["error.type"], "500")
        self.assertEqual(fetch["attributes"]["http.response.status_code"], 500)

    def test_the_fetch_at_start_is_a_root_span_of_its_own(self):
        # Not made for a request: a trace of its own, as tracing.generate and tracing.sample (100%) start one.
        roots = self.receiver.wait_for(lambda spans: [s for s in self.jwks_spans(spans) if s["parent_span_id"] == ""])
        self.assertEqual(roots[0]["kind"], 3)
        self.assertEqual(self.receiver.of_trace(roots[0]["trace_id"]), [roots[0]])


class RedisDown(unittest.TestCase):
    def test_a_failed_redis_command_is_an_error_span_and_the_request_still_served(self):
        receiver = Receiver()
        self.addCleanup(receiver.stop)
        redis = Redis().start()
        self.addCleanup(redis.cleanup)
        up = upstream("u")
        self.addCleanup(up.stop)
        config = textwrap.dedent(f"""
            redis:
              - {{ name: shared, address: 127.0.0.1:{redis.port}, timeout: 500ms }}
            routes:
              - name: limited
                upstream: u
                middleware:
                  - rate_limit: {{ limits: [{{ name: c, key: client_ip, rate: 100/s, burst: 100 }}], store: shared, on_store_error: local }}
        """) + tracing_yaml(receiver.endpoint)
        with Gatehouse(config, upstreams={"u": [up]}) as gw:
            self.assertEqual(request(gw.port, path="/a", headers=UNSAMPLED).status, 200)  # connected, script cached
            redis.stop()
            trace = "88888888888888888888888888888888"
            self.assertEqual(request(gw.port, path="/a", headers=traced(trace)).status, 200)  # the local fallback
            spans = receiver.wait_for_trace(trace, 3)
            server = [s for s in spans if s["kind"] == 2][0]
            [cmd] = [s for s in spans if s["attributes"].get("db.system.name") == "redis"]
            self.assertEqual(cmd["parent_span_id"], server["span_id"])
            self.assertEqual(cmd["status_code"], 2)
            self.assertIn(cmd["attributes"]["error.type"], ("connection", "timeout"))


class HttpsExport(WithUpstream):
    """tracing.otlp.endpoint https://: the collector's certificate verified against tls.ca."""

    @classmethod
    def setUpClass(cls):
        cls.pki = Pki()
        # A CA that did not sign the receiver's certificate.
        sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "other.key",
           "-out", "other-ca.pem", "-days", "30", "-subj", "/CN=another CA", cwd=cls.pki.dir)

    def export_through(self, tls, cert="local"):
        receiver = Receiver(tls=(self.pki.path(f"{cert}.pem"), self.pki.path(f"{cert}.key")), tls_host="127.0.0.1")
        self.addCleanup(receiver.stop)
        up = self.upstream()
        gw = Gatehouse("routes: [{ name: all, upstream: u }]\n" + tracing_yaml(receiver.endpoint, tls=tls), upstreams={"u": [up]}).start()
        self.addCleanup(gw.stop)
        return receiver, gw

    def test_spans_reach_a_collector_whose_certificate_the_configured_ca_verifies(self):
        receiver, gw = self.export_through(f"{{ ca: {self.pki.path('ca.pem')}, sni: localhost }}")
        seen = dict(request(gw.port, path="/echo").json()["headers"])
        spans = receiver.wait_for_trace(seen["traceparent"].split("-")[1], 2)
        self.assertEqual({s["kind"] for s in spans}, {2, 3})
        self.assertEqual(receiver.requests[-1][1].get("authorization"), f"Bearer {TOKEN}")
        self.assertTrue(wait_until(lambda: metric(gw, "gatehouse_tracing_spans_exported_total") >= 2))
        self.assertEqual(metric(gw, "gatehouse_tracing_export_failures_total"), 0)

    def test_an_endpoint_given_by_ip_is_checked_against_the_certificates_ip_address(self):
        self.pki.issue("ip", "collector", "subjectAltName=IP:127.0.0.1")
        receiver, gw = self.export_through(f"{{ ca: {self.pki.path('ca.pem')} }}", cert="ip")  # no sni: the address is the name
        seen = dict(request(gw.port, path="/echo").json()["headers"])
        self.assertEqual(len(receiver.wait_for_trace(seen["traceparent"].split("-")[1], 2)), 2)
        self.assertEqual(metric(gw, "gatehouse_tracing_export_failures_total"), 0)

    def assert_refused(self, tls, why):
        receiver, gw = self.export_through(tls)
        for _ in range(3):
            self.assertEqual(request(gw.port, path="/echo").status, 200)
        self.assertTrue(wait_until(lambda: metric(gw, "gatehouse_tracing_export_failures_total") >= 1))
        self.assertTrue(wait_until(lambda: metric(gw, "gatehouse_tracing_spans_dropped_total") >= 6))
        self.assertTrue(gw.wait_for_log(r"tracing: export of \d+ span\(s\) failed: TLS: .*" + why))
        self.assertEqual(request(gw.port, path="/echo").status, 200)  # serving on
        self.assertEqual(receiver.spans, [])
        self.assertEqual(metric(gw, "gatehouse_tracing_spans_exported_total"), 0)

    def test_a_certificate_another_ca_signed_fails_the_export_and_is_counted(self):
        self.assert_refused(f"{{ ca: {self.pki.path('other-ca.pem')}, sni: localhost }}", "certificate verify failed")

    def test_a_certificate_for_another_name_fails_the_export(self):
        self.assert_refused(f"{{ ca: {self.pki.path('ca.pem')}, sni: other.example.com }}", "certificate verify failed")


class ReceiverHonesty(unittest.TestCase):
    """The receiver decodes what the official OpenTelemetry JS SDK and OTLP/HTTP protobuf exporter
    send (tests/integration/otlp: npm packages pinned in package-lock.json, installed by
    .ci/install-deps), so its reading of gatehouse's export is not a private agreement."""

    def test_decodes_the_official_javascript_exporter(self):
        otlp_dir = os.path.join(HERE, "otlp")
        self.assertTrue(os.path.isdir(os.path.join(otlp_dir, "node_modules", "@opentelemetry", "exporter-trace-otlp-proto")),
                        "run .ci/install-deps (npm ci in tests/integration/otlp)")
        receiver = Receiver()
        self.addCleanup(receiver.stop)
        out = subprocess.run(["node", "send_span.mjs", receiver.endpoint], cwd=otlp_dir, capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        ids = json.loads(out.stdout)
        spans = spans_by_kind(receiver.wait_for_trace(ids["trace_id"], 2))
        client = spans[3]
        self.assertEqual(client["span_id"], ids["span_id"])
        self.assertEqual(client["parent_span_id"], ids["parent_span_id"])
        self.assertEqual(spans[2]["span_id"], ids["parent_span_id"])
        self.assertEqual(client["attributes"], {"http.request.method": "GET", "http.response.status_code": 503, "retry": True,
                                                "ratio": 0.5})
        self.assertEqual((client["status_code"], client["status_message"]), (2, "upstream failed"))
        self.assertEqual(client["resource"]["service.name"], "otel-js-honesty")
        self.assertLess(client["start"], client["end"])
        self.assertEqual(receiver.errors, [])


if __name__ == "__main__":
    unittest.main()
