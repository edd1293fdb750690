"""The compress middleware end to end with the real binary: Accept-Encoding negotiation with
q-values, gzip / br / zstd bytes decoded by independent decoders (Python's zlib, Debian's brotli
and zstandard packages, and curl --compressed), every upstream framing (Content-Length small and
large, chunked, close-delimited), streaming (an event arrives before the upstream finished),
what is never compressed, Vary / ETag / Accept-Ranges, HTTP/1.0 clients, and bad settings."""
import random
import socket
import subprocess
import sys
import tempfile
import unittest
import zlib

sys.path.append("/usr/lib/python3/dist-packages")  # Debian's packages when python3 is another build
import brotli  # noqa: E402
import zstandard  # noqa: E402

from harness import BIN, NET_TIMEOUT, PROTOCOL, GatewayTestCase, connect, read_response, request  # noqa: E402

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho".split()


def text(n, seed=1):
    rnd = random.Random(seed)
    out = []
    size = 0
    while size < n:
        w = rnd.choice(WORDS)
        out.append(w)
        size += len(w) + 1
    return (" ".join(out))[:n].encode()


def decode(coding, data):
    if coding == "gzip":
        return zlib.decompress(data, 16 + zlib.MAX_WBITS)
    if coding == "br":
        return brotli.decompress(data)
    if coding == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    if coding is None:
        return data
    raise AssertionError(f"unexpected coding {coding}")


