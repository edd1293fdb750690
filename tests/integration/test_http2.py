"""HTTP/2 for clients (RFC 9113): h2c with prior knowledge and h2 over TLS (ALPN), each stream an
exchange with every feature of the HTTP/1.1 path; flow control as backpressure; a client's
RST_STREAM cancels the upstream call; protocol errors refused per stream. The client is Debian's
python3-h2 (h2client.py), independent of the nghttp2 inside gatehouse, plus curl and nghttp."""
import json
import os
import signal
import ssl
import subprocess
import tempfile
import unittest

from h2client import H2Client, StreamReset, h2_request
from harness import Gatehouse, connect, read_to_close, request, upstream
from pki import Pki


class H2c(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = upstream("u")
        cls.addClassCleanup(cls.up.stop)
        cls.gw = Gatehouse("""
            listeners:
              - name: public
                listen: 127.0.0.1:0
                http2: { initial_stream_window: 16KiB, max_concurrent_streams: 8 }
              - name: h1only
                listen: 127.0.0.1:0
                protocols: [http1]
            routes:
              - name: local
                match: { path: /local }
                respond: { status: 200, body: "local answer" }
              - name: small
                match: { path_prefix: /small }
                upstream: u
                limits: { max_body_bytes: 1KiB }
              - name: all
                upstream: u
                middleware: [ { headers: { response: { add: { X-Via-Chain: "yes" } } } } ]
        """, upstreams={"u": [cls.up]}).start()
        cls.addClassCleanup(cls.gw.stop)
        cls.port = cls.gw.ports["public"]

    def test_a_local_reply(self):
        r = h2_request(self.port, path="/local")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"local answer")
        self.assertEqual(r.headers["content-length"], "12")
        self.assertIn("x-request-id", r.headers)

    def test_a_proxied_request_goes_upstream_as_http11(self):
        r = h2_request(self.port, path="/echo?a=1", headers={"accept": "text/plain", "cookie": "a=1"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["x-via-chain"], "yes")  # the route's middleware ran
        echo = r.json()
        self.assertEqual(echo["target"], "/echo?a=1")
        sent = {k.lower(): v for k, v in echo["headers"]}
        self.assertEqual(sent["host"], "test.local")  # :authority is the host
        self.assertEqual(sent["accept"], "text/plain")
        self.assertEqual(sent["x-forwarded-proto"], "http")
        self.assertIn("x-request-id", sent)

    def test_cookie_crumbs_are_joined_for_the_http1_upstream(self):
        c = H2Client(self.port)
        try:
            sid = c.conn.get_next_available_stream_id()
            c.streams[sid] = {"headers": None, "data": [], "trailers": {}, "ended": False, "reset": None, "interims": []}
            c.conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"), (":authority", "test.local"), (":path", "/echo"),
                                      ("cookie", "a=1"), ("cookie", "b=2")], end_stream=True)
            c.flush()
            sent = [(k.lower(), v) for k, v in c.response(sid).json()["headers"]]
            self.assertEqual([v for k, v in sent if k == "cookie"], ["a=1; b=2"])
        finally:
            c.close()

    def test_many_streams_on_one_connection(self):
        c = H2Client(self.port)
        try:
            ids = [c.send_request(path=f"/echo?n={i}") for i in range(6)]
            for i, sid in enumerate(ids):
                r = c.response(sid)
                self.assertEqual(r.status, 200)
                self.assertEqual(r.json()["target"], f"/echo?n={i}")
        finally:
            c.close()

    def test_a_request_body_larger_than_the_window_arrives_whole(self):
        body = os.urandom(300 * 1024)  # about 19 stream windows of 16 KiB: each credited as it went upstream
        r = h2_request(self.port, method="POST", path="/upload", body=body)
        self.assertEqual(r.status, 200)
        import hashlib
        self.assertEqual(r.json(), {"received": len(body), "sha256": hashlib.sha256(body).hexdigest()})

    def test_a_body_without_a_length_goes_upstream_chunked(self):
        c = H2Client(self.port)
        try:
            sid = c.send_request(method="POST", path="/echo", end=False)
            c.send_body(sid, b"abc", end=False)
            c.send_body(sid, b"def", end=True)
            echo = c.response(sid).json()
            self.assertEqual(echo["body"], "abcdef")
            self.assertIn(("Transfer-Encoding", "chunked"), [tuple(p) for p in echo["headers"]])
        finally:
            c.close()

    def test_a_large_response_streams_through(self):
        r = h2_request(self.port, path="/download?bytes=2000000&pattern=1")
        self.assertEqual(r.status, 200)
        self.assertEqual(len(r.body), 2000000)
        self.assertEqual(r.headers["content-length"], "2000000")

    def test_upstream_trailers_reach_the_client(self):
        r = h2_request(self.port, path="/download?bytes=1000&chunked=1&trailers=1")
        self.assertEqual(len(r.body), 1000)
        self.assertNotIn("content-length", r.headers)
        self.assertEqual(r.trailers.get("x-checksum"), "sum-1000")
        self.assertEqual(r.trailers.get("grpc-status"), "0")

    def test_interim_responses_are_passed_on(self):
        c = H2Client(self.port)
        try:
            r = c.request(path="/echo?interim=103")
            self.assertEqual(r.status, 200)
            self.assertEqual([i[":status"] for i in r.interims], ["103"])
        finally:
            c.close()

    def test_a_body_over_the_routes_limit_is_413(self):
        r = h2_request(self.port, method="POST", path="/small", body=b"x" * 4096)
        self.assertEqual(r.status, 413)

    def test_a_reset_stream_cancels_its_upstream_request(self):
        c = H2Client(self.port)
        try:
            before = self.up.stats.closed
            hung = c.send_request(path="/hang")
            self.assertTrue(self.up.wait_for(lambda st: "/hang" in st.paths))
            c.reset(hung)
            # The upstream sees its connection close (the call is cancelled, not run to its end)...
            self.assertTrue(self.up.wait_for(lambda st: st.closed > before))
            # ...and the connection's other streams go on.
            self.assertEqual(c.request(path="/local").status, 200)
        finally:
            c.close()

    def test_protocol_errors_reset_the_stream_only(self):
        c = H2Client(self.port, validate=False)
        try:
            for bad in ([("connection", "keep-alive")], [("te", "gzip")], [("x-bad", "a\rb")], [("transfer-encoding", "chunked")]):
                sid = c.conn.get_next_available_stream_id()
                c.streams[sid] = {"headers": None, "data": [], "trailers": {}, "ended": False, "reset": None, "interims": []}
                c.conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"), (":authority", "test.local"), (":path", "/echo")] + bad,
                                    end_stream=True)
                c.flush()
                with self.assertRaises(StreamReset, msg=str(bad)) as e:
                    c.response(sid)
                self.assertEqual(e.exception.code, 1)  # PROTOCOL_ERROR
            self.assertEqual(c.request(path="/local").status, 200)  # the connection goes on
        finally:
            c.close()

    def test_authority_and_host_must_agree(self):
        c = H2Client(self.port, validate=False)
        try:
            self.assertEqual(c.request(path="/echo", headers={"host": "other.example"}).status, 400)
            self.assertEqual(c.request(path="/echo", headers={"host": "test.local"}).status, 200)
        finally:
            c.close()

    def test_a_head_over_the_limit_is_431(self):
        r = h2_request(self.port, path="/echo", headers={"x-big": "v" * 20000})
        self.assertEqual(r.status, 431)

    def test_more_streams_than_advertised_are_refused(self):
        c = H2Client(self.port)
        try:
            ids = [c.send_request(path="/hang") for _ in range(9)]  # max_concurrent_streams: 8
            c.pump()
            while c.streams[ids[-1]]["reset"] is None and c.pump():
                pass
            self.assertEqual(c.streams[ids[-1]]["reset"], 7)  # REFUSED_STREAM
        finally:
            c.close()

    def test_curl_and_nghttp_speak_to_it(self):
        out = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-o", "-", "-w", "\\n%{http_version}",
                              f"http://127.0.0.1:{self.port}/local"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.stdout, "local answer\n2")
        out = subprocess.run(["nghttp", "-n", "-s", f"http://127.0.0.1:{self.port}/echo"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)

    def test_an_http1_only_listener_refuses_the_preface(self):
        s = connect(self.gw.ports["h1only"])
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        self.assertIn(b" 505 ", read_to_close(s))
        self.assertEqual(request(self.gw.ports["h1only"], path="/local").status, 200)



class H2Idle(unittest.TestCase):
    def test_an_idle_connection_gets_goaway_then_closes(self):
        gw = Gatehouse("""
            limits: { idle_timeout: 1s }
            routes: [{ name: local, respond: { status: 204 } }]
        """).start()
        self.addCleanup(gw.stop)
        c = H2Client(gw.port)
        try:
            self.assertEqual(c.request(path="/").status, 204)
            while c.pump():  # until gatehouse closes the idle connection
                pass
            self.assertEqual(c.goaway[0] if c.goaway else None, 0)  # GOAWAY NO_ERROR before the close
        finally:
            c.close()

    def test_a_connection_quiet_after_its_last_stream_gets_goaway_at_the_idle_timeout(self):
        # The client sends its request and nothing more (no ACK, no WINDOW_UPDATE): the idle
        # timeout must run from the end of the last stream, not only from the connection's start.
        import struct
        import hpack  # python3-hpack: its path was added by h2client
        gw = Gatehouse("""
            limits: { idle_timeout: 1s }
            routes: [{ name: local, respond: { status: 204 } }]
        """).start()
        self.addCleanup(gw.stop)

        def frame(ftype, flags, sid, payload=b""):
            return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload
        block = hpack.Encoder().encode([(":method", "GET"), (":scheme", "http"), (":authority", "x"), (":path", "/")])
        s = connect(gw.port)
        s.settimeout(20)
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0) + frame(1, 5, 1, block))
        got = read_to_close(s)
        s.close()
        types = []
        while len(got) >= 9:
            n = int.from_bytes(got[:3], "big")
            types.append((got[3], got[9:9 + n]))
            got = got[9 + n:]
        self.assertIn(1, [t for t, _ in types])  # the response HEADERS
        goaways = [p for t, p in types if t == 7]
        self.assertEqual(len(goaways), 1)
        self.assertEqual(int.from_bytes(goaways[0][4:8], "big"), 0)  # NO_ERROR, then the close


