"""gRPC requests answered by gatehouse itself get gRPC answers: HTTP 200 and Trailers-Only
(grpc-status and grpc-message in a HEADERS frame that ends the stream), whatever made the answer:
no route (UNIMPLEMENTED), an upstream that cannot be reached (UNAVAILABLE), a JWT denial
(UNAUTHENTICATED), a rate limit (RESOURCE_EXHAUSTED). The client is Debian's python3-h2 over h2c."""
import base64
import json
import os
import struct
import tempfile
import unittest

from h2client import h2_request
from harness import Gatehouse, request, upstream
from services import refusing_port


def grpc_frame(message=b"", flags=0):
    return struct.pack(">BI", flags, len(message)) + message


GRPC = {"content-type": "application/grpc", "te": "trailers"}


class GrpcLocalAnswers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="gatehouse-grpc-")
        jwks = os.path.join(cls.dir, "jwks.json")
        secret = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
        with open(jwks, "w") as f:
            json.dump({"keys": [{"kty": "oct", "kid": "k1", "alg": "HS256", "k": secret}]}, f)
        cls.gw = Gatehouse(f"""
            jwt_providers:
              - name: main
                jwks: {{ file: {jwks} }}
            routes:
              - name: down
                match: {{ path_prefix: /down.Svc/ }}
                upstream: down
              - name: secured
                match: {{ path_prefix: /secured.Svc/ }}
                upstream: down
                middleware: [{{ jwt: {{ provider: main }} }}]
              - name: limited
                match: {{ path_prefix: /limited.Svc/ }}
                upstream: down
                middleware:
                  - rate_limit: {{ limits: [{{ name: calls, key: client_ip, rate: 1/m, burst: 1 }}] }}
                  - ip_filter: {{ deny: [127.0.0.0/8] }}
            upstreams:
              - name: down
                discovery: {{ static: [127.0.0.1:{refusing_port()}] }}
        """).start()
        cls.addClassCleanup(cls.gw.stop)
        cls.port = cls.gw.ports["public"]

    def call(self, path, headers=None):
        r = h2_request(self.port, "POST", path, dict(GRPC, **(headers or {})), grpc_frame(b"\x08\x01"))
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["content-type"].startswith("application/grpc"))
        self.assertEqual(r.body, b"")
        self.assertEqual(r.trailers, {}, "Trailers-Only: the status is in the head")
        return r

    def test_no_route_is_unimplemented(self):
        r = self.call("/nowhere.Svc/Method")
        self.assertEqual(r.headers["grpc-status"], "12")
        self.assertEqual(r.headers["grpc-message"], "no route matches the request")

    def test_an_unreachable_upstream_is_unavailable(self):
        r = self.call("/down.Svc/Method")
        self.assertEqual(r.headers["grpc-status"], "14")
        self.assertIn("grpc-message", r.headers)

    def test_a_jwt_denial_is_unauthenticated(self):
        r = self.call("/secured.Svc/Method")
        self.assertEqual(r.headers["grpc-status"], "16")
        self.assertIn("www-authenticate", r.headers)
        r = self.call("/secured.Svc/Method", {"authorization": "Bearer not.a.token"})
        self.assertEqual(r.headers["grpc-status"], "16")

    def test_a_rate_limit_is_resource_exhausted(self):
        # Calls within the limit reach ip_filter, which refuses them (PERMISSION_DENIED); once the
        # burst is spent (a few calls), the limit answers.
        statuses = [self.call("/limited.Svc/Method").headers["grpc-status"] for _ in range(5)]
        self.assertEqual(statuses[0], "7")
        self.assertEqual(statuses[-1], "8", statuses)
        r = self.call("/limited.Svc/Method")
        self.assertEqual(r.headers["grpc-status"], "8")
        self.assertIn("retry-after", r.headers)

    def test_an_http11_grpc_web_client_gets_a_framed_head(self):
        r = request(self.port, "POST", "/nowhere.Svc/M", {"Content-Type": "application/grpc-web+proto"}, grpc_frame())
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["content-type"], "application/grpc-web+proto")
        self.assertEqual(r.headers["content-length"], "0")
        self.assertEqual(r.headers["grpc-status"], "12")

    def test_other_requests_keep_the_json_errors(self):
        r = h2_request(self.port, "POST", "/nowhere.Svc/Method", {"content-type": "application/json"}, b"{}")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json()["status"], 404)


