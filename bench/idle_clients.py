#!/usr/bin/env python3
"""Opens N keep-alive connections to a proxy, sends one request on each and reads its answer,
then leaves them all idle; prints "idle N" and holds them until stdin closes. With --tls each
connection is TLS (no certificate check: the bench makes its own). Used by bench/idle_connections.sh.

--h2: HTTP/2 instead (ALPN h2 with --tls, h2c by prior knowledge without): each connection sends
the client preface and an empty SETTINGS, reads the server's SETTINGS and acknowledges it (as
RFC 9113 §6.5.3 requires), then sends nothing more. --h2-request: also one GET /small on stream 1,
its answer read to the end, before the connection goes idle. Frames are written by hand (the
static HPACK table is enough for one GET), so this needs nothing but Python."""
import argparse, resource, socket, ssl, struct, sys

p = argparse.ArgumentParser()
p.add_argument("port", type=int)
p.add_argument("count", type=int)
p.add_argument("--tls", action="store_true")
p.add_argument("--h2", action="store_true")
p.add_argument("--h2-request", action="store_true")
a = p.parse_args()
a.h2 = a.h2 or a.h2_request
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.count + 1000), hard))
ctx = None
if a.tls:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if a.h2:
        ctx.set_alpn_protocols(["h2"])
conns = []
req = b"GET /small HTTP/1.1\r\nHost: bench\r\n\r\n"


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0)  # preface, SETTINGS (empty)
SETTINGS_ACK = frame(4, 1, 0)
# HEADERS, END_STREAM | END_HEADERS: :method GET, :scheme https/http (static table), :path /small
# and :authority bench (literals with indexed names).
GET = frame(1, 0x5, 1, bytes([0x82, 0x87 if a.tls else 0x86, 0x44, 6]) + b"/small" + bytes([0x41, 5]) + b"bench")


class Frames:
    def __init__(self, s):
        self.s, self.buf = s, b""

    def next(self, i):
        while True:
            if len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) >= 9 + n:
                    hd, self.buf = self.buf[:9 + n], self.buf[9 + n:]
                    return hd[3], hd[4], int.from_bytes(hd[5:9], "big") & 0x7FFFFFFF, hd[9:]
            chunk = self.s.recv(65536)
            if not chunk:
                sys.exit(f"connection {i} closed early")
            self.buf += chunk


def h2_open(s, i):
    if a.tls and s.selected_alpn_protocol() != "h2":
        sys.exit(f"connection {i}: ALPN chose {s.selected_alpn_protocol()!r}, not h2")
    s.sendall(PREFACE)
    f = Frames(s)
    while True:  # the server's SETTINGS (it may send WINDOW_UPDATE and the like around it)
        ftype, flags, _, _ = f.next(i)
        if ftype == 4 and not flags & 1:
            break
        if ftype == 7:
            sys.exit(f"connection {i}: GOAWAY")
    s.sendall(SETTINGS_ACK + (GET if a.h2_request else b""))
    while a.h2_request:  # the answer's HEADERS and DATA on stream 1, up to END_STREAM
        ftype, flags, stream, payload = f.next(i)
        if ftype == 7 or (ftype == 3 and stream == 1):
            sys.exit(f"connection {i}: {'GOAWAY' if ftype == 7 else 'RST_STREAM'}")
        if stream == 1 and ftype in (0, 1) and flags & 1:
            break


for i in range(a.count):
    s = socket.create_connection(("127.0.0.1", a.port))
    if ctx:
        s = ctx.wrap_socket(s, server_hostname="bench")
    if a.h2:
        h2_open(s, i)
        conns.append(s)
        continue
    s.sendall(req)
    got = b""
    while b"\r\n\r\n" not in got or not got.endswith(b"hello"):
        chunk = s.recv(4096)
        if not chunk:
            sys.exit(f"connection {i} closed early: {got[:80]!r}")
        got += chunk
    conns.append(s)
print(f"idle {len(conns)}", flush=True)
sys.stdin.read()
