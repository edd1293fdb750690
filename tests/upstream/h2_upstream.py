"""An HTTP/2 test upstream (h2c by prior knowledge, or h2 over TLS with ALPN) on python3-h2 and
asyncio, for the tests of gatehouse's HTTP/2 upstream pools. It records what it saw (connections,
streams, resets, pings, the most streams open at once on one connection) so that tests assert on
the upstream's own view, and events they can wait for.

Paths:
  /echo               the request as JSON: method, path, authority, headers, body, connection id
  /slow?ms=N          the answer after N ms (for concurrency)
  /stream?n=N&ms=M    N chunks of "chunk i\\n", M ms apart, then trailers x-chunks: N
  /trailers           a body and trailers (grpc-status: 0, grpc-message: ok)
  /status/NNN         that status, no body
  /duplex             the response head at once, then every DATA chunk echoed back as it comes
  /refuse-once?key=K  RST_STREAM REFUSED_STREAM the first time K is seen, then /echo
  /refuse-early?key=K RST_STREAM REFUSED_STREAM at the first DATA the first time K is seen (a
                      body still streaming), then /echo
  /reject             413 at once, before any of the body, then RST_STREAM NO_ERROR (stop sending)
  /goaway             answers, and sends GOAWAY (last stream id = this one) on its connection
  /reset              a head and one chunk, then RST_STREAM INTERNAL_ERROR
  /hold               never answers (until the stream is reset: counted in resets)
"""
import asyncio
import json
import os
import ssl
import sys
import threading
import urllib.parse

sys.path.append("/usr/lib/python3/dist-packages")
import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.errors  # noqa: E402
import h2.events  # noqa: E402
import h2.settings  # noqa: E402


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.connections = 0
        self.streams = 0
        self.resets = 0
        self.pings = 0
        self.max_open = 0
        self.refused = {}
        self.requests = []

    def bump(self, name, n=1):
        with self.cond:
            setattr(self, name, getattr(self, name) + n)
            self.cond.notify_all()

    def wait(self, predicate, timeout=20):
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self), timeout)


