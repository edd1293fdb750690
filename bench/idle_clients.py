#!/usr/bin/env python3
"""Opens N keep-alive connections to a proxy, sends one request on each and reads its answer,
then leaves them all idle; prints "idle N" and holds them until stdin closes. With --tls each
connection is TLS (no certificate check: the bench makes its own). Used by bench/idle_connections.sh."""
import argparse, resource, selectors, socket, ssl, sys

p = argparse.ArgumentParser()
p.add_argument("port", type=int)
p.add_argument("count", type=int)
p.add_argument("--tls", action="store_true")
a = p.parse_args()
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.count + 1000), hard))
ctx = None
if a.tls:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
conns = []
req = b"GET /small HTTP/1.1\r\nHost: bench\r\n\r\n"
for i in range(a.count):
    s = socket.create_connection(("127.0.0.1", a.port))
    if ctx:
        s = ctx.wrap_socket(s, server_hostname="bench")
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
