"""1 GiB up and 1 GiB down, Content-Length and chunked, with the gateway's peak RSS checked:
bodies stream through fixed buffers with backpressure, so memory stays flat. Every body is a
pattern whose SHA-256 is compared end to end: a lost, repeated or reordered piece fails."""
import hashlib
import os
import sys
import unittest

from harness import GatewayTestCase, connect, read_response

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "upstream"))
from upstream import PATTERN  # noqa: E402  (the upstream's /download?pattern=1 block)

GIB = 1 << 30
UP_BLOCK = bytes(i % 251 for i in range(1 << 20))  # what upload() sends, 1 MiB at a time


def digest_of(block, total):
    h = hashlib.sha256()
    for _ in range(total // len(block)):
        h.update(block)
    return h.hexdigest()
RSS_LIMIT_KB = 64 * 1024  # generous: the steady state is a few MiB
if os.environ.get("GATEHOUSE_SANITIZED") == "1":
    RSS_LIMIT_KB = 1024 * 1024  # ASan's quarantine and shadow memory, not ours; still bounded


class LargeBodies(GatewayTestCase):
    config = """
        limits: { max_body_bytes: 2GiB, request_timeout: 60s, body_timeout: 60s }
        routes: [{ name: all, upstream: u }]
    """

    def upload(self, chunked):
        s = connect(self.gw.port)
        block = UP_BLOCK
        if chunked:
            s.sendall(b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
            frame = b"%x\r\n" % len(block) + block + b"\r\n"
            for _ in range(GIB // len(block)):
                s.sendall(frame)
            s.sendall(b"0\r\n\r\n")
        else:
            s.sendall(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % GIB)
            for _ in range(GIB // len(block)):
                s.sendall(block)
        r = read_response(s.makefile("rb"))
        s.close()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["received"], GIB)
        self.assertEqual(r.json()["sha256"], digest_of(UP_BLOCK, GIB))

    def download(self, chunked):
        s = connect(self.gw.port)
        s.sendall(b"GET /download?pattern=1&bytes=%d%s HTTP/1.1\r\nHost: a\r\n\r\n" % (GIB, b"&chunked=1" if chunked else b""))
        h = hashlib.sha256()
        f = s.makefile("rb", buffering=1 << 20)
        status = f.readline()
        self.assertIn(b" 200 ", status)
        headers = {}
        while (line := f.readline()) != b"\r\n":
            k, v = line.decode().split(":", 1)
            headers[k.lower()] = v.strip()
        total = 0
        if chunked:
            self.assertEqual(headers["transfer-encoding"], "chunked")
            while True:
                size = int(f.readline().split(b";")[0], 16)
                if size == 0:
                    f.readline()
                    break
                while size:
                    b = f.read(min(size, 1 << 20))
                    h.update(b)
                    size -= len(b)
                    total += len(b)
                f.readline()
        else:
            self.assertEqual(int(headers["content-length"]), GIB)
            while total < GIB:
                b = f.read(min(1 << 20, GIB - total))
                if not b:
                    break
                h.update(b)
                total += len(b)
        s.close()
        self.assertEqual(total, GIB)
        self.assertEqual(h.hexdigest(), digest_of(PATTERN, GIB))

    def test_1gib_content_length_upload(self):
        self.upload(chunked=False)
        self.assertLess(self.gw.rss_peak_kb(), RSS_LIMIT_KB)

    def test_1gib_chunked_upload(self):
        self.upload(chunked=True)
        self.assertLess(self.gw.rss_peak_kb(), RSS_LIMIT_KB)

    def test_1gib_content_length_download(self):
        self.download(chunked=False)
        self.assertLess(self.gw.rss_peak_kb(), RSS_LIMIT_KB)

    def test_1gib_chunked_download(self):
        self.download(chunked=True)
        self.assertLess(self.gw.rss_peak_kb(), RSS_LIMIT_KB)


if __name__ == "__main__":
    unittest.main()