class H2AccessLog(unittest.TestCase):
    def test_the_access_log_says_which_protocol(self):
        d = tempfile.mkdtemp(prefix="gatehouse-log-")
        path = os.path.join(d, "access.log")
        gw = Gatehouse(f"""
            access_log: {{ path: {path}, fields: [user_agent, protocol, status] }}
            routes: [{{ name: local, respond: {{ status: 204 }} }}]
        """).start()
        try:
            h2_request(gw.port, path="/", headers={"user-agent": "h2-marker"})
            request(gw.port, path="/", headers={"User-Agent": "h1-marker"})
        finally:
            gw.stop()  # a graceful stop flushes the log
        with open(path) as f:
            lines = [json.loads(line) for line in f.read().splitlines()]
        self.assertIn({"user_agent": "h2-marker", "protocol": "HTTP/2", "status": 204}, lines)
        self.assertIn({"user_agent": "h1-marker", "protocol": "HTTP/1.1", "status": 204}, lines)


class H2Metrics(unittest.TestCase):
    def test_request_metrics_say_which_protocol(self):
        gw = Gatehouse("routes: [{ name: local, respond: { status: 204 } }]").start()
        self.addCleanup(gw.stop)

        def count(protocol):
            text = gw.admin("GET", "/metrics")[1]
            line = f'gatehouse_http_requests_total{{code="204",method="GET",protocol="{protocol}",route="local"}} '
            return sum(float(l[len(line):]) for l in text.splitlines() if l.startswith(line))

        for _ in range(3):
            h2_request(gw.port, path="/")
        request(gw.port, path="/")
        # A stream is counted just after its last frame goes out: scrape until it shows (bounded).
        for _ in range(100):
            if count("HTTP/2") == 3 and count("HTTP/1.1") == 1:
                break
        self.assertEqual(count("HTTP/2"), 3)
        self.assertEqual(count("HTTP/1.1"), 1)


