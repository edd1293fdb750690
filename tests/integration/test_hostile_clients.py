"""Slow and hostile clients against the real binary (issue #14 §2): 2,000 slowloris connections
while normal clients are served, slow POST bodies, clients that never read, pipelining floods,
64 KiB of tiny headers, 100,000 connections opened and closed, and clients that reset mid-request
and mid-response on plain and TLS listeners. What each asserts: the deadline fires, the upstream
connection is let go, the process keeps its memory and file descriptors, nobody else suffers.
bench/hostile.sh measures the same shapes with latency percentiles (no timing is asserted here)."""
import os
import resource
import signal
import selectors
import socket
import ssl
import struct
import subprocess
import threading
import time
import unittest

from harness import NET_TIMEOUT, Gatehouse, connect, parse_responses, read_response, read_to_close, request, upstream, wait_until
from pki import Pki

SANITIZED = os.environ.get("GATEHOUSE_SANITIZED", "") in ("1", "ON", "TRUE", "true")


def raise_fd_limit(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        raise unittest.SkipTest(f"needs {want} file descriptors, the hard limit is {hard}")
    if soft == resource.RLIM_INFINITY or soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kb(pid, field="VmRSS:"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def close_all(conns):
    """Closes (socket, reader) pairs."""
    for s, f in conns:
        f.close()
        s.close()


def metric(gw, name, **labels):
    status, text = gw.admin("GET", "/metrics")
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def reset(s):
    """Closes with RST: SO_LINGER on with a zero timeout."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


class Trickle:
    """Many connections, each sending `head` one byte per `interval` until the gateway answers and
    closes; records when each was opened and when it saw the close, and what it received."""

    def __init__(self, port, count, head, interval, socks=None):
        self.head, self.interval = head, interval
        self.sel = selectors.DefaultSelector()
        self.conns = []
        if socks is None:
            socks = [socket.create_connection(("127.0.0.1", port), timeout=NET_TIMEOUT) for _ in range(count)]
        for s in socks:
            s.setblocking(False)
            c = {"s": s, "opened": time.monotonic(), "sent": 0, "data": b"", "closed": None, "next": 0.0}
            self.conns.append(c)
            self.sel.register(s, selectors.EVENT_READ, c)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        deadline = time.monotonic() + NET_TIMEOUT * 3
        open_ = len(self.conns)
        while open_ and time.monotonic() < deadline:
            now = time.monotonic()
            for c in self.conns:
                if c["closed"] is None and c["sent"] < len(self.head) and now >= c["next"]:
                    try:
                        c["s"].send(self.head[c["sent"]:c["sent"] + 1])
                        c["sent"] += 1
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        pass  # closed by the gateway: the read below sees it
                    c["next"] = now + self.interval
            for key, _ in self.sel.select(timeout=0.02):
                c = key.data
                try:
                    chunk = c["s"].recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    chunk = b""
                if chunk:
                    c["data"] += chunk
                    continue
                c["closed"] = time.monotonic()
                self.sel.unregister(c["s"])
                c["s"].close()
                open_ -= 1

    def join(self):
        self.thread.join(NET_TIMEOUT * 3 + 5)
        for c in self.conns:
            if c["closed"] is None:
                c["s"].close()
        return self.conns


class SlowClients(unittest.TestCase):
    HEADER_TIMEOUT = 2.0

    @classmethod
    def setUpClass(cls):
        raise_fd_limit(8192)
        cls.up = upstream("u")
        cls.addClassCleanup(cls.up.stop)
        cls.gw = Gatehouse(f"""
            limits:
              header_timeout: {int(cls.HEADER_TIMEOUT * 1000)}ms
              body_timeout: 1s
              body_min_rate: 1KiB
              idle_timeout: 2s
            routes: [{{ name: all, upstream: u }}]
        """, upstreams={"u": [cls.up]}).start()
        cls.addClassCleanup(cls.gw.stop)

    def test_slowloris_2000_connections_closed_at_header_timeout_while_others_are_served(self):
        head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"s" * 100
        slow = Trickle(self.gw.port, 2000, head, interval=0.5)
        # Normal clients meanwhile: new connections and keep-alive ones.
        results = []

        def client(n):
            for i in range(n):
                try:
                    results.append(request(self.gw.port, path="/echo").status == 200)
                except OSError:
                    results.append(False)

        threads = [threading.Thread(target=client, args=(125,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        conns = slow.join()
        ok = sum(results)
        self.assertGreaterEqual(ok / len(results), 0.999, f"{len(results) - ok} of {len(results)} normal requests failed")
        never_closed = [c for c in conns if c["closed"] is None]
        self.assertEqual(never_closed, [], f"{len(never_closed)} slow connections still open")
        not_408 = [c["data"][:40] for c in conns if not c["data"].startswith(b"HTTP/1.1 408")]
        self.assertEqual(not_408, [], "every slow connection gets 408")
        # Closed by the head deadline: not before it (the clock started before the accept).
        early = [c["closed"] - c["opened"] for c in conns if c["closed"] - c["opened"] < self.HEADER_TIMEOUT - 0.05]
        self.assertEqual(early, [])

    def test_slow_post_trickle_ends_at_the_body_rate_and_frees_the_upstream_connection(self):
        # One byte every 200 ms never pauses for body_timeout (1 s); body_min_rate (1 KiB/s)
        # ends it at about body_timeout + bytes / rate.
        closed = self.up.stats.closed
        head = b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n"
        conns = []
        for _ in range(50):
            s = connect(self.gw.port)
            s.sendall(head)
            conns.append(s)
        done = Trickle(None, 0, b"b" * 1000, 0.2, socks=conns).join()
        self.assertEqual([c for c in done if c["closed"] is None], [])
        self.assertEqual([c["data"][:40] for c in done if not c["data"].startswith(b"HTTP/1.1 408")], [])
        self.assertTrue(all(c["sent"] < 100 for c in done), "ended long before the body could finish")
        # Each upstream request was aborted: its connection closed, none kept for the trickle.
        self.assertTrue(self.up.wait_for(lambda st: st.closed >= closed + 50), (self.up.stats.closed, closed))
        self.assertEqual(request(self.gw.port, path="/echo").status, 200)

    def _stalled_downloads(self, count, path):
        closed = self.up.stats.closed
        hwm = rss_kb(self.gw.proc.pid, "VmHWM:")
        socks = []
        for _ in range(count):
            s = connect(self.gw.port)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
            socks.append(s)
        # Nobody reads: the gateway's writes stall, idle_timeout (2 s) ends each client connection
        # and its upstream connection with it.
        self.assertTrue(self.up.wait_for(lambda st: st.closed >= closed + count), (self.up.stats.closed, closed))
        grown = rss_kb(self.gw.proc.pid, "VmHWM:") - hwm
        for s in socks:
            s.close()
        return grown

    def test_slow_reader_of_10_mib_responses_is_cut_at_idle_timeout_in_flat_memory(self):
        grown = self._stalled_downloads(20, "/download?bytes=10485760")
        # 20 x 10 MiB were on offer; the gateway holds its buffers and the socket's, not the body.
        self.assertLess(grown, (64 if SANITIZED else 24) * 1024, f"peak RSS grew {grown} KiB")

    def test_slow_reader_of_many_pipelined_small_responses(self):
        closed = self.up.stats.closed
        hwm = rss_kb(self.gw.proc.pid, "VmHWM:")
        s = connect(self.gw.port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /download?bytes=65536 HTTP/1.1\r\nHost: a\r\n\r\n" * 400)  # 26 MiB of answers, never read
        self.assertTrue(wait_until(lambda: self._gateway_closed(s), NET_TIMEOUT * 3))
        s.close()
        grown = rss_kb(self.gw.proc.pid, "VmHWM:") - hwm
        self.assertLess(grown, (64 if SANITIZED else 24) * 1024, f"peak RSS grew {grown} KiB")
        self.assertEqual(request(self.gw.port, path="/echo").status, 200)
        self.assertGreater(self.up.stats.closed, closed, "the upstream connection went with it")

    @staticmethod
    def _gateway_closed(s):
        """True once the gateway closed this connection (what it sent is drained and dropped)."""
        s.settimeout(0.2)
        try:
            while True:
                b = s.recv(1 << 20)
                if not b:
                    return True
        except socket.timeout:
            return False
        except OSError:
            return True


class Floods(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        raise_fd_limit(8192)
        cls.up = upstream("u")
        cls.addClassCleanup(cls.up.stop)
        cls.gw = Gatehouse("""
            routes: [{ name: all, upstream: u }]
        """, upstreams={"u": [cls.up]}).start()
        cls.addClassCleanup(cls.gw.stop)

    def test_pipelining_flood_is_answered_in_order(self):
        n = 2000 if SANITIZED else 5000
        s = connect(self.gw.port)
        s.sendall(b"".join(b"GET /echo?i=%d HTTP/1.1\r\nHost: a\r\n\r\n" % i for i in range(n - 1))
                  + b"GET /echo?i=%d HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" % (n - 1))
        f = s.makefile("rb")
        for i in range(n):
            r = read_response(f)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json()["target"], f"/echo?i={i}")
        self.assertEqual(f.read(), b"")
        s.close()

    def test_64_kib_of_tiny_headers_gets_431_and_a_close(self):
        s = connect(self.gw.port)
        head = b"GET / HTTP/1.1\r\nHost: a\r\n" + b"a:b\r\n" * 13000 + b"\r\n"
        try:
            s.sendall(head)
        except OSError:
            pass  # the gateway may answer and close before taking it all
        data = read_to_close(s)
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 431"), data[:80])
        self.assertEqual(request(self.gw.port, path="/echo").status, 200)

    def test_100000_connections_opened_and_closed_leave_no_fd_or_memory_behind(self):
        pid = self.gw.proc.pid
        request(self.gw.port, path="/echo")  # the pool's upstream connection exists before the baseline
        fds = fd_count(pid)
        accepted = metric(self.gw, "gatehouse_downstream_connections_total")
        rss = rss_kb(pid)
        total = 20000 if SANITIZED else 100000
        # ab: a request and a close per connection (a path gatehouse refuses itself: 400, no upstream).
        quiet = total // 5
        out = subprocess.run(["ab", "-q", "-r", "-n", str(total - quiet), "-c", "32", f"http://127.0.0.1:{self.gw.port}/%00"],
                             capture_output=True, text=True, timeout=600)
        self.assertIn(f"Complete requests:      {total - quiet}", out.stdout, out.stdout + out.stderr)
        # And connections that send nothing: opened, then closed (half of them with a reset).
        for i in range(quiet):
            s = socket.create_connection(("127.0.0.1", self.gw.port))
            if i % 2:
                reset(s)
            else:
                s.close()
        self.assertTrue(wait_until(lambda: metric(self.gw, "gatehouse_downstream_connections_total") >= accepted + total, NET_TIMEOUT * 3))
        self.assertTrue(wait_until(lambda: fd_count(pid) <= fds, NET_TIMEOUT * 3), f"fds {fd_count(pid)} > {fds} before")
        self.assertTrue(wait_until(lambda: metric(self.gw, "gatehouse_downstream_connections") <= 1, NET_TIMEOUT * 3))
        grown = rss_kb(pid) - rss
        # Under ASan freed memory waits in its quarantine (256 MiB): RSS says nothing there, and
        # LeakSanitizer checks at exit that nothing leaked.
        if not SANITIZED:
            self.assertLess(grown, 16 * 1024, f"RSS grew {grown} KiB")
        self.assertEqual(request(self.gw.port, path="/echo").status, 200)


class Resets(unittest.TestCase):
    """Clients that reset mid-request and mid-response: the upstream connection is closed, not
    returned to the pool with a half-sent request or an unread body; counted as client aborts."""

    @classmethod
    def setUpClass(cls):
        cls.pki = Pki()
        p = cls.pki.path
        cls.up = upstream("u")
        cls.addClassCleanup(cls.up.stop)
        cls.gw = Gatehouse(f"""
            listeners:
              - {{ name: public, listen: 127.0.0.1:0 }}
              - name: secure
                listen: 127.0.0.1:0
                tls: {{ certificates: [{{ cert: {p('ab.pem')}, key: {p('ab.key')} }}] }}
            routes: [{{ name: all, upstream: u }}]
        """, upstreams={"u": [cls.up]}).start()
        cls.addClassCleanup(cls.gw.stop)

    def open(self, listener):
        s = connect(self.gw.ports[listener])
        if listener == "secure":
            ctx = ssl.create_default_context(cafile=self.pki.path("ca.pem"))
            ctx.check_hostname = False
            s = ctx.wrap_socket(s, server_hostname="a.example.com")
        return s

    def aborts(self, listener, phase):
        return metric(self.gw, "gatehouse_client_aborts_total", listener=listener, phase=phase)

    def check_reset(self, listener, mid_response):
        phase = "response" if mid_response else "request"
        closed, aborts, code_499 = self.up.stats.closed, self.aborts(listener, phase), metric(self.gw, "gatehouse_http_requests_total", code="499")
        s = self.open(listener)
        if mid_response:
            s.sendall(b"GET /download?bytes=10485760 HTTP/1.1\r\nHost: a\r\n\r\n")
            got = 0
            while got < 256 * 1024:
                got += len(s.recv(65536))
        else:
            s.sendall(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 70000)
            self.assertTrue(self.up.wait_for(lambda st: st.raw.endswith(b"x" * 1000) or st.closed > closed))
        reset(s)
        self.assertTrue(self.up.wait_for(lambda st: st.closed > closed), "the upstream connection is closed")
        self.assertTrue(wait_until(lambda: self.aborts(listener, phase) == aborts + 1, NET_TIMEOUT * 3), f"counted as a client abort in the {phase}")
        # Left during the request: recorded as 499 (nginx's code); during the response: as the
        # status that was being sent.
        self.assertEqual(metric(self.gw, "gatehouse_http_requests_total", code="499"), code_499 + (0 if mid_response else 1))
        self.assertEqual(request(self.gw.ports["public"], path="/echo").status, 200)

    def test_reset_mid_request_plain(self):
        self.check_reset("public", mid_response=False)

    def test_reset_mid_response_plain(self):
        self.check_reset("public", mid_response=True)

    def test_reset_mid_request_tls(self):
        self.check_reset("secure", mid_response=False)

    def test_reset_mid_response_tls(self):
        self.check_reset("secure", mid_response=True)


class IdleConnections(unittest.TestCase):
    """Idle plain keep-alive connections give up their session (issue #14 §3): a worker holding more
    than 256 connections parks each one as soon as it waits for its next request (nothing
    buffered). Parked connections must stay what they were: served when the client sends again,
    counted in the connections gauge and against max_connections, closed at idle_timeout and by a
    drain. bench/idle_connections.sh measures the memory."""

    COUNT = 400  # > 256 on the one worker: every connection parks right after its answer
    IDLE = 3.0

    def gateway(self, extra=""):
        up = upstream("u")
        self.addCleanup(up.stop)
        gw = Gatehouse(f"""
            limits: {{ idle_timeout: {int(self.IDLE * 1000)}ms }}
            listeners: [{{ name: public, listen: 127.0.0.1:0{extra} }}]
            drain: {{ timeout: 60s }}
            routes: [{{ name: all, upstream: u }}]
        """, upstreams={"u": [up]}, workers=1).start()
        self.addCleanup(gw.stop)
        return gw, up

    def open_idle(self, gw, count, answered=None):
        """`count` keep-alive connections, one answered request each, left idle (`answered`: when,
        per socket)."""
        conns = []
        for _ in range(count):
            s = connect(gw.port)
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
            f = s.makefile("rb")
            self.assertEqual(read_response(f).status, 200)
            if answered is not None:
                answered[s] = time.monotonic()
            conns.append((s, f))
        return conns

    def test_parked_connections_answer_their_next_request_and_stay_counted(self):
        raise_fd_limit(4096)
        gw, up = self.gateway()
        conns = self.open_idle(gw, self.COUNT)
        self.assertEqual(metric(gw, "gatehouse_downstream_connections"), self.COUNT)
        served = len(up.stats.paths)
        # Every client sends again at once; each answer comes on its own connection.
        for i, (s, _) in enumerate(conns):
            s.sendall(f"GET /echo?second={i} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        for i, (_, f) in enumerate(conns):
            r = read_response(f)
            self.assertEqual(r.status, 200)
            self.assertIn(f"second={i}".encode(), r.body)
        self.assertEqual(len(up.stats.paths), served + self.COUNT)
        # A client that closes while parked: the connection goes, and with it its count.
        close_all(conns[: self.COUNT // 2])
        self.assertTrue(wait_until(lambda: metric(gw, "gatehouse_downstream_connections") == self.COUNT - self.COUNT // 2, NET_TIMEOUT * 3))
        close_all(conns[self.COUNT // 2 :])
        self.assertTrue(wait_until(lambda: metric(gw, "gatehouse_downstream_connections") == 0, NET_TIMEOUT * 3))

    def test_parked_connections_close_at_idle_timeout_not_before(self):
        raise_fd_limit(4096)
        gw, _ = self.gateway()
        conns, answered = [], {}
        for s, f in self.open_idle(gw, self.COUNT, answered):
            conns.append((s, f))
        sel = selectors.DefaultSelector()
        for s, _ in conns:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        closed = 0
        deadline = time.monotonic() + self.IDLE + NET_TIMEOUT * 3
        while closed < len(conns) and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1):
                self.assertEqual(key.fileobj.recv(1), b"", "closed without a word")
                idle = time.monotonic() - answered[key.fileobj]
                self.assertGreaterEqual(idle, self.IDLE - 0.5, "closed before idle_timeout")
                sel.unregister(key.fileobj)
                closed += 1
        self.assertEqual(closed, len(conns))
        self.assertTrue(wait_until(lambda: metric(gw, "gatehouse_downstream_connections") == 0, NET_TIMEOUT * 3))
        close_all(conns)

    def test_parked_connections_hold_their_max_connections_seats(self):
        raise_fd_limit(4096)
        gw, _ = self.gateway(", max_connections: 300")
        conns = self.open_idle(gw, 300)
        refused = connect(gw.port)
        self.assertEqual(read_to_close(refused), b"", "the 301st connection is closed at once")
        refused.close()
        s, f = conns.pop()
        f.close()
        s.close()
        self.assertTrue(wait_until(lambda: metric(gw, "gatehouse_downstream_connections") == 299, NET_TIMEOUT * 3))
        conns += self.open_idle(gw, 1)  # the seat it left
        close_all(conns)

    def test_parked_tls_connections_keep_their_session_and_client_identity(self):
        raise_fd_limit(4096)
        pki = Pki()
        p = pki.path
        up = upstream("u")
        self.addCleanup(up.stop)
        gw = Gatehouse(f"""
            limits: {{ idle_timeout: {int(self.IDLE * 1000)}ms }}
            listeners:
              - name: mtls
                listen: 127.0.0.1:0
                tls:
                  certificates: [{{ cert: {p('ab.pem')}, key: {p('ab.key')} }}]
                  client_ca: {p('ca.pem')}
                  identity_headers: {{ subject: X-Client-Subject }}
            routes: [{{ name: all, upstream: u }}]
        """, upstreams={"u": [up]}, workers=1).start()
        self.addCleanup(gw.stop)
        ctx = ssl.create_default_context(cafile=p("ca.pem"))
        ctx.check_hostname = False
        ctx.load_cert_chain(p("client1.pem"), p("client1.key"))
        conns = []
        for _ in range(320):  # the last 64 park right after their answer
            s = ctx.wrap_socket(connect(gw.port), server_hostname="a.example.com", suppress_ragged_eofs=False)
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
            f = s.makefile("rb")
            self.assertEqual(read_response(f).status, 200)
            conns.append((s, f))
        idle_from = time.monotonic()
        for s, _ in conns[-64:]:
            s.sendall(b"GET /echo?again HTTP/1.1\r\nHost: a\r\n\r\n")
        for _, f in conns[-64:]:
            r = read_response(f)
            self.assertEqual(r.status, 200)
            subjects = [v for k, v in r.json()["headers"] if k.lower() == "x-client-subject"]
            self.assertEqual(subjects, ["/CN=alice"], "the resumed session still knows the client certificate")
        # At idle_timeout each is closed with close_notify (a cut without it raises SSLEOFError).
        for s, f in conns:
            s.settimeout(NET_TIMEOUT * 3)
            self.assertEqual(f.read(), b"")
        self.assertGreaterEqual(time.monotonic() - idle_from, self.IDLE - 0.5)
        self.assertTrue(wait_until(lambda: metric(gw, "gatehouse_downstream_connections") == 0, NET_TIMEOUT * 3))
        close_all(conns)

    def test_a_drain_closes_parked_connections_without_waiting_for_its_timeout(self):
        raise_fd_limit(4096)
        gw, _ = self.gateway()
        conns = self.open_idle(gw, self.COUNT)
        started = time.monotonic()
        gw.signal(signal.SIGTERM)
        for s, f in conns:
            s.settimeout(NET_TIMEOUT * 2)
            self.assertEqual(f.read(), b"")
        self.assertEqual(gw.wait(), 0)
        self.assertLess(time.monotonic() - started, 30, "closed by the drain, not at drain.timeout (60 s)")
        close_all(conns)


if __name__ == "__main__":
    unittest.main()