class Connection:
    def __init__(self, server, reader, writer, conn_id):
        self.server = server
        self.reader = reader
        self.writer = writer
        self.id = conn_id
        cfg = h2.config.H2Configuration(client_side=False, header_encoding="utf-8", validate_inbound_headers=True)
        self.h2 = h2.connection.H2Connection(config=cfg)
        self.bodies = {}
        self.heads = {}
        self.trailers = {}
        self.duplex = set()
        self.tasks = set()
        self.flow = {}  # stream id -> Event set when the window opens

    async def run(self):
        self.h2.initiate_connection()
        if self.server.max_streams:
            self.h2.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.server.max_streams})
        self.flush()
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                for ev in self.h2.receive_data(data):
                    self.event(ev)
                self.flush()
        except (ConnectionError, h2.exceptions.ProtocolError):
            pass
        finally:
            for t in self.tasks:
                t.cancel()
            self.writer.close()

    def flush(self):
        data = self.h2.data_to_send()
        if data:
            self.writer.write(data)

    def open_streams(self):
        return len(self.heads)

    def event(self, ev):
        st = self.server.stats
        if isinstance(ev, h2.events.RequestReceived):
            self.heads[ev.stream_id] = dict(ev.headers)
            self.bodies[ev.stream_id] = bytearray()
            st.bump("streams")
            with st.cond:
                st.max_open = max(st.max_open, self.open_streams())
            path = self.heads[ev.stream_id][":path"]
            if path == "/reject":
                self.h2.send_headers(ev.stream_id, [(":status", "413"), ("content-length", "0")], end_stream=True)
                self.h2.reset_stream(ev.stream_id, h2.errors.ErrorCodes.NO_ERROR)
                self.finish(ev.stream_id)
                return
            if path.startswith("/duplex"):
                self.duplex.add(ev.stream_id)
                self.h2.send_headers(ev.stream_id, [(":status", "200"), ("content-type", "application/octet-stream")])
        elif isinstance(ev, h2.events.DataReceived):
            self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            if self.refuse_early(ev.stream_id):
                return
            if ev.stream_id in self.duplex:
                self.h2.send_data(ev.stream_id, ev.data)
            elif ev.stream_id in self.bodies:
                self.bodies[ev.stream_id] += ev.data
        elif isinstance(ev, h2.events.TrailersReceived):
            self.trailers[ev.stream_id] = dict(ev.headers)
        elif isinstance(ev, h2.events.StreamEnded):
            if ev.stream_id in self.duplex:
                self.h2.end_stream(ev.stream_id)
                self.finish(ev.stream_id)
            else:
                self.start(ev.stream_id)
        elif isinstance(ev, h2.events.StreamReset):
            st.bump("resets")
            self.finish(ev.stream_id)
        elif isinstance(ev, h2.events.PingReceived):
            st.bump("pings")
        elif isinstance(ev, h2.events.WindowUpdated):
            for e in self.flow.values():
                e.set()

    def refuse_early(self, sid):
        head = self.heads.get(sid)
        url = urllib.parse.urlsplit(head[":path"]) if head else None
        if not url or url.path != "/refuse-early":
            return False
        key = dict(urllib.parse.parse_qsl(url.query)).get("key", "")
        st = self.server.stats
        with st.cond:
            if key in st.refused:
                return False
            st.refused[key] = 1
            st.cond.notify_all()
        self.h2.reset_stream(sid, h2.errors.ErrorCodes.REFUSED_STREAM)
        self.finish(sid)
        return True

    def finish(self, sid):
        self.heads.pop(sid, None)
        self.bodies.pop(sid, None)
        self.duplex.discard(sid)

    def start(self, sid):
        t = asyncio.ensure_future(self.answer(sid))
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)

    async def send_body(self, sid, data, end=True):
        while data:
            window = self.h2.local_flow_control_window(sid)
            if window <= 0:
                ev = self.flow.setdefault(sid, asyncio.Event())
                ev.clear()
                await ev.wait()
                continue
            n = min(window, len(data), self.h2.max_outbound_frame_size)
            self.h2.send_data(sid, data[:n])
            data = data[n:]
            self.flush()
        if end:
            self.h2.end_stream(sid)
        self.flush()

    async def answer(self, sid):
        head = self.heads.get(sid)
        if head is None:
            return
        st = self.server.stats
        url = urllib.parse.urlsplit(head[":path"])
        q = dict(urllib.parse.parse_qsl(url.query))
        path = url.path
        with st.cond:
            st.requests.append({"path": head[":path"], "conn": self.id})
            st.cond.notify_all()
        try:
            if path == "/hold":
                await asyncio.sleep(3600)
            if path == "/slow":
                await asyncio.sleep(int(q.get("ms", "100")) / 1000)
            if path == "/refuse-once":
                key = q.get("key", "")
                with st.cond:
                    first = key not in st.refused
                    st.refused[key] = st.refused.get(key, 0) + 1
                if first:
                    self.h2.reset_stream(sid, h2.errors.ErrorCodes.REFUSED_STREAM)
                    self.flush()
                    self.finish(sid)
                    return
            if path.startswith("/status/"):
                self.h2.send_headers(sid, [(":status", path[8:]), ("content-length", "0")], end_stream=True)
            elif path == "/stream":
                self.h2.send_headers(sid, [(":status", "200"), ("content-type", "text/plain")])
                self.flush()
                n = int(q.get("n", "3"))
                for i in range(n):
                    await self.send_body(sid, f"chunk {i}\n".encode(), end=False)
                    await asyncio.sleep(int(q.get("ms", "0")) / 1000)
                self.h2.send_headers(sid, [("x-chunks", str(n))], end_stream=True)
            elif path == "/trailers":
                self.h2.send_headers(sid, [(":status", "200"), ("content-type", "application/grpc")])
                await self.send_body(sid, b"\x00\x00\x00\x00\x02hi", end=False)
                self.h2.send_headers(sid, [("grpc-status", "0"), ("grpc-message", "ok")], end_stream=True)
            elif path == "/reset":
                self.h2.send_headers(sid, [(":status", "200"), ("content-type", "text/plain")])
                await self.send_body(sid, b"partial", end=False)
                self.h2.reset_stream(sid, h2.errors.ErrorCodes.INTERNAL_ERROR)
            else:
                body = json.dumps({
                    "method": head.get(":method"), "path": head.get(":path"), "authority": head.get(":authority"),
                    "scheme": head.get(":scheme"),
                    "headers": {k: v for k, v in head.items() if not k.startswith(":")},
                    "body": bytes(self.bodies.get(sid, b"")).decode("latin-1"),
                    "trailers": self.trailers.get(sid, {}), "connection": self.id, "stream": sid,
                }).encode()
                self.h2.send_headers(sid, [(":status", "200"), ("content-type", "application/json"),
                                           ("content-length", str(len(body)))])
                await self.send_body(sid, body)
                if path == "/goaway":
                    self.h2.close_connection(last_stream_id=sid)
            self.flush()
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, ConnectionError):
            pass
        finally:
            self.flow.pop(sid, None)
            self.finish(sid)


class H2Upstream:
    """Serves on a free loopback port in a thread of its own. `tls`: (cert, key) files (ALPN h2,
    or `alpn` instead); `max_streams`: the SETTINGS_MAX_CONCURRENT_STREAMS it announces."""

    def __init__(self, tls=None, alpn=("h2",), max_streams=None):
        self.tls = tls
        self.alpn = alpn
        self.max_streams = max_streams
        self.stats = Stats()
        self.port = None
        self.loop = None
        self.ready = threading.Event()

    def start(self):
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(20)
        return self

    def _run(self):
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        ctx = None
        if self.tls:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(*self.tls)
            ctx.set_alpn_protocols(list(self.alpn))
        self.next_id = 0

        async def serve(reader, writer):
            self.next_id += 1
            self.stats.bump("connections")
            await Connection(self, reader, writer, self.next_id).run()

        server = self.loop.run_until_complete(asyncio.start_server(serve, "127.0.0.1", 0, ssl=ctx))
        self.server = server
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    def stop(self):
        if self.loop:
            self.loop.call_soon_threadsafe(self.server.close)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(20)
            self.loop.close()


if __name__ == "__main__":
    up = H2Upstream(max_streams=int(os.environ.get("MAX_STREAMS", "0")) or None).start()
    print("READY", up.port, flush=True)
    threading.Event().wait()
