"""WebSocket through gatehouse: a real WebSocket server (Python's `websockets`, Debian's
python3-websockets) as the upstream and a real client, frames both ways; an upgrade on a route
without `websocket: true` is stripped; a non-101 answer stays plain HTTP."""
import asyncio
import signal
import shutil
import ssl
import sys
import threading
import unittest

sys.path.append("/usr/lib/python3/dist-packages")  # Debian's package when python3 is another build
import websockets  # noqa: E402

from harness import Gatehouse, request, upstream  # noqa: E402
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


if __name__ == "__main__":
    unittest.main()
