#!/usr/bin/env python3
"""A small HTTP/1.1 test upstream with the behaviours the gateway's tests need.

Paths (any method):
  /echo...              JSON: method, target, headers (list of pairs), body length and text (<= 64 KiB)
  /delay?ms=N           answer after N ms
  /hang                 read the request, never answer
  /reset                close with RST before answering
  /download?bytes=N[&chunked=1[&trailers=1]][&close=1][&type=T][&pattern=1]   N bytes of 'x' or of PATTERN (CL, chunked
                        with or without trailers, or close-delimited)
  /upload               its JSON also has the body's sha256
  /stream?gate=NAME     chunked text/event-stream: one event, then (once the test sets
                        Upstream.gates[NAME]) a second one and the end
  /echo?close_after=1   answer, then close the connection without saying so
  /echo?interim=103,100 send those 1xx interim answers first
  /upload               read the body whatever its size, answer with {"received": N}
  /bad/<kind>           broken responses: cl-te, te-gzip, two-cl, bad-chunk, extra-bytes,
                        truncated, switching, many-headers, no-length
  /jwks.json etc.       files from --static DIR when given
  Upstream.files[path]  (status, body, extra header lines), or a callable(method, headers, query)
                        returning that (plus a threading.Event to wait for before answering)
Anything else behaves as /echo. Counters (connections, requests, raw bytes) are kept in
`Upstream.stats`, and `Upstream.raw` keeps every byte received, for "nothing reached the upstream".
Run standalone: python3 upstream.py --port 9001
"""
import argparse
import asyncio
import http
import json
import socket
import struct
import threading
import urllib.parse
import hashlib

# /download?pattern=1: 256 KiB of bytes counting modulo 251, again and again: a lost, repeated or
# reordered piece anywhere in a long body changes its digest.
PATTERN = bytes(i % 251 for i in range(256 * 1024))


def reason(status):
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class Stats:
    def __init__(self):
        self.connections = 0
        self.tls_resumed = 0  # TLS connections whose handshake resumed a session
        self.requests = 0
        self.open = 0
        self.closed = 0
        self.paths = []
        self.raw = bytearray()
        self.requests_raw = []
        self.health_checks = 0  # GET /healthz (not counted in requests)

    def reset(self):
        self.__init__()


