"""WebSocket through gatehouse: a real WebSocket server (Python's `websockets`, Debian's
python3-websockets) as the upstream and a real client, frames both ways; an upgrade on a route
without `websocket: true` is stripped; a non-101 answer stays plain HTTP."""
import asyncio
import hashlib
import os
import re
import signal
import shutil
import socket
import ssl
import struct
import sys
import threading
import time
import unittest

sys.path.append("/usr/lib/python3/dist-packages")  # Debian's package when python3 is another build
import websockets  # noqa: E402

from harness import NET_TIMEOUT, Gatehouse, connect, read_to_close, request, upstream, wait_until  # noqa: E402
from pki import Pki  # noqa: E402


class EchoServer:
    """A WebSocket echo server on its own event loop thread; it prefixes what it echoes."""

    def __init__(self, ssl_context=None):
        self.ssl_context = ssl_context
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        self.ready.wait(20)

    def _run(self):
        asyncio.set_event_loop(self.loop)

        async def echo(ws, path=None):
            async for msg in ws:
                await ws.send(("echo:" + msg) if isinstance(msg, str) else b"echo:" + msg)

        async def start():
            self.server = await websockets.serve(echo, "127.0.0.1", 0, ssl=self.ssl_context)
            self.port = self.server.sockets[0].getsockname()[1]
            self.ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def stop(self):
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)


