"""HTTP/1.1 connection behaviour through the real binary: keep-alive and pooling, pipelining,
chunked bodies both ways, 100-continue, HEAD, HTTP/1.0 and Connection: close."""
import socket
import unittest

from harness import Gatehouse, connect, read_response, read_to_close, request, upstream


class Http11(unittest.TestCase):
    def setUp(self):
        self.up = upstream("u")
        self.gw = Gatehouse("""
            routes:
              - name: direct
                match: { path: /direct }
                respond: { status: 200, body: "direct" }
              - name: moved
                match: { path: /moved }
                redirect: { path: /direct }
              - name: all
                upstream: u
        """, upstreams={"u": [self.up]}).start()

    def tearDown(self):
        self.gw.stop()
        self.up.stop()

    def test_keep_alive_client_and_pooled_upstream_connection(self):
        s = connect(self.gw.port)
        f = s.makefile("rb")
        for i in range(20):
            s.sendall(f"GET /echo/{i} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            r = read_response(f)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json()["path"], f"/echo/{i}")
        s.close()
        # Twenty requests on separate client connections still share one upstream connection.
        for i in range(20):
            self.assertEqual(request(self.gw.port, path="/x").status, 200)
        self.assertEqual(self.up.stats.requests, 40)
        self.assertEqual(self.up.stats.connections, 1)

    def test_pipelined_requests_are_answered_in_order(self):
        s = connect(self.gw.port)
        batch = b"".join(f"GET /echo/{i} HTTP/1.1\r\nHost: t\r\n\r\n".encode() for i in range(10))
        s.sendall(batch + b"GET /direct HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        f = s.makefile("rb")
        for i in range(10):
            self.assertEqual(read_response(f).json()["path"], f"/echo/{i}")
        last = read_response(f)
        self.assertEqual(last.body, b"direct")
        self.assertEqual(last.headers["connection"], "close")
        self.assertEqual(f.read(), b"")  # closed after Connection: close
        s.close()

    def test_chunked_request_body_is_streamed_up_with_its_trailers(self):
        s = connect(self.gw.port)
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\n\r\n"
                  b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\nContent-Type: text/evil\r\nX-Two:  2 \r\n\r\n")
        r = read_response(s.makefile("rb"))
        s.close()
        j = r.json()
        self.assertEqual(j["body"], "hello world")
        self.assertIn(["Transfer-Encoding", "chunked"], j["headers"])
        raw = bytes(self.up.stats.raw)
        self.assertNotIn(b"ext=1", raw)  # extensions are not forwarded
        # The last chunk carries the client's trailers, validated; a field no trailer may carry is dropped.
        self.assertIn(b"0\r\nX-Checksum: abc\r\nX-Two: 2\r\n\r\n", raw)
        self.assertNotIn(b"text/evil", raw)
        # TE: trailers goes on (hop-by-hop, so with its connection option).
        head = self.up.stats.requests_raw[-1].decode().lower()
        self.assertIn("\r\nte: trailers\r\n", head)
        self.assertIn("\r\nconnection: te\r\n", head)

    def test_te_other_than_trailers_is_not_forwarded(self):
        r = request(self.gw.port, path="/echo", headers={"TE": "gzip, chunked"})
        self.assertNotIn("te", {k.lower() for k, _ in r.json()["headers"]})

    def test_invalid_request_trailers_are_refused_as_headers_are(self):
        cases = [(b"Bad_Name: x\r\n", 400),                       # '_' in a request field name
                 (b"X-A: a\r\n b\r\n", 400),                     # obs-fold
                 (b"X-A: a\x01b\r\n", 400),                       # a control character
                 (b"".join(b"X-T%d: v\r\n" % i for i in range(101)), 431),  # over limits.max_headers
                 (b"X-Big: " + b"v" * 17000 + b"\r\n", 431)]       # over limits.max_header_bytes
        for trailer, status in cases:
            before = len(self.up.stats.raw)
            s = connect(self.gw.port)
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"5\r\nhello\r\n0\r\n" + trailer + b"\r\n")
            r = read_response(s.makefile("rb"))
            s.close()
            self.assertEqual(r.status, status, trailer[:40])
            # No last chunk reached the upstream: its request was aborted, never completed.
            self.assertNotIn(b"0\r\n\r\n", bytes(self.up.stats.raw)[before:])

    def test_trailers_are_dropped_for_an_http10_client(self):
        s = connect(self.gw.port)
        s.sendall(b"GET /download?bytes=1000&chunked=1&trailers=1 HTTP/1.0\r\nHost: t\r\n\r\n")
        raw = read_to_close(s)
        s.close()
        self.assertTrue(raw.endswith(b"x" * 1000), raw[-60:])  # close-delimited: no room for trailers
        self.assertNotIn(b"sum-1000", raw)

    def test_invalid_upstream_trailers_cut_the_response(self):
        s = connect(self.gw.port)
        s.sendall(b"GET /bad/folded-trailer HTTP/1.1\r\nHost: t\r\n\r\n")
        raw = read_to_close(s)
        s.close()
        self.assertNotIn(b"X-A", raw)
        self.assertNotIn(b"0\r\n\r\n", raw)  # a 502 or a cut, never a fabricated end

    def test_chunked_response_is_streamed_down_with_its_trailers(self):
        s = connect(self.gw.port)
        s.sendall(b"GET /download?bytes=300000&chunked=1&trailers=1 HTTP/1.1\r\nHost: t\r\n\r\n")
        f = s.makefile("rb")
        r = read_response(f)
        self.assertEqual(r.headers["transfer-encoding"], "chunked")
        self.assertEqual(len(r.body), 300000)
        # The upstream's trailers reach an HTTP/1.1 client, without any no trailer may carry.
        self.assertEqual(r.trailers.get("x-checksum"), "sum-300000")
        self.assertEqual(r.trailers.get("grpc-status"), "0")
        self.assertNotIn("content-type", r.trailers)
        # and the connection stays usable
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual(read_response(f).status, 200)
        s.close()

    def test_close_delimited_upstream_body_is_rechunked_for_http11(self):
        s = connect(self.gw.port)
        s.sendall(b"GET /download?bytes=100000&close=1 HTTP/1.1\r\nHost: t\r\n\r\n")
        f = s.makefile("rb")
        r = read_response(f)
        self.assertEqual(r.headers.get("transfer-encoding"), "chunked")
        self.assertEqual(len(r.body), 100000)
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertEqual(read_response(f).status, 200)
        s.close()

    def test_expect_100_continue(self):
        s = connect(self.gw.port)
        s.sendall(b"PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        f = s.makefile("rb")
        self.assertEqual(f.readline(), b"HTTP/1.1 100 Continue\r\n")
        self.assertEqual(f.readline(), b"\r\n")
        s.sendall(b"hello")
        r = read_response(f)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["body"], "hello")
        self.assertNotIn("expect", {k.lower() for k, _ in r.json()["headers"]})
        s.close()

    def test_expect_100_continue_with_body_sent_at_once_gives_one_response(self):
        s = connect(self.gw.port)
        s.sendall(b"PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nhello")
        data = read_to_close(s)
        s.close()
        self.assertEqual(data.count(b"HTTP/1.1 200"), 1)
        self.assertNotIn(b"100 Continue", data)

    def test_head_keeps_content_length_and_sends_no_body(self):
        s = connect(self.gw.port)
        s.sendall(b"HEAD /echo HTTP/1.1\r\nHost: t\r\n\r\nGET /direct HTTP/1.1\r\nHost: t\r\n\r\n")
        f = s.makefile("rb")
        r = read_response(f, head_request=True)
        self.assertEqual(r.status, 200)
        self.assertIn("content-length", r.headers)
        self.assertEqual(read_response(f).body, b"direct")  # nothing of a body came in between
        s.close()

    def test_http10_client(self):
        s = connect(self.gw.port)
        s.sendall(b"GET /echo HTTP/1.0\r\n\r\n")
        data = read_to_close(s)
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 200"))
        self.assertIn(b"Connection: close", data)
        # chunked is never sent to a 1.0 client: a close-delimited body instead
        s = connect(self.gw.port)
        s.sendall(b"GET /download?bytes=5000&chunked=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        data = read_to_close(s)
        s.close()
        head, body = data.split(b"\r\n\r\n", 1)
        self.assertNotIn(b"chunked", head)
        self.assertEqual(len(body), 5000)

    def test_http10_keep_alive(self):
        s = connect(self.gw.port)
        f = s.makefile("rb")
        for _ in range(3):
            s.sendall(b"GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r = read_response(f)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["connection"], "keep-alive")
        s.close()

    def test_http10_keep_alive_on_answers_gatehouse_writes_itself(self):
        # A direct response, a redirect and an error: each must say Connection: keep-alive to a
        # 1.0 client that asked for it (RFC 9112 §9.3), or the client waits for a close that
        # never comes (ab -k hung on them), and the connection must then serve the next request.
        s = connect(self.gw.port)
        f = s.makefile("rb")
        for path, status in [("/direct", 200), ("/moved", 302), ("/direct", 200), ("/%zz", 400)]:
            with self.subTest(path=path):
                s.sendall(f"GET {path} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".encode())
                r = read_response(f)
                self.assertEqual(r.status, status)
                self.assertEqual(r.headers.get("connection"), "close" if status == 400 else "keep-alive")
        s.close()
        # Without the request for it, a 1.0 client's connection still closes.
        s = connect(self.gw.port)
        s.sendall(b"GET /direct HTTP/1.0\r\n\r\n")
        data = read_to_close(s)
        s.close()
        self.assertIn(b"Connection: close", data)

    def test_head_and_body_split_across_many_segments(self):
        s = connect(self.gw.port)
        f = s.makefile("rb")
        raw = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\nX-A: b\r\n\r\nhello world"
        for i in range(len(raw)):
            s.sendall(raw[i:i + 1])
        r = read_response(f)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["body"], "hello world")
        s.close()

    def test_leading_empty_line_is_tolerated(self):
        r = read_to_close_after(self.gw.port, b"\r\nGET /direct HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        self.assertTrue(r.startswith(b"HTTP/1.1 200"))

    def test_options_asterisk(self):
        r = read_to_close_after(self.gw.port, b"OPTIONS * HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        self.assertTrue(r.startswith(b"HTTP/1.1 200"))
        self.assertEqual(self.up.stats.requests, 0)


def read_to_close_after(port, data):
    s = connect(port)
    s.sendall(data)
    out = read_to_close(s)
    s.close()
    return out


if __name__ == "__main__":
    unittest.main()