class Upstream:
    def __init__(self, host="127.0.0.1", port=0, name="upstream", ssl_context=None):
        self.host, self.port, self.name = host, port, name
        self.ssl_context = ssl_context  # serve HTTPS when given
        # Close keep-alive connections idle this many seconds (None: never), as Node.js does
        # after 5 s; keep_alive_header also says so in `Keep-Alive: timeout=N`.
        self.idle_close = None
        self.keep_alive_header = False
        self.stats = Stats()
        self.files = {}  # path -> (status, body bytes, extra header lines): served as is
        self.gates = {}  # name -> threading.Event that /stream?gate=name waits for
        # Fault injection (tests of breakers, ejection, retries): `script` is a list of faults the
        # next requests get, one each, in order; `fail_all` a fault every request gets. A fault is
        # a status ("503"), "reset" (RST before answering), "reset_mid" (a head and half the body,
        # then RST), "hang" (never answer) or "slow:MS".
        self.script = []
        self.fail_all = None
        self.health_status = 200  # what GET /healthz answers
        self.cond = threading.Condition()
        self.loop = None
        self.server = None
        self._thread = None
        self._ready = threading.Event()

    # ---- running -------------------------------------------------------------------------
    def start_in_thread(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def _run(self):
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._conn, self.host, self.port, limit=1 << 20, backlog=1024, ssl=self.ssl_context))
        self.port = self.server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()
        self.loop.close()

    def wait_for(self, predicate, timeout=20):
        """Blocks until predicate(stats) holds (notified on every connection and request)."""
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self.stats), timeout)

    def _notify(self):
        with self.cond:
            self.cond.notify_all()

    def refuse(self):
        """Stops listening: new connections are refused until accept_again()."""
        done = threading.Event()
        self.loop.call_soon_threadsafe(lambda: (self.server.close(), done.set()))
        done.wait(5)

    def accept_again(self):
        fut = asyncio.run_coroutine_threadsafe(asyncio.start_server(self._conn, self.host, self.port, limit=1 << 20, backlog=1024, ssl=self.ssl_context),
                                               self.loop)
        self.server = fut.result(5)

    def stop(self):
        if self.loop:
            def _close():
                self.server.close()
                self.loop.stop()
            self.loop.call_soon_threadsafe(_close)
            self._thread.join(5)

    # ---- protocol ------------------------------------------------------------------------
    async def _read_head(self, reader):
        head = await reader.readuntil(b"\r\n\r\n")
        self.stats.raw += head
        return head

    async def _read_body(self, reader, headers, keep=True, sink=None):
        te = headers.get("transfer-encoding", "").lower()
        total = 0
        body = bytearray()
        digest = hashlib.sha256()  # of the whole body: /upload reports it
        self.last_body_sha256 = None
        if te == "chunked":
            while True:
                line = await reader.readuntil(b"\r\n")
                self.stats.raw += line
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while True:
                        t = await reader.readuntil(b"\r\n")
                        self.stats.raw += t
                        if t == b"\r\n":
                            break
                    break
                remaining = size
                while remaining:
                    data = await reader.read(min(remaining, 1 << 20))
                    if not data:
                        raise ConnectionError("eof in chunk")
                    remaining -= len(data)
                    total += len(data)
                    digest.update(data)
                    if len(body) < 65536:
                        body += data[: 65536 - len(body)]
                    if len(self.stats.raw) < (1 << 20):
                        self.stats.raw += data
                crlf = await reader.readexactly(2)
                self.stats.raw += crlf
        else:
            remaining = int(headers.get("content-length", "0") or 0)
            while remaining:
                data = await reader.read(min(remaining, 1 << 20))
                if not data:
                    raise ConnectionError("eof in body")
                remaining -= len(data)
                total += len(data)
                digest.update(data)
                if len(body) < 65536:
                    body += data[: 65536 - len(body)]
                if len(self.stats.raw) < (1 << 20):
                    self.stats.raw += data
        self.last_body_sha256 = digest.hexdigest()
        return total, bytes(body)

    async def _conn(self, reader, writer):
        tls = writer.get_extra_info("ssl_object")
        if tls is not None and tls.session_reused:
            self.stats.tls_resumed += 1
        self.stats.connections += 1
        self.stats.open += 1
        self._notify()
        try:
            while True:
                try:
                    if self.idle_close is not None:
                        head = await asyncio.wait_for(self._read_head(reader), self.idle_close)
                    else:
                        head = await self._read_head(reader)
                except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, asyncio.TimeoutError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, version = lines[0].split(" ", 2)
                pairs = []
                for l in lines[1:]:
                    if not l:
                        continue
                    k, v = l.split(":", 1)
                    pairs.append((k, v.strip()))
                headers = {}
                for k, v in pairs:
                    headers[k.lower()] = v
                if target.startswith("/healthz"):
                    self.stats.health_checks += 1
                    hs = self.health_status
                    writer.write(f"HTTP/1.1 {hs} {reason(hs)}\r\nContent-Length: 0\r\n\r\n".encode())
                    await writer.drain()
                    self._notify()
                    continue
                self.stats.requests += 1
                self.stats.paths.append(target)
                self.stats.requests_raw.append(head)
                self._notify()
                url = urllib.parse.urlsplit(target)
                q = dict(urllib.parse.parse_qsl(url.query))
                path = url.path
                fault = self.script.pop(0) if self.script else self.fail_all
                if fault == "hang":
                    path = "/hang"
                elif fault == "reset":
                    path = "/reset"
                elif fault == "reset_mid":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"z" * 50000)
                    await writer.drain()
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                elif fault and fault.startswith("slow:"):
                    await asyncio.sleep(int(fault[5:]) / 1000)
                elif fault:
                    try:
                        await self._read_body(reader, headers)
                    except (asyncio.IncompleteReadError, ConnectionError):
                        return
                    msg = f"injected {fault}".encode()
                    writer.write(f"HTTP/1.1 {fault} {reason(int(fault))}\r\nContent-Length: {len(msg)}\r\nX-Upstream: {self.name}\r\n\r\n".encode() + msg)
                    await writer.drain()
                    continue
                if path == "/hang":
                    await reader.read()  # never answer; return when the gateway gives up and closes
                    return
                if path == "/reset":
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                try:
                    total, body = await self._read_body(reader, headers)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                if path in self.files:
                    entry = self.files[path]
                    if callable(entry):  # a scripted answer: f(method, headers, query) -> (status, body, extra[, gate])
                        entry = entry(method, headers, q)
                        if len(entry) == 4:
                            await asyncio.get_running_loop().run_in_executor(None, entry[3].wait, 30)
                            entry = entry[:3]
                    status, body, extra = entry
                    if method == "HEAD":
                        writer.write(f"HTTP/1.1 {status} {reason(status)}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode())
                        await writer.drain()
                        continue
                    if status == 304:
                        writer.write(f"HTTP/1.1 304 Not Modified\r\n{extra}\r\n".encode())
                        await writer.drain()
                        continue
                    writer.write(f"HTTP/1.1 {status} {reason(status)}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body)
                    await writer.drain()
                    continue
                if path == "/delay":
                    await asyncio.sleep(int(q.get("ms", "100")) / 1000)
                if "interim" in q:  # /echo?interim=103,102: those 1xx answers first, then the echo
                    for code in q["interim"].split(","):
                        writer.write(f"HTTP/1.1 {code} {reason(int(code))}\r\nLink: </style.css>; rel=preload\r\nConnection: keep-alive\r\n\r\n".encode())
                    await writer.drain()
                if path.startswith("/bad/"):
                    await self._bad(path[5:], writer)
                    return
                if path == "/download":
                    n = int(q.get("bytes", "0"))
                    close = q.get("close") == "1"
                    chunked = q.get("chunked") == "1"
                    hdr = f"HTTP/1.1 200 OK\r\nContent-Type: {q.get('type', 'application/octet-stream')}\r\n"
                    if close:
                        hdr += "Connection: close\r\n"
                    elif chunked:
                        hdr += "Transfer-Encoding: chunked\r\n"
                    else:
                        hdr += f"Content-Length: {n}\r\n"
                    writer.write((hdr + "\r\n").encode())
                    block = PATTERN if q.get("pattern") == "1" else b"x" * (256 * 1024)
                    sent = 0
                    while sent < n:
                        part = block[: min(len(block), n - sent)]
                        if chunked and not close:
                            writer.write(b"%x\r\n" % len(part) + part + b"\r\n")
                        else:
                            writer.write(part)
                        sent += len(part)
                        await writer.drain()
                    if chunked and not close:
                        # &trailers=1: trailers after the last chunk, as a gRPC server sends them
                        tr = b"X-Checksum: sum-%d\r\nGrpc-Status: 0\r\nContent-Type: text/x\r\nContent-Digest: sha-256=:x:\r\n" % n if q.get("trailers") == "1" else b""
                        writer.write(b"0\r\n" + tr + b"\r\n")
                    await writer.drain()
                    if close:
                        writer.close()
                        return
                    continue
                if path == "/stream":
                    gate = self.gates.setdefault(q.get("gate", ""), threading.Event())
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
                    writer.write(b"%x\r\n%s\r\n" % (len(b"data: one\n\n"), b"data: one\n\n"))
                    await writer.drain()
                    await asyncio.get_running_loop().run_in_executor(None, gate.wait, 30)
                    writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(b"data: two\n\n"), b"data: two\n\n"))
                    await writer.drain()
                    continue
                if path == "/upload":
                    payload = json.dumps({"received": total, "sha256": self.last_body_sha256}).encode()
                else:
                    payload = json.dumps({
                        "upstream": self.name,
                        "method": method,
                        "target": target,
                        "path": path,
                        "headers": pairs,
                        "body_length": total,
                        "body": body.decode("latin-1"),
                    }).encode()
                status = int(q.get("status", "200")) if path.startswith("/echo") else 200
                resp = f"HTTP/1.1 {status} {reason(status)}\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\nX-Upstream: {self.name}\r\n"
                if headers.get("connection", "").lower() == "close":
                    resp += "Connection: close\r\n"
                elif self.keep_alive_header and self.idle_close is not None:
                    resp += f"Keep-Alive: timeout={max(1, int(self.idle_close))}\r\n"
                resp += "\r\n"
                if method == "HEAD":
                    writer.write(resp.encode())
                else:
                    writer.write(resp.encode() + payload)
                await writer.drain()
                if headers.get("connection", "").lower() == "close" or q.get("close_after") == "1":
                    # close_after: end a keep-alive connection right after answering, as a server
                    # whose keep-alive timeout fired would; the gateway only finds out on reuse.
                    writer.close()
                    return
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.stats.open -= 1
            self.stats.closed += 1
            self._notify()
            try:
                writer.close()
            except Exception:
                pass

    async def _bad(self, kind, writer):
        responses = {
            "cl-te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "te-gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello",
            "two-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            "bad-chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
            "extra-bytes": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA",
            "truncated": b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"y" * 40010,
            "switching": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            "many-headers": b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"Content-Length: 0\r\n\r\n",
            "no-length": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close",
            "folded": b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n",
            "folded-trailer": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-A: a\r\n b\r\n\r\n",
        }
        writer.write(responses.get(kind, b"garbage\r\n\r\n"))
        await writer.drain()
        if kind != "extra-bytes":
            writer.close()
        else:
            await asyncio.sleep(0.5)
            writer.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9001)
    ap.add_argument("--name", default="demo-upstream")
    a = ap.parse_args()
    u = Upstream(a.host, a.port, a.name)
    print(f"test upstream listening on {a.host}:{a.port}", flush=True)
    u._run()


if __name__ == "__main__":
    main()