class Compress(GatewayTestCase):
    config = """
        routes:
          - name: compressed
            match: { path_prefix: / }
            upstream: u
            middleware:
              - compress:
                  types: [text/*, application/json]
                  min_bytes: 1KiB
                  algorithms: [zstd, br, gzip]
                  levels: { gzip: 5, br: 4, zstd: 3 }
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.big = text(200_000)
        cls.small = text(3_000, seed=2)
        f = cls.up.files
        f["/big.txt"] = (200, cls.big, "Content-Type: text/plain; charset=utf-8\r\nETag: \"v1\"\r\nAccept-Ranges: bytes\r\nVary: Accept-Language\r\n")
        f["/small.json"] = (200, cls.small, "Content-Type: application/json\r\n")
        f["/tiny.txt"] = (200, b"short", "Content-Type: text/plain\r\n")
        f["/image.png"] = (200, cls.small, "Content-Type: image/png\r\n")
        f["/encoded.txt"] = (200, cls.small, "Content-Type: text/plain\r\nContent-Encoding: br\r\n")
        f["/no-transform.txt"] = (200, cls.small, "Content-Type: text/plain\r\nCache-Control: public, no-transform\r\n")
        f["/range.txt"] = (206, cls.small, "Content-Type: text/plain\r\nContent-Range: bytes 0-2999/9000\r\n")
        f["/missing.txt"] = (404, cls.small, "Content-Type: text/plain\r\n")

    def get(self, path, accept="gzip", method="GET"):
        return request(self.gw.port, method=method, path=path, headers={"Accept-Encoding": accept} if accept is not None else {})

    def test_each_coding_round_trips_through_an_independent_decoder(self):
        for coding in ("gzip", "br", "zstd"):
            for path, body in (("/big.txt", self.big), ("/small.json", self.small)):
                with self.subTest(coding=coding, path=path):
                    r = self.get(path, accept=coding)
                    self.assertEqual(r.status, 200)
                    self.assertEqual(r.headers.get("content-encoding"), coding)
                    self.assertEqual(decode(coding, r.body), body)
                    self.assertLess(len(r.body), len(body) // 2, "it is compressed")

    def test_chunked_and_close_delimited_upstream_bodies(self):
        n = 3 * 1024 * 1024
        for query in ("chunked=1", "close=1", ""):
            for coding in ("gzip", "zstd"):
                with self.subTest(query=query, coding=coding):
                    r = self.get(f"/download?bytes={n}&type=text/plain&{query}", accept=coding)
                    self.assertEqual(r.headers.get("content-encoding"), coding)
                    if PROTOCOL == "http1":
                        self.assertEqual(r.headers.get("transfer-encoding"), "chunked")
                    self.assertNotIn("content-length", r.headers)
                    self.assertEqual(decode(coding, r.body), b"x" * n)

    def test_trailers_pass_but_a_digest_of_the_uncompressed_bytes_does_not(self):
        s = connect(self.gw.port)
        try:
            for accept, coding in (("gzip", "gzip"), ("identity", None)):
                s.sendall(f"GET /download?bytes=5000&type=text/plain&chunked=1&trailers=1 HTTP/1.1\r\nHost: t\r\n"
                          f"Accept-Encoding: {accept}\r\n\r\n".encode())
                r = read_response(s.makefile("rb"))
                self.assertEqual(r.headers.get("content-encoding"), coding)
                self.assertEqual(decode(coding, r.body), b"x" * 5000)
                self.assertEqual(r.trailers.get("x-checksum"), "sum-5000")
                if coding:
                    self.assertNotIn("content-digest", r.trailers)  # it described the bytes before compression
                else:
                    self.assertEqual(r.trailers.get("content-digest"), "sha-256=:x:")
        finally:
            s.close()

    def test_negotiation_follows_q_values_then_the_operators_order(self):
        cases = [
            ("gzip;q=0.5, br;q=0.8", "br"),
            ("gzip, br, zstd", "zstd"),       # equal weights: the configured order
            ("br, gzip", "br"),
            ("gzip;q=1.0, zstd;q=0.999", "gzip"),
            ("x-gzip", "gzip"),
            ("*", "zstd"),
            ("gzip;q=0, *;q=0.1", "zstd"),
            ("zstd;q=0, br;q=0, *", "gzip"),
            ("identity", None),
            ("*;q=0", None),
            ("gzip;q=2, br;q=abc", None),       # malformed weights: those members are ignored
            ("", None),
            (None, None),                       # no Accept-Encoding at all
        ]
        for accept, want in cases:
            with self.subTest(accept=accept):
                r = self.get("/small.json", accept=accept)
                self.assertEqual(r.headers.get("content-encoding"), want)
                self.assertEqual(decode(want, r.body), self.small)
                self.assertIn("Accept-Encoding", r.headers.get("vary", ""), "a listed type varies even when sent as is")

    def test_accept_encoding_over_two_fields_counts_both(self):
        s = connect(self.gw.port)
        s.sendall(b"GET /small.json HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip;q=0.1\r\nAccept-Encoding: br\r\nConnection: close\r\n\r\n")
        r = read_response(s.makefile("rb"))
        s.close()
        self.assertEqual(r.headers.get("content-encoding"), "br")

    def test_what_is_never_compressed(self):
        for path, why in (("/image.png", "type not listed"), ("/encoded.txt", "already encoded"), ("/no-transform.txt", "no-transform"),
                          ("/range.txt", "a range"), ("/tiny.txt", "under min_bytes")):
            with self.subTest(why=why):
                r = self.get(path, accept="gzip, br, zstd")
                want_ce = "br" if path == "/encoded.txt" else None
                self.assertEqual(r.headers.get("content-encoding"), want_ce)
                self.assertIn("content-length", r.headers)
                expected = b"short" if path == "/tiny.txt" else self.small
                self.assertEqual(r.body, expected, "the upstream's bytes, untouched")
        r = self.get("/image.png")
        self.assertNotIn("vary", r.headers, "a type that is never compressed does not vary")
        r = self.get("/missing.txt")
        self.assertEqual((r.status, r.headers.get("content-encoding")), (404, "gzip"), "an error page with a body is compressed too")
        self.assertEqual(decode("gzip", r.body), self.small)

    def test_head_fields_etag_vary_and_accept_ranges(self):
        r = self.get("/big.txt", accept="gzip")
        self.assertEqual(r.headers.get("etag"), 'W/"v1"', "the compressed form is not byte-identical: the ETag becomes weak")
        self.assertEqual(r.headers.get("vary"), "Accept-Language, Accept-Encoding", "merged with the upstream's Vary")
        self.assertNotIn("accept-ranges", r.headers)
        plain = self.get("/big.txt", accept=None)
        self.assertEqual(plain.headers.get("etag"), '"v1"')
        self.assertEqual(plain.headers.get("accept-ranges"), "bytes")
        self.assertEqual(plain.body, self.big)
        head = self.get("/big.txt", accept="gzip", method="HEAD")
        self.assertEqual(head.headers.get("content-encoding"), "gzip", "HEAD gets the head GET would get")
        self.assertNotIn("content-length", head.headers, "the upstream's length is not the compressed one")

    def test_curl_compressed_gets_the_same_bytes(self):
        for coding in ("gzip", "br", "zstd"):
            with self.subTest(coding=coding):
                out = subprocess.run(["curl", "-s", "--compressed", "-H", f"Accept-Encoding: {coding}", "-w", "\n%{content_type}|%{size_download}",
                                      f"http://127.0.0.1:{self.gw.port}/big.txt"], capture_output=True, timeout=NET_TIMEOUT, check=True)
                body, _, meta = out.stdout.rpartition(b"\n")
                self.assertEqual(body, self.big)
                self.assertLess(int(meta.split(b"|")[1]), len(self.big) // 2, "curl downloaded the compressed form")

    def test_a_stream_is_passed_on_as_it_arrives(self):
        """The upstream sends one event and waits: the client must be able to decode that event
        before the upstream goes on (every upstream read is flushed through the encoder)."""
        s = connect(self.gw.port)
        try:
            s.sendall(b"GET /stream?gate=g1 HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n")
            f = s.makefile("rb")
            status = f.readline()
            self.assertIn(b"200", status)
            fields = {}
            while (line := f.readline()) != b"\r\n":
                k, v = line.decode().split(":", 1)
                fields[k.lower()] = v.strip()
            self.assertEqual(fields.get("content-encoding"), "gzip")
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            seen = b""
            while b"data: one\n\n" not in seen:
                size = int(f.readline(), 16)
                self.assertGreater(size, 0, "the stream ended before the upstream was let go")
                seen += d.decompress(f.read(size))
                f.readline()
            self.up.gates["g1"].set()
            rest = read_response_tail(f)
            self.assertEqual(seen + d.decompress(rest) + d.flush(), b"data: one\n\ndata: two\n\n")
            self.assertTrue(d.eof, "the gzip stream was finished")
        finally:
            s.close()

    def test_http10_client_gets_a_close_delimited_body_when_the_length_is_unknown(self):
        s = connect(self.gw.port)
        s.sendall(b"GET /big.txt HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\nAccept-Encoding: gzip\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertNotIn(b"transfer-encoding", head.lower())
        self.assertIn(b"connection: close", head.lower())
        self.assertEqual(decode("gzip", body), self.big)
        # A small body is filtered whole: its length is known and the connection stays open.
        s = connect(self.gw.port)
        f = s.makefile("rb")
        for _ in range(2):
            s.sendall(b"GET /small.json HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\nAccept-Encoding: br\r\n\r\n")
            r = read_response(f)
            self.assertEqual(decode("br", r.body), self.small)
            self.assertEqual(r.headers.get("connection", "").lower(), "keep-alive")
        s.close()

    def test_upstream_connections_are_reused_after_compressed_answers(self):
        before = self.up.stats.connections
        s = connect(self.gw.port)
        f = s.makefile("rb")
        for path in ("/big.txt", "/small.json", "/big.txt", "/download?bytes=100000&chunked=1&type=text/plain"):
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nAccept-Encoding: zstd\r\n\r\n".encode())
            r = read_response(f)
            self.assertEqual(r.headers.get("content-encoding"), "zstd")
        s.close()
        self.assertLessEqual(self.up.stats.connections - before, 1, "one pooled upstream connection served them all")


def read_response_tail(f):
    """The remaining chunks of a chunked body, raw (after what the caller already read)."""
    parts = []
    while True:
        size = int(f.readline(), 16)
        if size == 0:
            f.readline()
            return b"".join(parts)
        parts.append(f.read(size))
        f.readline()


class BadConfig(unittest.TestCase):
    def check(self, middleware):
        cfg = f"""upstreams:
  - name: u
    discovery: {{ static: [127.0.0.1:9] }}
routes:
  - name: r
    upstream: u
    middleware:
      - compress: {middleware}
"""
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(cfg)
        out = subprocess.run([BIN, "check", f.name], capture_output=True, text=True, timeout=NET_TIMEOUT)
        self.assertNotEqual(out.returncode, 0)
        return f.name, out.stderr + out.stdout

    def test_errors_name_file_line_and_column(self):
        name, err = self.check("{ algorithms: [gzip, deflate] }")
        self.assertRegex(err, rf"{name}:8:\d+: .*'deflate' is not one of zstd, br, gzip")
        _, err = self.check("{ types: [json] }")
        self.assertIn("'json' is not a media type", err)
        _, err = self.check("{ levels: { gzip: 12 } }")
        self.assertRegex(err, r":8:\d+: .*gzip")
        _, err = self.check("{ min_bytes: lots }")
        self.assertIn("min_bytes", err)
        _, err = self.check("{ algoritms: [gzip] }")
        self.assertIn("algorithms", err, "did you mean")


if __name__ == "__main__":
    unittest.main()