class GrpcDeadlines(unittest.TestCase):
    """A gRPC call's deadline: the client's grpc-timeout and the route's grpc.max_stream_duration,
    not the route's timeout (which would cut long streams). The upstream answers after 1.5 s."""
    @classmethod
    def setUpClass(cls):
        cls.up = upstream("u")
        cls.addClassCleanup(cls.up.stop)
        cls.gw = Gatehouse("""
            routes:
              - name: short
                match: { path_prefix: /short/ }
                rewrite: { strip_prefix: /short }
                upstream: u
                timeout: 100ms
              - name: bounded
                match: { path_prefix: /bounded/ }
                rewrite: { strip_prefix: /bounded }
                upstream: u
                grpc: { max_stream_duration: 100ms }
        """, upstreams={"u": [cls.up]}).start()
        cls.addClassCleanup(cls.gw.stop)
        cls.port = cls.gw.ports["public"]

    def call(self, path, headers=None):
        return h2_request(self.port, "POST", path, dict(GRPC, **(headers or {})), grpc_frame())

    def test_the_route_timeout_does_not_cut_a_grpc_call(self):
        r = self.call("/short/delay?ms=1500")
        self.assertEqual(r.status, 200)
        self.assertNotIn("grpc-status", r.headers)  # the upstream's own answer, relayed
        # Any other request on the route still has the route's timeout.
        self.assertEqual(h2_request(self.port, "POST", "/short/delay?ms=1500", {"content-type": "application/json"}, b"{}").status, 504)

    def test_the_clients_grpc_timeout_is_the_deadline(self):
        r = self.call("/short/delay?ms=1500", {"grpc-timeout": "100m"})
        self.assertEqual((r.status, r.headers.get("grpc-status")), (200, "4"))  # DEADLINE_EXCEEDED

    def test_max_stream_duration_bounds_a_call(self):
        r = self.call("/bounded/delay?ms=1500")
        self.assertEqual((r.status, r.headers.get("grpc-status")), (200, "4"))
        # A malformed grpc-timeout is ignored: the route's limit holds.
        r = self.call("/bounded/delay?ms=1500", {"grpc-timeout": "10s"})
        self.assertEqual(r.headers.get("grpc-status"), "4")


class GrpcIsNeverCompressed(unittest.TestCase):
    def test_compress_passes_a_grpc_response_by(self):
        up = upstream("u")
        self.addCleanup(up.stop)
        gw = Gatehouse("""
            routes:
              - name: all
                upstream: u
                middleware: [{ compress: { types: [application/*], min_bytes: 0 } }]
        """, upstreams={"u": [up]}).start()
        self.addCleanup(gw.stop)
        port = gw.ports["public"]
        for kind, encoded in (("application/grpc", False), ("application/grpc-web%2Bproto", False), ("application/json", True)):
            r = h2_request(port, "POST", f"/download?bytes=4000&type={kind}", dict(GRPC, **{"accept-encoding": "gzip"}), grpc_frame())
            self.assertEqual(r.status, 200)
            self.assertEqual("content-encoding" in r.headers, encoded, kind)
            if not encoded:
                self.assertEqual(len(r.body), 4000)


class GrpcObservability(unittest.TestCase):
    def test_metrics_and_the_access_log_carry_the_grpc_status(self):
        d = tempfile.mkdtemp(prefix="gatehouse-grpc-log-")
        log = os.path.join(d, "access.log")
        gw = Gatehouse(f"""
            access_log: {{ path: {log}, fields: [path, status, grpc_status] }}
            routes:
              - name: down
                match: {{ path_prefix: /down.Svc/ }}
                upstream: down
            upstreams:
              - name: down
                discovery: {{ static: [127.0.0.1:{refusing_port()}] }}
        """).start()
        try:
            for _ in range(2):
                h2_request(gw.ports["public"], "POST", "/down.Svc/M", GRPC, grpc_frame())
            h2_request(gw.ports["public"], "POST", "/down.Svc/M", {"content-type": "application/json"}, b"{}")
            text = gw.admin("GET", "/metrics")[1]
            self.assertIn('gatehouse_grpc_responses_total{grpc_status="unavailable",route="down"} 2', text)
            self.assertNotIn('grpc_status="ok"', text)
        finally:
            gw.stop()  # a graceful stop flushes the log
        with open(log) as f:
            lines = [json.loads(line) for line in f.read().splitlines()]
        self.assertEqual([(e["status"], e["grpc_status"]) for e in lines], [(200, 14), (200, 14), (502, None)])


if __name__ == "__main__":
    unittest.main()
