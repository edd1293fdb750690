"""gRPC-Web through gatehouse (routes[].grpc_web: true): HTTP/1.1 and HTTP/2 clients speaking
gRPC-Web in binary and text (base64) modes to the python3-grpcio test server behind an h2c
upstream; curl and a raw client; unary and server streaming; gatehouse's own answers."""
import base64
import os
import re
import struct
import subprocess
import sys
import tempfile
import unittest

from harness import BIN, Gatehouse, NET_TIMEOUT, connect, request
from test_grpc import GrpcServer, MISSING

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "grpc"))
import stubs  # noqa: E402

BINARY = "application/grpc-web+proto"
TEXT = "application/grpc-web-text+proto"


def frame(msg, flag=0):
    return struct.pack(">BI", flag, len(msg)) + msg


def frames(body):
    """The length-prefixed frames of a gRPC-Web body: [(flag, payload)]."""
    out = []
    while body:
        flag, n = struct.unpack(">BI", body[:5])
        out.append((flag, body[5:5 + n]))
        body = body[5 + n:]
    return out


def trailers_of(payload):
    return dict(line.split(":", 1) for line in payload.decode().split("\r\n") if line)


@unittest.skipIf(MISSING, f"the gRPC stack is missing: {MISSING}")
class GrpcWeb(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pb = stubs.load()
        cls.server = GrpcServer()
        cls.addClassCleanup(cls.server.stop)
        cfg = ("listeners: [{ name: public, listen: 127.0.0.1:0, protocols: [h2, http1] }]\n"
               "routes:\n"
               "  - name: web\n"
               "    match: { path_prefix: /grpc.testing.TestService/ }\n"
               "    upstream: grpc\n"
               "    grpc_web: true\n"
               "    middleware:\n"
               "      - cors:\n"
               "          allow_origins: [https://app.example.com]\n"
               "          allow_methods: [POST]\n"
               "          allow_headers: [Content-Type, X-Grpc-Web, X-User-Agent, Grpc-Timeout]\n"
               "          expose_headers: [Grpc-Status, Grpc-Message, Grpc-Status-Details-Bin]\n"
               "upstreams:\n"
               f"  - name: grpc\n    protocol: h2c\n    discovery: {{ static: [127.0.0.1:{cls.server.port}] }}\n")
        cls.gw = Gatehouse(cfg).start()
        cls.addClassCleanup(cls.gw.stop)
        cls.port = cls.gw.ports["public"]

    def unary(self, size):
        return frame(self.pb.test_pb2.SimpleRequest(response_size=size).SerializeToString())

    def check_unary(self, r, size, text):
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.get("content-type"), TEXT if text else BINARY)
        body = base64.b64decode(r.body) if text else r.body
        got = frames(body)
        self.assertEqual([f for f, _ in got], [0, 0x80], got)
        resp = self.pb.test_pb2.SimpleResponse.FromString(got[0][1])
        self.assertEqual(len(resp.payload.body), size)
        self.assertEqual(trailers_of(got[1][1]).get("grpc-status"), "0")

    def test_unary_binary_over_http1(self):
        r = request(self.port, "POST", "/grpc.testing.TestService/UnaryCall", body=self.unary(100),
                    headers={"Content-Type": BINARY, "X-Grpc-Web": "1"})
        self.check_unary(r, 100, False)

    def test_unary_text_over_http1(self):
        body = base64.b64encode(self.unary(314))
        r = request(self.port, "POST", "/grpc.testing.TestService/UnaryCall", body=body,
                    headers={"Content-Type": TEXT, "X-Grpc-Web": "1"})
        self.check_unary(r, 314, True)

    def test_text_body_split_inside_a_base64_group(self):
        body = base64.b64encode(self.unary(7))
        chunks = [body[:5], body[5:6], body[6:]]  # groups of 4 split across chunks
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
        r = request(self.port, "POST", "/grpc.testing.TestService/UnaryCall", body=chunked,
                    headers={"Content-Type": TEXT, "Transfer-Encoding": "chunked"})
        self.check_unary(r, 7, True)

    def test_server_streaming_text(self):
        params = [self.pb.test_pb2.ResponseParameters(size=n) for n in (3, 5, 8)]
        msg = self.pb.test_pb2.StreamingOutputCallRequest(response_parameters=params).SerializeToString()
        r = request(self.port, "POST", "/grpc.testing.TestService/StreamingOutputCall", body=base64.b64encode(frame(msg)),
                    headers={"Content-Type": TEXT})
        self.assertEqual(r.status, 200)
        got = frames(base64.b64decode(r.body))
        self.assertEqual([f for f, _ in got], [0, 0, 0, 0x80])
        sizes = [len(self.pb.test_pb2.StreamingOutputCallResponse.FromString(p).payload.body) for _, p in got[:3]]
        self.assertEqual(sizes, [3, 5, 8])

    def test_error_status_in_the_trailer_frame_or_head(self):
        status = self.pb.test_pb2.EchoStatus(code=5, message="not here")
        msg = self.pb.test_pb2.SimpleRequest(response_status=status).SerializeToString()
        r = request(self.port, "POST", "/grpc.testing.TestService/UnaryCall", body=frame(msg), headers={"Content-Type": BINARY})
        self.assertEqual(r.status, 200)
        # Trailers-Only: in the head; otherwise the last frame of the body.
        t = {k.lower(): v for k, v in r.headers.items()}
        if "grpc-status" not in t:
            t = trailers_of(frames(r.body)[-1][1])
        self.assertEqual(t.get("grpc-status"), "5")
        self.assertEqual(t.get("grpc-message"), "not here")

    def test_curl_binary_and_bad_base64(self):
        out = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-D", "-", "-o", "/dev/stdout",
                              "-H", f"content-type: {BINARY}", "--data-binary", "@-",
                              f"http://127.0.0.1:{self.port}/grpc.testing.TestService/UnaryCall"],
                             input=self.unary(11), capture_output=True, timeout=20)
        head, _, body = out.stdout.partition(b"\r\n\r\n")
        self.assertIn(b"content-type: " + BINARY.encode(), head)
        self.assertEqual([f for f, _ in frames(body)], [0, 0x80])
        for bad in (b"!!!not base64!!", b"AAAAA"):  # not base64; ends inside a 4-character group
            r = request(self.port, "POST", "/grpc.testing.TestService/UnaryCall", body=bad, headers={"Content-Type": TEXT})
            # gatehouse's own answer (a 400 as gRPC: INTERNAL), the upstream never got a cut body
            self.assertEqual({k.lower(): v for k, v in r.headers.items()}.get("grpc-status"), "13", bad)

    def test_plain_grpc_on_the_route_is_untouched_and_no_route_answers_in_grpc_web(self):
        r = request(self.port, "POST", "/no.Such/Method", body=self.unary(1), headers={"Content-Type": BINARY})
        self.assertEqual(r.status, 200)
        self.assertEqual({k.lower(): v for k, v in r.headers.items()}.get("grpc-status"), "12")

    def test_server_streaming_text_over_h2_with_curl(self):
        params = [self.pb.test_pb2.ResponseParameters(size=n) for n in (1, 2000, 70000)]
        msg = self.pb.test_pb2.StreamingOutputCallRequest(response_parameters=params).SerializeToString()
        out = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-D", "-", "-o", "/dev/stdout",
                              "-H", f"content-type: {TEXT}", "--data-binary", "@-",
                              f"http://127.0.0.1:{self.port}/grpc.testing.TestService/StreamingOutputCall"],
                             input=base64.b64encode(frame(msg)), capture_output=True, timeout=NET_TIMEOUT)
        head, _, body = out.stdout.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/2 200"), head)
        self.assertIn(b"content-type: " + TEXT.encode(), head)
        got = frames(base64.b64decode(body))  # one base64 text: padding only at its very end
        self.assertEqual([f for f, _ in got], [0, 0, 0, 0x80])
        sizes = [len(self.pb.test_pb2.StreamingOutputCallResponse.FromString(p).payload.body) for _, p in got[:3]]
        self.assertEqual(sizes, [1, 2000, 70000])
        self.assertEqual(trailers_of(got[3][1]).get("grpc-status"), "0")

    def test_two_calls_on_one_http1_connection_with_a_raw_client(self):
        s = connect(self.port)
        try:
            f = s.makefile("rb")
            for size in (5, 9):
                body = self.unary(size)
                s.sendall(b"POST /grpc.testing.TestService/UnaryCall HTTP/1.1\r\nHost: test.local\r\n"
                          b"Content-Type: " + BINARY.encode() + b"\r\nX-Grpc-Web: 1\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(body) + body)
                status = f.readline()
                self.assertTrue(status.startswith(b"HTTP/1.1 200"), status)
                fields = {}
                for line in iter(f.readline, b"\r\n"):
                    k, v = line.decode().split(":", 1)
                    fields[k.lower()] = v.strip()
                self.assertEqual(fields.get("content-type"), BINARY)
                self.assertEqual(fields.get("transfer-encoding"), "chunked")  # the trailers' frame added
                data = b""
                while True:
                    n = int(f.readline().split(b";")[0], 16)
                    data += f.read(n)
                    f.readline()
                    if n == 0:
                        break
                got = frames(data)
                self.assertEqual([fl for fl, _ in got], [0, 0x80])
                self.assertEqual(len(self.pb.test_pb2.SimpleResponse.FromString(got[0][1]).payload.body), size)
        finally:
            s.close()

    def test_cors_preflight_and_the_status_fields_exposed(self):
        r = request(self.port, "OPTIONS", "/grpc.testing.TestService/UnaryCall",
                    headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
                             "Access-Control-Request-Headers": "content-type,x-grpc-web"})
        self.assertEqual(r.status, 204)
        self.assertEqual(r.headers.get("access-control-allow-origin"), "https://app.example.com")
        self.assertIn("x-grpc-web", r.headers.get("access-control-allow-headers", "").lower())
        r = request(self.port, "POST", "/grpc.testing.TestService/UnaryCall", body=self.unary(3),
                    headers={"Content-Type": BINARY, "Origin": "https://app.example.com"})
        self.check_unary(r, 3, False)
        self.assertEqual(r.headers.get("access-control-allow-origin"), "https://app.example.com")
        self.assertIn("grpc-status", r.headers.get("access-control-expose-headers", "").lower())

    def test_the_status_in_the_trailer_frame_counts_in_metrics(self):
        def count():
            m = re.search(r'gatehouse_grpc_responses_total\{grpc_status="out_of_range",route="web"\} (\d+)',
                          self.gw.admin("GET", "/metrics")[1])
            return int(m.group(1)) if m else 0
        before = count()
        # A message, then the error: the status travels in the trailers (the body's last frame).
        params = [self.pb.test_pb2.ResponseParameters(size=4)]
        status = self.pb.test_pb2.EchoStatus(code=11, message="past the end")
        msg = self.pb.test_pb2.StreamingOutputCallRequest(response_parameters=params, response_status=status)
        r = request(self.port, "POST", "/grpc.testing.TestService/StreamingOutputCall",
                    body=frame(msg.SerializeToString()), headers={"Content-Type": BINARY})
        got = frames(r.body)
        self.assertEqual([f for f, _ in got], [0, 0x80])
        self.assertEqual(trailers_of(got[1][1]).get("grpc-status"), "11")
        self.assertEqual(count(), before + 1)


class GrpcWebConfig(unittest.TestCase):
    def test_grpc_web_needs_an_http2_upstream(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write("listeners: [{ name: public, listen: 127.0.0.1:0 }]\n"
                    "routes:\n"
                    "  - name: web\n"
                    "    match: { path_prefix: /svc/ }\n"
                    "    upstream: plain\n"
                    "    grpc_web: true\n"
                    "upstreams:\n"
                    "  - { name: plain, discovery: { static: [127.0.0.1:9] } }\n")
        out = subprocess.run([BIN, "check", f.name], capture_output=True, text=True, timeout=NET_TIMEOUT)
        os.unlink(f.name)
        self.assertNotEqual(out.returncode, 0)
        self.assertRegex(out.stdout + out.stderr, r":3:\d+: .*grpc_web needs an upstream with protocol: h2c or h2")


if __name__ == "__main__":
    unittest.main()
