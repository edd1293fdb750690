"""HTTP/2 to upstreams (upstreams[].protocol: h2c | h2): the real gatehouse binary in front of a
python3-h2 upstream (tests/upstream/h2_upstream.py) that reports what it saw: requests as they
arrived, connections, streams open at once, resets, pings. Clients speak HTTP/1.1 (raw sockets,
the harness) and HTTP/2 (tests/integration/h2client.py, python3-h2)."""
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import unittest

import ssl

from harness import BIN, Gatehouse, connect, raw_exchange as raw, read_response, request
from upstream import Upstream
from h2client import H2Client, StreamReset

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "upstream"))
from h2_upstream import H2Upstream  # noqa: E402
from pki import Pki  # noqa: E402

LISTENER = "listeners: [{ name: public, listen: 127.0.0.1:0, protocols: [h2, http1] }]\n"


def gateway(up, extra="", routes="routes: [{ name: all, upstream: u }]\n", protocol="h2c", tls=""):
    cfg = LISTENER + routes + textwrap.dedent(f"""\
        upstreams:
          - name: u
            protocol: {protocol}
            discovery: {{ static: [127.0.0.1:{up.port}] }}
        """)
    for line in textwrap.dedent(tls + extra).strip().splitlines():
        cfg += "    " + line + "\n"
    return Gatehouse(cfg).start()


