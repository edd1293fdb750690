"""The HTTP/2 attacks of the last years, each sent at a real gatehouse, each refused, with a
normal client on another connection served all the while (RFC 9113; CVE-2023-44487 Rapid
Reset, CVE-2025-8671 MadeYouReset, CVE-2024-27316's CONTINUATION floods, HPACK bombs,
CVE-2019-9512/9515/9516/9518 PING, SETTINGS, PRIORITY, WINDOW_UPDATE, empty-frame and unknown-frame
floods, zero-window readers, h2→h1 smuggling)."""
import os
import socket
import struct
import unittest

from h2client import H2Client, StreamReset, h2_request
from harness import Gatehouse, connect, upstream

SANITIZED = os.environ.get("GATEHOUSE_SANITIZED", "") in ("1", "ON", "TRUE", "true")
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype, flags, stream_id, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream_id) + payload


def read_frames(s, until):
    """Frames from the server until `until(type, flags, stream, payload)` is true or it closes."""
    buf = b""
    while True:
        while len(buf) >= 9:
            n = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + n:
                break
            t, f, sid, payload = buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF, buf[9:9 + n]
            buf = buf[9 + n:]
            if until(t, f, sid, payload):
                return (t, f, sid, payload)
        try:
            data = s.recv(65536)
        except ConnectionResetError:
            return None
        if not data:
            return None
        buf += data


def goaway_code(t, f, sid, payload):
    return t == 7


def connection_ends(s):
    """The server sends GOAWAY or closes (within the test's network timeout)."""
    s.settimeout(20)
    try:
        return read_frames(s, goaway_code) is not None or True  # a GOAWAY, or the close
    except socket.timeout:
        return False