class H2Drain(unittest.TestCase):
    def test_a_drain_sends_goaway_and_streams_in_flight_finish(self):
        up = upstream("u")
        self.addCleanup(up.stop)
        gw = Gatehouse("""
            drain: { timeout: 10s }
            routes: [{ name: all, upstream: u }]
        """, upstreams={"u": [up]}).start()
        self.addCleanup(gw.stop)
        # nghttp: a client that goes on reading its streams after a GOAWAY, as RFC 9113 §6.8 has it.
        client = subprocess.Popen(["nghttp", "-v", f"http://127.0.0.1:{gw.port}/delay?ms=1000"], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        try:
            self.assertTrue(up.wait_for(lambda st: "/delay?ms=1000" in st.paths))
            gw.signal(signal.SIGTERM)
            out, _ = client.communicate(timeout=30)
        finally:
            client.kill()
        self.assertRegex(out, r"recv GOAWAY frame .*\n.*error_code=NO_ERROR")
        self.assertIn(":status: 200", out)  # the stream in flight completed after the GOAWAY
        self.assertLess(out.index("recv GOAWAY"), out.index(":status: 200"))
        self.assertEqual(client.returncode, 0, out)
        self.assertEqual(gw.wait(), 0)


class H2Tls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = Pki()
        cls.up = upstream("u")
        cls.addClassCleanup(cls.up.stop)
        p = cls.pki.path
        cls.gw = Gatehouse(f"""
            listeners:
              - name: public
                listen: 127.0.0.1:0
                tls: {{ certificates: [{{ cert: {p('ab.pem')}, key: {p('ab.key')} }}, {{ cert: {p('wild.pem')}, key: {p('wild.key')} }}] }}
              - name: mtls
                listen: 127.0.0.1:0
                tls:
                  certificates: [{{ cert: {p('ab.pem')}, key: {p('ab.key')} }}]
                  client_ca: {p('ca.pem')}
                  identity_headers: {{ subject: X-Client-Subject, sans: X-Client-SANs }}
              - name: h1first
                listen: 127.0.0.1:0
                protocols: [http1, h2]
                tls: {{ certificates: [{{ cert: {p('ab.pem')}, key: {p('ab.key')} }}] }}
              - name: h1only
                listen: 127.0.0.1:0
                protocols: [http1]
                tls: {{ certificates: [{{ cert: {p('ab.pem')}, key: {p('ab.key')} }}] }}
            routes: [{{ name: all, upstream: u }}]
        """, upstreams={"u": [cls.up]}).start()
        cls.addClassCleanup(cls.gw.stop)

    def ctx(self):
        return ssl.create_default_context(cafile=self.pki.path("ca.pem"))

    def alpn(self, listener, offer):
        ctx = self.ctx()
        ctx.set_alpn_protocols(offer)
        with ctx.wrap_socket(connect(self.gw.ports[listener]), server_hostname="a.example.com") as s:
            return s.selected_alpn_protocol()

    def test_alpn_follows_the_listeners_order(self):
        self.assertEqual(self.alpn("public", ["http/1.1", "h2"]), "h2")
        self.assertEqual(self.alpn("h1first", ["h2", "http/1.1"]), "http/1.1")
        self.assertEqual(self.alpn("h1first", ["h2"]), "h2")
        self.assertIsNone(self.alpn("h1only", ["h2"]))

    def test_a_request_over_h2_with_tls(self):
        c = H2Client(self.gw.ports["public"], tls=self.ctx(), server_hostname="a.example.com")
        try:
            r = c.request(path="/echo", host="a.example.com")
            self.assertEqual(r.status, 200)
            sent = {k.lower(): v for k, v in r.json()["headers"]}
            self.assertEqual(sent["x-forwarded-proto"], "https")
        finally:
            c.close()

    def h2(self, listener, name="a.example.com", ctx=None, session=None):
        c = H2Client(self.gw.ports[listener], tls=ctx or self.ctx(), server_hostname=name, session=session)
        self.addCleanup(c.close)
        return c

    def test_sni_picks_the_certificate_over_h2(self):
        for name, cn in (("a.example.com", "a.example.com"), ("x.wild.example.com", "*.wild.example.com")):
            c = self.h2("public", name)
            self.assertEqual(dict(x[0] for x in c.sock.getpeercert()["subject"])["commonName"], cn)
            self.assertEqual(c.request(path="/echo", host=name).status, 200)

    def test_mtls_identity_fields_reach_the_upstream_over_h2(self):
        ctx = self.ctx()
        ctx.load_cert_chain(self.pki.path("client1.pem"), self.pki.path("client1.key"))
        r = self.h2("mtls", ctx=ctx).request(path="/echo", host="a.example.com", headers={"x-client-subject": "forged"})
        self.assertEqual(r.status, 200)
        h = r.json()["headers"]
        self.assertEqual([v for k, v in h if k.lower() == "x-client-subject"], ["/CN=alice"])  # the forged one is gone
        self.assertEqual([v for k, v in h if k.lower() == "x-client-sans"], ["alice.clients.example.com"])

    def test_tls_sessions_resume_over_h2(self):
        ctx = self.ctx()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # the session is there right after the handshake
        first = self.h2("public", ctx=ctx)
        self.assertEqual(first.request(path="/echo", host="a.example.com").status, 200)
        again = self.h2("public", ctx=ctx, session=first.sock.session)
        self.assertTrue(again.sock.session_reused)
        self.assertEqual(again.request(path="/echo", host="a.example.com").status, 200)

    def test_curl_negotiates_h2(self):
        out = subprocess.run(["curl", "-s", "--http2", "--cacert", self.pki.path("ca.pem"), "--resolve",
                              f"a.example.com:{self.gw.ports['public']}:127.0.0.1", "-o", "/dev/null", "-w", "%{http_version}",
                              f"https://a.example.com:{self.gw.ports['public']}/echo"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.stdout, "2")


if __name__ == "__main__":
    unittest.main()