class H2cUpstream(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = H2Upstream(max_streams=10).start()
        cls.addClassCleanup(cls.up.stop)
        cls.gw = gateway(cls.up, extra="pool: { max_connections: 8 }")
        cls.addClassCleanup(cls.gw.stop)
        cls.port = cls.gw.ports["public"]

    def test_request_fields_as_an_http2_header_list(self):
        r = request(self.port, "GET", "/echo?a=1", headers={"X-Mixed-Case": "v"}, host="api.local")
        self.assertEqual(r.status, 200)
        seen = r.json()
        self.assertEqual(seen["method"], "GET")
        self.assertEqual(seen["path"], "/echo?a=1")
        self.assertEqual(seen["authority"], "api.local")  # Host became :authority
        self.assertEqual(seen["scheme"], "http")
        self.assertEqual(seen["headers"]["x-mixed-case"], "v")  # lower-cased for HTTP/2
        self.assertNotIn("host", seen["headers"])
        self.assertNotIn("connection", seen["headers"])
        self.assertEqual(seen["headers"]["x-forwarded-for"], "127.0.0.1")
        self.assertIn("x-request-id", seen["headers"])

    def test_sized_and_chunked_bodies_and_request_trailers(self):
        r = request(self.port, "POST", "/echo", body=b"hello sized body")
        self.assertEqual(r.json()["body"], "hello sized body")
        self.assertEqual(r.json()["headers"]["content-length"], "16")
        out = raw(self.port, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                             b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-digest: abc\r\n\r\n")
        seen = json.loads(out.split(b"\r\n\r\n", 1)[1])
        self.assertEqual(seen["body"], "hello world")
        self.assertEqual(seen["trailers"], {"x-digest": "abc"})
        self.assertNotIn("transfer-encoding", seen["headers"])

    def test_large_body_both_ways_under_flow_control(self):
        body = os.urandom(700_000).hex().encode()[:1_000_000]  # larger than every window
        r = request(self.port, "POST", "/echo", body=body)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["body"].encode("latin-1"), body)

    def test_response_trailers_reach_http1_and_http2_clients(self):
        out = raw(self.port, b"GET /stream?n=2 HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n")
        self.assertIn(b"Transfer-Encoding: chunked", out)
        self.assertTrue(out.endswith(b"\r\n0\r\nx-chunks: 2\r\n\r\n"), out)  # pieces may come coalesced
        self.assertIn(b"chunk 1\n", out)
        c = H2Client(self.port)
        try:
            r = c.request("GET", "/trailers")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, b"\x00\x00\x00\x00\x02hi")
            self.assertEqual(r.trailers.get("grpc-status"), "0")
            self.assertEqual(r.trailers.get("grpc-message"), "ok")
        finally:
            c.close()

    def test_upstream_reset_cuts_the_response(self):
        out = raw(self.port, b"GET /reset HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertIn(b"7\r\npartial\r\n", out)
        self.assertFalse(out.endswith(b"0\r\n\r\n"), "a cut body must not get a last chunk")
        c = H2Client(self.port)
        try:
            sid = c.send_request("GET", "/reset")
            with self.assertRaises(StreamReset):
                c.response(sid)
        finally:
            c.close()

    def test_concurrent_requests_share_few_connections(self):
        before = self.up.stats.connections
        with self.up.stats.cond:
            self.up.stats.max_open = 0
        with concurrent.futures.ThreadPoolExecutor(40) as pool:
            statuses = list(pool.map(lambda i: request(self.port, "GET", f"/slow?ms=300&i={i}").status, range(40)))
        self.assertEqual(statuses, [200] * 40)
        opened = self.up.stats.connections - before
        # 40 at once with 10 streams per connection (the upstream's SETTINGS): at least 4
        # connections, never one per request, never more than pool.max_connections.
        self.assertLessEqual(opened, 8)
        self.assertGreater(self.up.stats.max_open, 1, "streams were multiplexed on a connection")
        self.assertLessEqual(self.up.stats.max_open, 10, "the peer's SETTINGS_MAX_CONCURRENT_STREAMS was respected")

    def test_refused_stream_is_sent_again(self):
        r = request(self.port, "GET", "/refuse-once?key=get1")
        self.assertEqual(r.status, 200)
        self.assertEqual(self.up.stats.refused["get1"], 2)
        r = request(self.port, "POST", "/refuse-once?key=post1", body=b"x" * 100)
        self.assertEqual(r.status, 200, "a refused stream was never processed: even a POST goes again")
        self.assertEqual(r.json()["body"], "x" * 100)

    def test_refused_stream_with_a_streaming_http1_body_goes_again_from_its_copy(self):
        # A chunked body (never replayable as a whole): its first piece goes on, the upstream
        # refuses the stream unprocessed; the call sends again what went, then the rest.
        s = connect(self.port)
        try:
            s.sendall(b"POST /refuse-early?key=h1 HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"6\r\nfirst-\r\n")
            self.assertTrue(self.up.stats.wait(lambda st: "h1" in st.refused), "the stream was refused")
            s.sendall(b"4\r\nrest\r\n0\r\n\r\n")
            r = read_response(s.makefile("rb"))
        finally:
            s.close()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["body"], "first-rest")

    def test_refused_stream_with_a_full_duplex_h2_body_goes_again_from_its_copy(self):
        c = H2Client(self.port)
        try:
            sid = c.send_request("POST", "/refuse-early?key=h2", end=False)
            c.send_body(sid, b"first-", end=False)
            self.assertTrue(self.up.stats.wait(lambda st: "h2" in st.refused), "the stream was refused")
            c.send_body(sid, b"rest", end=True)
            r = c.response(sid)
        finally:
            c.close()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["body"], "first-rest")

    def test_an_early_answer_stops_an_http1_clients_upload(self):
        # The upstream answers 413 before reading the body and resets the stream (NO_ERROR): the
        # pump, waiting for window, stops; the answer is the call's, not a failed write (502).
        s = connect(self.port)
        body = b"x" * (1 << 20)
        sender = threading.Thread(target=lambda: self._send_quietly(
            s, b"POST /reject HTTP/1.1\r\nHost: test.local\r\nContent-Length: %d\r\n\r\n" % len(body) + body))
        sender.start()
        try:
            r = read_response(s.makefile("rb"))
        finally:
            s.close()
            sender.join()
        self.assertEqual(r.status, 413)

    @staticmethod
    def _send_quietly(s, data):
        try:
            s.sendall(data)
        except OSError:
            pass  # the gateway closed the connection after the answer

    def test_goaway_moves_new_requests_to_a_new_connection(self):
        first = request(self.port, "GET", "/goaway").json()["connection"]
        after = [request(self.port, "GET", "/echo").json()["connection"] for _ in range(3)]
        self.assertTrue(all(c != first for c in after), (first, after))
        self.assertEqual(len(set(after)), 1, "the new connection is reused")

    def test_client_reset_cancels_the_upstream_stream(self):
        before = self.up.stats.resets
        c = H2Client(self.port)
        try:
            sid = c.send_request("GET", "/hold")
            self.assertTrue(self.up.stats.wait(lambda s: any(r["path"] == "/hold" for r in s.requests)))
            c.reset(sid)
            self.assertTrue(self.up.stats.wait(lambda s: s.resets > before), "the upstream saw the stream reset")
        finally:
            c.close()

    def test_full_duplex_body_goes_on_while_the_response_comes(self):
        c = H2Client(self.port)
        try:
            sid = c.send_request("POST", "/duplex", end=False)
            for word in (b"ping", b"pong", b"done"):
                c.send_body(sid, word, end=False)
                while b"".join(c.streams[sid]["data"]).count(word) == 0:
                    self.assertTrue(c.pump(), "connection closed")
            c.send_body(sid, b"", end=True)
            r = c.response(sid)
            self.assertEqual(r.body, b"pingpongdone")
        finally:
            c.close()


