"""OTLP/HTTP trace export through the real binary to a real OTLP receiver (otlp_receiver.py):
SERVER and CLIENT spans, their links to the client's and the upstream's traceparent, HTTP
semantic-convention attributes, parent-based sampling, both encodings, a dead or slow collector,
the drop counter, and the receiver's own honesty against the official OpenTelemetry JS exporter."""
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

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = "t0ken-for-the-collector"
os.environ["GATEHOUSE_TEST_OTLP_TOKEN"] = TOKEN  # named by every config below as ${GATEHOUSE_TEST_OTLP_TOKEN}


def tracing_yaml(endpoint, sample="100%", encoding="protobuf", batch="{ max_queue: 2048, max_batch: 512, delay: 100ms }",
                 timeout="5s"):
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
    """)


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
        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))
        cls.dead_port = dead.getsockname()[1]
        dead.close()  # nothing listens there: connections are refused
        config = textwrap.dedent(f"""
            routes:
              - {{ name: api, match: {{ path_prefix: /api }}, rewrite: {{ strip_prefix: /api }}, upstream: u }}
              - {{ name: broken, match: {{ path_prefix: /broken }}, upstream: dead }}
              - {{ name: half, match: {{ path_prefix: /half }}, rewrite: {{ strip_prefix: /half }}, upstream: half }}
              - {{ name: mirrored, match: {{ path_prefix: /mirrored }}, upstream: u, mirror: {{ upstream: shadow, percent: 100 }} }}
              - {{ name: cached, match: {{ path_prefix: /cached }}, upstream: u, middleware: [{{ cache: {{ default_ttl: 0s }} }}] }}
        """) + tracing_yaml(cls.receiver.endpoint, encoding=cls.encoding)
        cls.gw = Gatehouse(config, upstreams={"u": [cls.up], "dead": [f"127.0.0.1:{cls.dead_port}"],
                                                 "half": [f"127.0.0.1:{cls.dead_port}", cls.up], "shadow": [cls.shadow]}).start()
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