class WebSocketTunnel(unittest.TestCase):
    def setUp(self):
        self.ws = EchoServer()
        self.addCleanup(self.ws.stop)
        self.http = upstream("http")
        self.addCleanup(self.http.stop)
        self.gw = Gatehouse("""
            routes:
              - name: ws
                match: { path_prefix: /ws }
                upstream: ws
                websocket: true
                tunnel_idle_timeout: 30s
              - name: plain
                upstream: http
        """, upstreams={"ws": [f"127.0.0.1:{self.ws.port}"], "http": [self.http]}).start()
        self.addCleanup(self.gw.stop)

    def test_frames_flow_both_ways_and_the_tunnel_is_counted(self):
        async def talk():
            async with websockets.connect(f"ws://127.0.0.1:{self.gw.port}/ws/chat") as c:
                out = []
                for i in range(50):
                    await c.send(f"hello {i}")
                    out.append(await c.recv())
                await c.send(b"\x00\x01binary" * 1000)
                out.append(await c.recv())
                _, text = self.gw.admin("GET", "/metrics")
                return out, text
        out, metrics = asyncio.run(talk())
        self.assertEqual(out[:50], [f"echo:hello {i}" for i in range(50)])
        self.assertEqual(out[50], b"echo:" + b"\x00\x01binary" * 1000)
        self.assertIn("gatehouse_tunnels_active 1", metrics)
        self.assertIn('code="101"', self.gw.admin("GET", "/metrics")[1])

    def test_upgrade_on_a_route_without_it_is_plain_http(self):
        r = request(self.gw.port, path="/other", headers={"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                                                          "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        self.assertEqual(r.status, 200)
        import json
        sent = {k.lower(): v for k, v in json.loads(r.body)["headers"]}
        self.assertNotIn("upgrade", sent, "the Upgrade field is stripped")
        self.assertNotEqual(sent.get("connection", "").lower(), "upgrade")

    def test_a_refused_upgrade_stays_http(self):
        # The WebSocket server answers a plain GET (no Upgrade) with an HTTP error: relayed as is.
        r = request(self.gw.port, path="/ws/chat")
        self.assertGreaterEqual(r.status, 400)
        self.assertLess(r.status, 500)


class WebSocketOverTls(unittest.TestCase):
    def test_wss_through_a_tls_listener(self):
        pki = Pki()
        self.addCleanup(shutil.rmtree, pki.dir, True)
        ws = EchoServer()
        self.addCleanup(ws.stop)
        gw = Gatehouse(f"""
            listeners:
              - name: public
                listen: 127.0.0.1:0
                tls: {{ certificates: [{{ cert: {pki.path('local.pem')}, key: {pki.path('local.key')} }}] }}
            routes: [{{ name: ws, upstream: ws, websocket: true }}]
        """, upstreams={"ws": [f"127.0.0.1:{ws.port}"]}).start()
        self.addCleanup(gw.stop)
        ctx = ssl.create_default_context(cafile=pki.path("ca.pem"))

        async def talk():
            async with websockets.connect(f"wss://localhost:{gw.port}/chat", ssl=ctx) as c:
                got = []
                for i in range(20):  # replies interleave with sends: reads and writes share the TLS session
                    await c.send("x" * (i * 997))
                    got.append(await c.recv())
                return got
        got = asyncio.run(talk())
        self.assertEqual(got, ["echo:" + "x" * (i * 997) for i in range(20)])

    def test_through_a_tls_upstream(self):
        # The upstream speaks wss: gatehouse verifies it against the test CA and tunnels inside TLS.
        pki = Pki()
        self.addCleanup(shutil.rmtree, pki.dir, True)
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(pki.path("local.pem"), pki.path("local.key"))
        ws = EchoServer(server_ctx)
        self.addCleanup(ws.stop)
        gw = Gatehouse(f"""
            routes: [{{ name: ws, upstream: ws, websocket: true }}]
            upstreams:
              - {{ name: ws, discovery: {{ static: ["127.0.0.1:{ws.port}"] }}, tls: {{ sni: localhost, ca: {pki.path('ca.pem')} }} }}
        """).start()
        self.addCleanup(gw.stop)

        async def talk():
            async with websockets.connect(f"ws://127.0.0.1:{gw.port}/chat") as c:
                got = []
                for i in range(20):
                    await c.send(b"y" * (i * 1499))
                    got.append(await c.recv())
                return got
        got = asyncio.run(talk())
        self.assertEqual(got, [b"echo:" + b"y" * (i * 1499) for i in range(20)])


class WebSocketDrain(unittest.TestCase):
    def test_a_drain_lets_a_tunnel_work_then_closes_it_at_the_timeout(self):
        ws = EchoServer()
        self.addCleanup(ws.stop)
        gw = Gatehouse("""
            drain: { timeout: 1500ms }
            routes: [{ name: ws, upstream: ws, websocket: true }]
        """, upstreams={"ws": [f"127.0.0.1:{ws.port}"]}).start()
        self.addCleanup(gw.stop)

        async def talk():
            async with websockets.connect(f"ws://127.0.0.1:{gw.port}/chat", ping_interval=None) as c:
                await c.send("before")
                first = await c.recv()
                gw.signal(signal.SIGTERM)
                await asyncio.get_running_loop().run_in_executor(None, gw.wait_for_log, r"worker \d draining")
                await c.send("during")  # the tunnel is in flight: it keeps working while the drain runs
                second = await c.recv()
                try:  # then the drain timeout cuts it: the connection closes without any send of ours
                    await asyncio.wait_for(c.recv(), 20)
                    closed = False
                except websockets.ConnectionClosed:
                    closed = True
                return first, second, closed
        first, second, closed = asyncio.run(talk())
        self.assertEqual((first, second), ("echo:before", "echo:during"))
        self.assertTrue(closed)
        self.assertEqual(gw.wait(), 0)
        self.assertTrue(gw.has_log("drain timeout reached"))


class RawUpgradeServer:
    """An upstream that answers any request with 101 and then runs `behaviour(conn)` on the raw
    socket, one thread per connection: the tunnel's edge cases, byte by byte."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.threads = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, conn):
        conn.settimeout(NET_TIMEOUT)
        head = b""
        while b"\r\n\r\n" not in head:
            b = conn.recv(4096)
            if not b:
                conn.close()
                return
            head += b
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n")
        try:
            self.behaviour(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self):
        self.listener.close()


def open_tunnel(port):
    """A client socket through gatehouse's 101: (socket, bytes that came behind the 101)."""
    s = connect(port)
    s.sendall(b"GET /t HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got:
        b = s.recv(4096)
        if not b:
            raise AssertionError("closed before the 101: %r" % got)
        got += b
    head, rest = got.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s, rest


def tunnels_active(gw):
    _, text = gw.admin("GET", "/metrics")
    return int(re.search(r"^gatehouse_tunnels_active (\d+)", text, re.M).group(1))


class TunnelEdges(unittest.TestCase):
    """Plain tunnels move their bytes inside the reactor's operations (src/http1/plain_tunnel.cpp): backpressure,
    hang-ups that come with the last bytes, idle time and many tunnels at once."""

    def gateway(self, behaviour, extra=""):
        up = RawUpgradeServer(behaviour)
        self.addCleanup(up.stop)
        gw = Gatehouse(f"""
            routes: [{{ name: t, upstream: raw, upgrade: [test]{extra} }}]
        """, upstreams={"raw": [f"127.0.0.1:{up.port}"]}).start()
        self.addCleanup(gw.stop)
        return gw

    @staticmethod
    def echo(conn):
        while True:
            b = conn.recv(65536)
            if not b:
                return
            conn.sendall(b)

    def test_megabytes_both_ways_arrive_whole_through_full_buffers(self):
        gw = self.gateway(self.echo)
        s, rest = open_tunnel(gw.port)
        data = os.urandom(24 << 20)  # far more than every socket buffer on the way: sends block, EPOLLOUT resumes
        sent = threading.Thread(target=s.sendall, args=(data,))
        sent.start()
        got = bytearray(rest)
        while len(got) < len(data):
            b = s.recv(1 << 20)
            self.assertTrue(b, "closed after %d of %d bytes" % (len(got), len(data)))
            got += b
        sent.join()
        self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(data).hexdigest())
        s.close()
        self.assertTrue(wait_until(lambda: tunnels_active(gw) == 0))

    def test_last_bytes_with_a_fin_or_a_reset_are_not_waited_on(self):
        def answer_and_close(conn):
            conn.recv(100)
            conn.sendall(b"last words")
            conn.close()

        def answer_and_reset(conn):
            conn.recv(100)
            conn.sendall(b"x")
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

        # The tunnel idles out after an hour by default: a missed hang-up fails NET_TIMEOUT.
        for behaviour, want in ((answer_and_close, b"last words"), (answer_and_reset, None)):
            gw = self.gateway(behaviour)
            for _ in range(20):
                s, rest = open_tunnel(gw.port)
                s.sendall(b"go")
                got = rest + read_to_close(s)  # raises socket.timeout if the close never comes
                if want is not None:
                    self.assertEqual(got, want)
                s.close()
            self.assertTrue(wait_until(lambda: tunnels_active(gw) == 0))

    def test_a_client_close_reaches_the_upstream(self):
        closed = threading.Event()

        def wait_for_eof(conn):
            while conn.recv(100):
                pass
            closed.set()

        gw = self.gateway(wait_for_eof)
        s, _ = open_tunnel(gw.port)
        s.sendall(b"hello")
        s.close()
        self.assertTrue(closed.wait(NET_TIMEOUT))

    def test_an_idle_tunnel_closes_at_tunnel_idle_timeout_and_not_before(self):
        gw = self.gateway(self.echo, ", tunnel_idle_timeout: 2s")
        s, _ = open_tunnel(gw.port)
        # Traffic keeps it open past the timeout: one byte each way every 0.5 s for 3 s.
        for i in range(6):
            time.sleep(0.5)
            s.sendall(b"%d" % i)
            self.assertEqual(s.recv(10), b"%d" % i)
        quiet_since = time.monotonic()
        self.assertEqual(read_to_close(s), b"")
        waited = time.monotonic() - quiet_since
        self.assertGreaterEqual(waited, 1.9)  # not before (the deadline is coarse: a tick early at most)
        self.assertLess(waited, NET_TIMEOUT)
        self.assertTrue(wait_until(lambda: tunnels_active(gw) == 0))

    def test_two_hundred_tunnels_at_once_keep_their_bytes_apart(self):
        gw = self.gateway(self.echo)
        socks = [open_tunnel(gw.port)[0] for _ in range(200)]
        self.assertEqual(tunnels_active(gw), 200)
        for round_ in range(3):
            for i, s in enumerate(socks):
                s.sendall(b"<%d:%d>" % (i, round_))
            for i, s in enumerate(socks):
                want = b"<%d:%d>" % (i, round_)
                got = b""
                while len(got) < len(want):
                    got += s.recv(100)
                self.assertEqual(got, want)
        for s in socks:
            s.close()
        self.assertTrue(wait_until(lambda: tunnels_active(gw) == 0))


def ws_frame(payload, opcode=1):
    """A client's WebSocket frame (masked, RFC 6455 §5.2)."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_parse(buf):
    """A server's frame from the front of buf: (opcode, payload, rest), or None while incomplete."""
    if len(buf) < 2:
        return None
    n, at = buf[1] & 0x7F, 2
    if n == 126:
        n, at = struct.unpack(">H", buf[2:4])[0], 4
    elif n == 127:
        n, at = struct.unpack(">Q", buf[2:10])[0], 10
    if len(buf) < at + n:
        return None
    return buf[0] & 0x0F, buf[at:at + n], buf[at + n:]


class H2WebSocket:
    """One WebSocket over an HTTP/2 stream (RFC 8441), on an H2Client connection."""

    def __init__(self, client, path="/ws/chat"):
        self.c, self.buf = client, b""
        while 8 not in client.remote_settings:  # SETTINGS_ENABLE_CONNECT_PROTOCOL
            if not client.pump():
                raise ConnectionError("closed before the server's SETTINGS")
        self.sid = client.send_request("CONNECT", path, headers={":protocol": "websocket", "sec-websocket-version": "13"}, end=False)
        self.st = client.streams[self.sid]
        while self.st["headers"] is None and self.st["reset"] is None and not self.st["ended"]:
            if not client.pump():
                break

    @property
    def status(self):
        return int(self.st["headers"][":status"]) if self.st["headers"] else None

    def send(self, payload, opcode=1):
        self.c.send_body(self.sid, ws_frame(payload, opcode), end=False)  # as the windows allow

    def recv(self):
        while True:
            self.buf += b"".join(self.st["data"])
            self.st["data"].clear()
            got = ws_parse(self.buf)
            if got:
                self.buf = got[2]
                return got[1]
            if self.st["ended"] or self.st["reset"] is not None or not self.c.pump():
                return None


class HalfCloseTlsUpstream:
    """A TLS server that answers a WebSocket Upgrade with its 101, echoes what it reads until the
    client's side ends (close_notify, then the TCP half-close), then sends b"bye" and closes: it
    shows whether the end of the client's stream reached the upstream."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(raw,), daemon=True).start()

    def _one(self, raw):
        import base64
        try:
            c = self.ctx.wrap_socket(raw, server_side=True)
            head = b""
            while b"\r\n\r\n" not in head:
                head += c.recv(4096)
            key = re.search(rb"(?i)sec-websocket-key: *(\S+)", head).group(1)
            accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
            c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            while True:
                try:
                    got = c.recv(65536)
                except ssl.SSLEOFError:
                    got = b""
                if not got:
                    break
                c.sendall(got)
            c.sendall(b"bye")
            c.unwrap().close()  # its close_notify: a clean end the tunnel turns into END_STREAM
        except (OSError, AttributeError):
            raw.close()

    def stop(self):
        self.sock.close()


class WebSocketOverHttp2(unittest.TestCase):
    """RFC 8441: the client's extended CONNECT on an HTTP/2 stream, tunnelled to the upstream as an
    HTTP/1.1 Upgrade; the stream's DATA frames carry the WebSocket frames both ways."""

    @classmethod
    def setUpClass(cls):
        sys.path.append(os.path.dirname(__file__))
        cls.ws = EchoServer()
        cls.addClassCleanup(cls.ws.stop)
        cls.http = upstream("http")
        cls.addClassCleanup(cls.http.stop)
        cls.gw = Gatehouse("""
            listeners:
              - { name: public, listen: 127.0.0.1:0 }
              - { name: nows, listen: 127.0.0.1:0, http2: { websocket: false } }
            routes:
              - { name: ws, match: { path_prefix: /ws }, upstream: ws, websocket: true, tunnel_idle_timeout: 30s }
              - { name: notws, match: { path_prefix: /http-ws }, upstream: http, websocket: true }
              - { name: plain, upstream: http }
        """, upstreams={"ws": [f"127.0.0.1:{cls.ws.port}"], "http": [cls.http]}).start()
        cls.addClassCleanup(cls.gw.stop)
        cls.port = cls.gw.ports["public"]

    def client(self, port=None):
        from h2client import H2Client
        c = H2Client(port or self.port)
        self.addCleanup(c.close)
        return c

    def test_frames_flow_both_ways_and_the_tunnel_is_counted(self):
        c = self.client()
        ws = H2WebSocket(c)
        self.assertEqual(ws.status, 200)
        self.assertNotIn("sec-websocket-accept", ws.st["headers"])
        for i in range(20):
            ws.send(b"hello %d" % i)
            self.assertEqual(ws.recv(), b"echo:hello %d" % i)
        big = b"\x00\x01binary" * 20000  # 200 KB: more than the stream's windows, both ways
        ws.send(big, opcode=2)
        self.assertEqual(ws.recv(), b"echo:" + big)
        self.assertEqual(tunnels_active(self.gw), 1)
        # A plain request on the same connection goes on beside the tunnel.
        self.assertEqual(c.request("GET", "/plain").status, 200)
        # The client's close frame, then END_STREAM: the server closes, the stream ends.
        ws.send(struct.pack(">H", 1000), opcode=8)
        c.conn.end_stream(ws.sid)
        c.flush()
        while ws.recv() is not None:
            pass
        self.assertTrue(ws.st["ended"] or ws.st["reset"] is not None)
        self.assertTrue(wait_until(lambda: tunnels_active(self.gw) == 0))
        # Counted as what the client sent and got: CONNECT, 200 (the HTTP/1 Upgrade is GET, 101).
        line = re.compile(r'^gatehouse_http_requests_total\{code="200",method="CONNECT",protocol="HTTP/2",route="ws"\} [1-9]', re.M)
        self.assertTrue(wait_until(lambda: line.search(self.gw.admin("GET", "/metrics")[1])))

    def test_two_websockets_on_one_connection_keep_their_frames_apart(self):
        c = self.client()
        a, b = H2WebSocket(c), H2WebSocket(c)
        self.assertEqual((a.status, b.status), (200, 200))
        a.send(b"to a")
        b.send(b"to b")
        self.assertEqual(b.recv(), b"echo:to b")
        self.assertEqual(a.recv(), b"echo:to a")

    def test_a_route_without_websocket_refuses_the_connect(self):
        ws = H2WebSocket(self.client(), path="/other")
        self.assertEqual(ws.status, 403)

    def test_an_upstream_that_does_not_switch_is_a_502(self):
        ws = H2WebSocket(self.client(), path="/http-ws/x")  # a plain HTTP server: it answers the GET with a 200
        self.assertEqual(ws.status, 502)

    def test_the_clients_end_of_stream_reaches_a_tls_upstream(self):
        # END_STREAM half-closes the upstream side of the tunnel: over TLS with close_notify (the
        # upstream may still answer), so the tunnel does not wait for the idle timeout.
        pki = Pki()
        self.addCleanup(shutil.rmtree, pki.dir, True)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki.path("local.pem"), pki.path("local.key"))
        up = HalfCloseTlsUpstream(ctx)
        self.addCleanup(up.stop)
        gw = Gatehouse(f"""
            routes: [{{ name: ws, upstream: ws, websocket: true, tunnel_idle_timeout: 60s }}]
            upstreams:
              - {{ name: ws, discovery: {{ static: ["127.0.0.1:{up.port}"] }}, tls: {{ sni: localhost, ca: {pki.path('ca.pem')} }} }}
        """).start()
        self.addCleanup(gw.stop)
        c = self.client(gw.port)
        ws = H2WebSocket(c, path="/t")
        self.assertEqual(ws.status, 200)
        c.send_body(ws.sid, b"ping", end=True)
        got = b""
        while not ws.st["ended"] and ws.st["reset"] is None and c.pump():
            got += b"".join(ws.st["data"])
            ws.st["data"].clear()
        got += b"".join(ws.st["data"])
        self.assertEqual(got, b"pingbye")
        self.assertTrue(ws.st["ended"])

    def test_a_listener_can_turn_it_off(self):
        c = self.client(self.gw.ports["nows"])
        while not c.remote_settings:
            self.assertTrue(c.pump())
        self.assertEqual(c.remote_settings.get(8, 0), 0)


if __name__ == "__main__":
    unittest.main()
