"""A small HTTP/2 client for the tests, on Debian's python3-h2 (an implementation independent of
nghttp2): prior knowledge (h2c) or TLS with ALPN h2. Responses come back as harness.Response."""
import socket
import ssl
import sys

sys.path.append("/usr/lib/python3/dist-packages")  # Debian's python3-h2 when python3 is another build

import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402
import h2.exceptions  # noqa: E402
import h2.settings  # noqa: E402

NET_TIMEOUT = 20


class StreamReset(Exception):
    def __init__(self, code):
        super().__init__(f"stream reset with error code {code}")
        self.code = code


class ConnectionEnded(Exception):
    def __init__(self, code, last_stream_id):
        super().__init__(f"GOAWAY error code {code}, last stream {last_stream_id}")
        self.code, self.last_stream_id = code, last_stream_id


class H2Client:
    def __init__(self, port, tls=None, server_hostname="test.local", validate=True, window=None, rcvbuf=None, session=None):
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: it sets the TCP window
        raw.settimeout(NET_TIMEOUT)
        raw.connect(("127.0.0.1", port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            tls.set_alpn_protocols(["h2"])
            raw = tls.wrap_socket(raw, server_hostname=server_hostname, session=session)
            if raw.selected_alpn_protocol() != "h2":
                raise RuntimeError(f"ALPN chose {raw.selected_alpn_protocol()!r}")
        self.sock = raw
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                        validate_outbound_headers=validate, normalize_outbound_headers=validate,
                                        validate_inbound_headers=False)
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.initiate_connection()
        if window:
            self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.flush()
        self.streams = {}  # id -> {"headers", "data", "trailers", "ended", "reset", "interims"}
        self.goaway = None
        self.remote_settings = {}

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send_request(self, method="GET", path="/", headers=None, body=None, host="test.local", end=True, scheme="http"):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", scheme), (":authority", host), (":path", path)]
        hdrs += [(k.lower() if isinstance(k, str) else k, v) for k, v in (headers or {}).items()]
        self.streams[sid] = {"headers": None, "data": [], "trailers": {}, "ended": False, "reset": None, "interims": []}
        self.conn.send_headers(sid, hdrs, end_stream=end and body is None)
        self.flush()
        if body is not None:
            self.send_body(sid, body, end=end)
        return sid

    def send_body(self, sid, body, end=True):
        """Sends as the peer's windows allow, reading frames (WINDOW_UPDATE) while it waits."""
        view = memoryview(body)
        while view:
            room = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size, len(view))
            if room <= 0:
                self.pump()
                st = self.streams[sid]
                if st["reset"] is not None or st["ended"]:
                    return  # answered (a 413, ...) before the body was all sent
                continue
            self.conn.send_data(sid, bytes(view[:room]))
            view = view[room:]
            self.flush()
        if end:
            self.conn.end_stream(sid)
            self.flush()

    def pump(self):
        """Reads once and handles what came; False when the connection closed."""
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            data = b""
        if not data:
            return False
        for ev in self.conn.receive_data(self.without_goaway(data)):
            self.handle(ev)
        self.flush()
        return True

    def without_goaway(self, data):
        """The server's frames minus GOAWAY, which is noted here: python-h2 closes its state machine on a
        GOAWAY and would refuse the frames of the streams the server still finishes (RFC 9113 §6.8)."""
        self.inbuf = getattr(self, "inbuf", b"") + data
        out = []
        while len(self.inbuf) >= 9:
            n = int.from_bytes(self.inbuf[:3], "big")
            if len(self.inbuf) < 9 + n:
                break
            fr, self.inbuf = self.inbuf[:9 + n], self.inbuf[9 + n:]
            if fr[3] == 7:
                self.goaway = (int.from_bytes(fr[13:17], "big"), int.from_bytes(fr[9:13], "big") & 0x7FFFFFFF)
                continue
            out.append(fr)
        return b"".join(out)

    def handle(self, ev):
        st = self.streams.get(getattr(ev, "stream_id", None))
        if isinstance(ev, h2.events.ResponseReceived):
            st["headers"] = dict(ev.headers)
        elif isinstance(ev, h2.events.InformationalResponseReceived):
            st["interims"].append(dict(ev.headers))
        elif isinstance(ev, h2.events.DataReceived):
            st["data"].append(ev.data)
            self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.TrailersReceived):
            st["trailers"] = dict(ev.headers)
        elif isinstance(ev, h2.events.StreamEnded):
            st["ended"] = True
        elif isinstance(ev, h2.events.StreamReset):
            if st is not None:
                st["reset"] = ev.error_code
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.goaway = (ev.error_code, ev.last_stream_id)
        elif isinstance(ev, h2.events.RemoteSettingsChanged):
            for k, v in ev.changed_settings.items():
                self.remote_settings[k] = v.new_value

    def response(self, sid):
        """Waits for the stream's end; a harness.Response, or StreamReset."""
        from harness import Response
        st = self.streams[sid]
        while not st["ended"] and st["reset"] is None:  # a reset with NO_ERROR after the answer: the body was not wanted
            if not self.pump():
                if st["ended"]:
                    break
                if self.goaway is not None:
                    raise ConnectionEnded(*self.goaway)
                raise ConnectionError("connection closed before the response ended")
        if st["reset"] is not None and not st["ended"] and not (st["reset"] == 0 and st["headers"]):
            raise StreamReset(st["reset"])
        headers = {k: v for k, v in st["headers"].items() if not k.startswith(":")}
        r = Response(int(st["headers"][":status"]), headers, b"".join(st["data"]), {k.lower(): v for k, v in st["trailers"].items()})
        r.interims = st["interims"]
        return r

    def request(self, method="GET", path="/", headers=None, body=None, host="test.local"):
        return self.response(self.send_request(method, path, headers, body, host))

    def reset(self, sid, code=8):  # CANCEL
        self.conn.reset_stream(sid, code)
        self.flush()


def h2_request(port, method="GET", path="/", headers=None, body=None, host="test.local", tls=None):
    c = H2Client(port, tls=tls)
    try:
        hdrs = {k: v for k, v in (headers or {}).items() if k.lower() not in ("connection", "host", "transfer-encoding")}
        if body is not None and not any(k.lower() == "content-length" for k in hdrs):
            hdrs["content-length"] = str(len(body))
        return c.request(method, path, hdrs, body, host)
    finally:
        c.close()