class Attacks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = upstream("u")
        cls.addClassCleanup(cls.up.stop)
        cls.gw = Gatehouse("""
            listeners:
              - name: public
                listen: 127.0.0.1:0
                http2: { stream_idle_timeout: 2s, max_concurrent_streams: 50 }
            routes: [{ name: all, upstream: u }]
        """, upstreams={"u": [cls.up]}).start()
        cls.addClassCleanup(cls.gw.stop)
        cls.port = cls.gw.port

    def assert_unharmed(self):
        r = h2_request(self.port, path="/echo")
        self.assertEqual(r.status, 200)

    def raw(self):
        s = connect(self.port)
        s.sendall(PREFACE + frame(4, 0, 0))  # an empty SETTINGS
        return s

    def test_rapid_reset_ends_the_connection_with_enhance_your_calm(self):
        c = H2Client(self.port)
        try:
            for _ in range(1000):
                sid = c.send_request(path="/hang")
                c.reset(sid)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the connection was ended: the GOAWAY went before it
        finally:
            c.close()
        self.assertTrue(self.gw.wait_for_log(r"streams reset, \d+ completed: GOAWAY ENHANCE_YOUR_CALM"))
        self.assert_unharmed()

    def test_a_continuation_flood_ends_the_connection(self):
        s = self.raw()
        # HEADERS without END_HEADERS, then CONTINUATION frames that never end the block.
        s.sendall(frame(1, 0x0, 1, b"\x82"))  # :method GET (indexed), no END_HEADERS
        ended = False
        try:
            for _ in range(5000):
                s.sendall(frame(9, 0x0, 1, b"\x40\x01a\x01b"))  # literal a: b, again and again
        except (BrokenPipeError, ConnectionResetError):
            ended = True
        self.assertTrue(ended or connection_ends(s), "the connection was ended")
        s.close()
        self.assert_unharmed()

    def test_an_hpack_bomb_is_refused_by_the_decoded_size(self):
        c = H2Client(self.port)
        try:
            # One 4000-byte entry, indexed once and referenced 100 times: 400 KB decoded from a few
            # hundred bytes on the wire.
            headers = [("x-bomb", "b" * 4000)] * 100
            sid = c.conn.get_next_available_stream_id()
            c.streams[sid] = {"headers": None, "data": [], "trailers": {}, "ended": False, "reset": None, "interims": []}
            c.conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"), (":authority", "t"), (":path", "/echo")] + headers,
                                end_stream=True)
            c.flush()
            try:
                self.assertEqual(c.response(sid).status, 431)
            except StreamReset:
                pass  # refused at the frame layer: also fine
        finally:
            c.close()
        self.assertLess(self.gw.rss_peak_kb(), (800 if SANITIZED else 200) * 1024)  # flat: nowhere near 100 copies of the bomb per stream
        self.assert_unharmed()

    def test_a_ping_flood_from_a_client_that_does_not_read_ends_the_connection(self):
        s = self.raw()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        ended = False
        try:
            for i in range(200000):
                s.sendall(frame(6, 0, 0, struct.pack(">Q", i)))
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            ended = True
        self.assertTrue(ended or connection_ends(s), "the connection was ended")
        s.close()
        self.assert_unharmed()

    def flood(self, s, one, total=3000, chunk=100):
        """Sends total frames made by one(i), in chunks each followed by a PING whose ACK says the
        server read the chunk (so it never closes with bytes of ours unread); returns the error
        code of the GOAWAY that ends it, or None."""
        s.settimeout(20)
        for start in range(0, total, chunk):
            marker = struct.pack(">Q", (1 << 63) | start)
            try:
                s.sendall(b"".join(one(start + j) for j in range(chunk)) + frame(6, 0, 0, marker))
            except (BrokenPipeError, ConnectionResetError):
                pass  # the GOAWAY may already be on its way: read it
            got = read_frames(s, lambda t, f, sid, p: t == 7 or (t == 6 and f & 1 and p == marker))
            if got is None:
                return None
            if got[0] == 7:
                return int.from_bytes(got[3][4:8], "big")
        return None

    def assert_calmed(self, one, opener=b""):
        s = self.raw()
        try:
            if opener:
                s.sendall(opener)
            self.assertEqual(self.flood(s, one), 0xB, "GOAWAY ENHANCE_YOUR_CALM")
        finally:
            s.close()
        self.assert_unharmed()

    def test_a_settings_flood_ends_the_connection_with_enhance_your_calm(self):
        self.assert_calmed(lambda i: frame(4, 0, 0, struct.pack(">HI", 3, 100)))  # MAX_CONCURRENT_STREAMS, each to be ACKed

    def test_a_ping_flood_from_a_client_that_reads_ends_the_connection(self):
        self.assert_calmed(lambda i: frame(6, 0, 0, struct.pack(">Q", i)))

    def test_a_priority_flood_ends_the_connection(self):
        self.assert_calmed(lambda i: frame(2, 0, 3, struct.pack(">IB", 0, 15)))

    def test_a_window_update_flood_ends_the_connection(self):
        self.assert_calmed(lambda i: frame(8, 0, 0, struct.pack(">I", 1)))

    def test_an_empty_data_flood_ends_the_connection(self):
        import sys
        sys.path.append("/usr/lib/python3/dist-packages")
        import hpack
        block = hpack.Encoder().encode([(":method", "POST"), (":scheme", "http"), (":authority", "x"), (":path", "/echo")])
        self.assert_calmed(lambda i: frame(0, 0, 1), opener=frame(1, 4, 1, block))  # HEADERS, END_HEADERS, no END_STREAM

    def test_a_flood_of_unknown_extension_frames_ends_the_connection(self):
        self.assert_calmed(lambda i: frame(0xFA, 0, 0, b"x"))

    def test_a_client_that_stops_reading_is_reset_and_frees_its_upstream(self):
        c = H2Client(self.port, rcvbuf=4096)
        try:
            before = self.up.stats.closed
            c.send_request(path="/download?bytes=50000000")  # then never reads
            # stream_idle_timeout (2s): the stream is reset, its upstream connection closed.
            self.assertTrue(self.up.wait_for(lambda st: st.closed > before))
            self.assert_unharmed()
        finally:
            c.close()

    def test_content_length_disagreeing_with_data_is_a_stream_error(self):
        c = H2Client(self.port, validate=False)
        try:
            sid = c.send_request(method="POST", path="/echo", headers={"content-length": "10"}, body=b"abc")
            with self.assertRaises(StreamReset):
                c.response(sid)
            self.assertEqual(c.request(path="/echo").status, 200)  # the connection goes on
        finally:
            c.close()
        self.assertNotIn("/echo-smuggled", self.up.stats.paths)


def ssl_errors():
    import ssl
    return ssl.SSLWantReadError


if __name__ == "__main__":
    unittest.main()