class H2Config(unittest.TestCase):
    def test_websocket_routes_need_an_http1_upstream(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write("listeners: [{ name: public, listen: 127.0.0.1:0 }]\n"
                    "routes:\n"
                    "  - name: ws\n"
                    "    upstream: u\n"
                    "    websocket: true\n"
                    "upstreams: [{ name: u, protocol: h2c, discovery: { static: [127.0.0.1:9] } }]\n")
        self.addCleanup(os.unlink, f.name)
        out = subprocess.run([BIN, "check", f.name], capture_output=True, text=True, timeout=20)
        self.assertNotEqual(out.returncode, 0)
        self.assertRegex(out.stdout + out.stderr, r":3:\d+: routes\[0\]\.websocket: upgrades \(WebSocket\) need an upstream with protocol: http1")


class H2cBodyLimit(unittest.TestCase):
    def test_a_full_duplex_body_over_the_limit_resets_both_streams(self):
        # The body goes on as it arrives; past max_body_bytes the call ends with resets both ways,
        # never an END_STREAM that would make the upstream take a cut body for a whole one.
        up = H2Upstream().start()
        self.addCleanup(up.stop)
        gw = gateway(up, routes="routes: [{ name: all, upstream: u, limits: { max_body_bytes: 100 } }]\n")
        self.addCleanup(gw.stop)
        before = up.stats.resets
        c = H2Client(gw.ports["public"])
        try:
            sid = c.send_request("POST", "/duplex", end=False)
            c.send_body(sid, b"a" * 60, end=False)
            while b"".join(c.streams[sid]["data"]) != b"a" * 60:
                self.assertTrue(c.pump(), "connection closed")
            c.send_body(sid, b"b" * 60, end=True)
            with self.assertRaises(StreamReset):
                c.response(sid)
        finally:
            c.close()
        self.assertTrue(up.stats.wait(lambda s: s.resets > before), "the upstream's stream was reset")


    def test_a_body_over_the_limit_before_the_call_started_resets_too(self):
        # The whole body (over the limit) came with the head, before the upstream's stream was
        # there to watch it: still no END_STREAM on a cut body (a reset or a 413, never the echo).
        up = H2Upstream().start()
        self.addCleanup(up.stop)
        gw = gateway(up, routes="routes: [{ name: all, upstream: u, limits: { max_body_bytes: 100 } }]\n")
        self.addCleanup(gw.stop)
        c = H2Client(gw.ports["public"])
        try:
            sid = c.send_request("POST", "/duplex", body=b"z" * 5000)
            try:
                self.assertEqual(c.response(sid).status, 413)
            except StreamReset:
                pass
        finally:
            c.close()


class H2cWindows(unittest.TestCase):
    def test_connection_window_is_credited_for_every_response(self):
        """With a 64 KiB connection window, 40 responses of ~20 KB (whole ones, piece by piece,
        cut ones, abandoned ones) on one connection: a byte left uncredited would stall it."""
        up = H2Upstream().start()
        self.addCleanup(up.stop)
        gw = gateway(up, extra="http2: { connection_window: 65535, initial_stream_window: 16KiB }\npool: { max_connections: 1 }")
        self.addCleanup(gw.stop)
        port = gw.ports["public"]
        big = b"x" * 20000
        for i in range(10):
            self.assertEqual(request(port, "POST", "/echo", body=big).status, 200)  # piece by piece
            self.assertEqual(request(port, "GET", "/echo").status, 200)  # whole
            self.assertIn(b"partial", raw(port, b"GET /reset HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
            c = H2Client(port, window=1024)  # a client that reads little: its response is abandoned
            try:
                sid = c.send_request("POST", "/echo", body=big, headers={"content-length": str(len(big))})
                while c.streams[sid]["headers"] is None:
                    self.assertTrue(c.pump())
                c.reset(sid)
            finally:
                c.close()
        self.assertEqual(request(port, "POST", "/echo", body=big).json()["body"], big.decode())
        self.assertEqual(up.stats.connections, 1)


class SubrequestsOverH2(unittest.TestCase):
    def test_composition_calls_go_as_streams(self):
        up = H2Upstream().start()
        self.addCleanup(up.stop)
        routes = textwrap.dedent("""\
            routes:
              - name: dash
                match: { path_template: "/dash/{id}" }
                compose:
                  calls:
                    - { name: a, upstream: u, path: "/echo?id={path.id}", into: a }
                    - { name: b, upstream: u, path: "/echo?from={a.path}", into: b }
            """)
        gw = gateway(up, routes=routes)
        self.addCleanup(gw.stop)
        r = request(gw.ports["public"], "GET", "/dash/7")
        self.assertEqual(r.status, 200, r.body)
        doc = r.json()
        self.assertEqual(doc["a"]["path"], "/echo?id=7")
        self.assertEqual(doc["a"]["method"], "GET")
        self.assertEqual(doc["b"]["path"], "/echo?from=%2Fecho%3Fid%3D7")
        self.assertIn("x-request-id", doc["a"]["headers"])
        self.assertEqual(doc["a"]["connection"], doc["b"]["connection"], "both calls on one pooled HTTP/2 connection")


class H2cPings(unittest.TestCase):
    def test_idle_connection_pinged_once_per_idle_period(self):
        up = H2Upstream().start()
        self.addCleanup(up.stop)
        gw = gateway(up, extra="http2: { ping_interval: 1s }\npool: { idle_timeout: 30s }")
        self.addCleanup(gw.stop)
        self.assertEqual(request(gw.ports["public"], "GET", "/echo").status, 200)
        self.assertTrue(up.stats.wait(lambda s: s.pings >= 1), "an idle pooled connection is pinged")
        # One per idle period: a gRPC server's keepalive enforcement counts pings without data.
        self.assertFalse(up.stats.wait(lambda s: s.pings >= 2, timeout=3))
        self.assertEqual(request(gw.ports["public"], "GET", "/echo").status, 200)  # the connection stayed usable
        self.assertEqual(up.stats.connections, 1)


class H2OverTls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = Pki()

    def tls_lines(self):
        return f"tls: {{ ca: {self.pki.path('ca.pem')}, sni: localhost }}\n"

    def test_h2_with_alpn(self):
        up = H2Upstream(tls=(self.pki.path("local.pem"), self.pki.path("local.key"))).start()
        self.addCleanup(up.stop)
        gw = gateway(up, protocol="h2", tls=self.tls_lines())
        self.addCleanup(gw.stop)
        r = request(gw.ports["public"], "POST", "/echo", body=b"over tls")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["scheme"], "https")
        self.assertEqual(r.json()["body"], "over tls")

    def test_server_without_h2_is_refused(self):
        up = H2Upstream(tls=(self.pki.path("local.pem"), self.pki.path("local.key")), alpn=("http/1.1",)).start()
        self.addCleanup(up.stop)
        gw = gateway(up, protocol="h2", tls=self.tls_lines())
        self.addCleanup(gw.stop)
        self.assertEqual(request(gw.ports["public"], "GET", "/echo").status, 502)
        self.assertTrue(gw.wait_for_log("did not choose h2 by ALPN"))


    def test_protocol_fallback_speaks_http1_to_a_server_without_h2(self):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.pki.path("local.pem"), self.pki.path("local.key"))
        ctx.set_alpn_protocols(["http/1.1"])
        up = Upstream(name="h1", ssl_context=ctx).start_in_thread()
        self.addCleanup(up.stop)
        gw = gateway(up, protocol="h2", tls=self.tls_lines(), extra="protocol_fallback: true")
        self.addCleanup(gw.stop)
        for body in (b"first", b"second"):  # the first finds out, the second knows
            r = request(gw.ports["public"], "POST", "/echo", body=body, headers={"TE": "trailers"})
            self.assertEqual(r.status, 200)
            seen = r.json()
            self.assertEqual(seen["method"], "POST")
            self.assertEqual(seen["body"], body.decode())
            names = [k.lower() for k, _ in seen["headers"]]
            self.assertIn("host", names)
            self.assertFalse(any(n.startswith(":") for n in names))
        self.assertTrue(gw.wait_for_log("HTTP/1.1 from now on"))


class ProtocolConfig(unittest.TestCase):
    def check(self, upstream_lines):
        text = LISTENER + "routes: [{ name: all, upstream: u }]\nupstreams:\n  - name: u\n    discovery: { static: [127.0.0.1:9] }\n"
        text += textwrap.indent(textwrap.dedent(upstream_lines), "    ")
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(text)
        self.addCleanup(os.unlink, f.name)
        return subprocess.run([BIN, "check", f.name], capture_output=True, text=True, timeout=20)

    def test_errors_name_file_line_and_reason(self):
        out = self.check("protocol: h3\n")
        self.assertNotEqual(out.returncode, 0)
        self.assertRegex(out.stderr + out.stdout, r"\.yaml:6:\d+: .*unknown protocol 'h3'")
        out = self.check("protocol: h2\n")
        self.assertIn("h2 is HTTP/2 over TLS", out.stderr + out.stdout)
        out = self.check("protocol: h2c\nhttp2: { max_concurrent_streams: 0 }\n")
        self.assertIn("max_concurrent_streams", out.stderr + out.stdout)
        out = self.check("http2: { ping_interval: 5s }\n")
        self.assertIn("applies to protocol: h2 or h2c", out.stderr + out.stdout)
        self.assertEqual(self.check("protocol: h2c\nhttp2: { max_concurrent_streams: 50, ping_interval: 30s }\n").returncode, 0)


if __name__ == "__main__":
    unittest.main()
