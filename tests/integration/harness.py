"""Starts the real gatehouse binary with a generated config and talks to it over loopback.

Nothing here sleeps to synchronise: readiness is the "ready" log line, upstream arrival is an
Event set by the test upstream, and raw-socket reads end when the gateway closes the connection.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "upstream"))
from upstream import Upstream  # noqa: E402

PROTOCOL = os.environ.get("GATEHOUSE_TEST_PROTOCOL", "http1")
BIN = os.environ.get("GATEHOUSE_BIN", os.path.join(HERE, "..", "..", "build", "gatehouse"))
# A safety net so a broken gateway fails a test instead of hanging it; never a synchronisation.
NET_TIMEOUT = 20


class Gatehouse:
    def __init__(self, config, workers=1, upstreams=None, args=(), config_path=None):
        """`upstreams` maps a name to a list of Upstream objects, or to (list, extra YAML lines)."""
        self.dir = tempfile.mkdtemp(prefix="gatehouse-test-")
        self.config_path = config_path or os.path.join(self.dir, "gatehouse.yaml")
        self.args = list(args)
        text = self.render(config, workers, upstreams)
        if config is not None:
            self.write_config(text)
        self.lines = []
        self.cond = threading.Condition()
        self.ports = {}
        self.admin_port = None
        self.probes_port = None
        self.proc = None

    @staticmethod
    def render(config, workers=1, upstreams=None):
        if config is None:
            return None
        text = textwrap.dedent(config)
        if upstreams:
            text += "\n" + upstreams_yaml(upstreams)
        if "workers:" not in text:
            text = f"workers: {workers}\n" + text
        if "admin:" not in text:
            text = "admin: { listen: 127.0.0.1:0 }\n" + text
        if "listeners:" not in text:
            text = "listeners: [{ name: public, listen: 127.0.0.1:0 }]\n" + text
        return text

    def write_config(self, text):
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.config_path)

    def start(self):
        self.proc = subprocess.Popen([BIN, "--config", self.config_path, "--log-level", "debug", *self.args], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, errors="replace")
        threading.Thread(target=self._pump, daemon=True).start()
        self.wait_for_log(r"ready:|\[error\]")
        if not self.has_log(r"ready:"):
            self.stop()
            raise RuntimeError("gatehouse did not start:\n" + self.log())
        for m in re.finditer(r"listener (\S+) listening on [^\s]+:(\d+)", self.log()):
            self.ports[m.group(1)] = int(m.group(2))
        m = re.search(r"admin listening on [^\s]+:(\d+)", self.log())
        if m:
            self.admin_port = int(m.group(1))
        m = re.search(r"probes listening on [^\s]+:(\d+)", self.log())
        if m:
            self.probes_port = int(m.group(1))
        self.port = self.ports.get("public") or next(iter(self.ports.values()))
        return self

    def _pump(self):
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.lines.append("<exit>\n")
            self.cond.notify_all()

    def log(self):
        with self.cond:
            return "".join(self.lines)

    def has_log(self, pattern):
        return re.search(pattern, self.log()) is not None

    def wait_for_log(self, pattern, timeout=NET_TIMEOUT):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not re.search(pattern, "".join(self.lines)):
                left = deadline - time.monotonic()
                if left <= 0 or (self.lines and self.lines[-1] == "<exit>\n"):
                    return re.search(pattern, "".join(self.lines)) is not None
                self.cond.wait(left)
        return True

    def admin(self, method, path, body=b"", token=None):
        """(status, parsed JSON or text) from the admin listener; `token`: sent as a bearer token."""
        import json as _json
        s = connect(self.admin_port)
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        try:
            s.sendall(f"{method} {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n{auth}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            r = read_response(s.makefile("rb"))
        finally:
            s.close()
        try:
            return r.status, _json.loads(r.body)
        except ValueError:
            return r.status, r.body.decode()

    def reload(self):
        return self.admin("POST", "/-/reload")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=NET_TIMEOUT):
        return self.proc.wait(timeout)

    def rss_peak_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        """Stops gracefully (SIGTERM) and fails if a sanitizer reported anything, leaks included."""
        if not self.proc:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(NET_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait(10)
        self.wait_for_log("<exit>")
        if self.proc.stderr:
            self.proc.stderr.close()
        log = self.log()
        self.proc = None
        if re.search(r"AddressSanitizer|LeakSanitizer|runtime error:", log):
            raise AssertionError("sanitizer report from gatehouse:\n" + log[-8000:])

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def wait_until(predicate, timeout=NET_TIMEOUT):
    """Polls a state the gateway reaches on its own (a gauge, a counter, an fd count); a bounded
    safety net, not a synchronisation by time. True once the predicate holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def upstream(name="upstream"):
    return Upstream(name=name).start_in_thread()



class GatewayTestCase(unittest.TestCase):
    """The tests of a class share one gateway (`config`, `workers`) in front of one test upstream
    named u (cls.up); both stop after the class, also when starting the gateway failed."""
    config = "routes: [{ name: all, upstream: u }]\n"
    workers = 1

    @classmethod
    def setUpClass(cls):
        cls.up = upstream("u")
        cls.addClassCleanup(cls.up.stop)
        cls.gw = Gatehouse(cls.config, upstreams={"u": [cls.up]}, workers=cls.workers).start()
        cls.addClassCleanup(cls.gw.stop)

def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=NET_TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def raw_exchange(port, data):
    """Sends raw bytes and returns everything the gateway sends until it closes."""
    s = connect(port)
    try:
        s.sendall(data)
        return read_to_close(s)
    finally:
        s.close()


def read_to_close(s):
    out = bytearray()
    while True:
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            break
        if not b:
            break
        out += b
    return bytes(out)


def parse_responses(data):
    """Splits a byte stream into (status, headers dict lower-case, body) responses (CL bodies only)."""
    out = []
    while data:
        head_end = data.find(b"\r\n\r\n")
        if head_end < 0:
            break
        head = data[:head_end].decode("latin-1").split("\r\n")
        status = int(head[0].split(" ")[1])
        headers = {}
        for line in head[1:]:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        body = data[head_end + 4: head_end + 4 + n]
        out.append((status, headers, body))
        data = data[head_end + 4 + n:]
    return out


class Response:
    def __init__(self, status, headers, body, trailers=None):
        self.status, self.headers, self.body = status, headers, body
        self.trailers = trailers or {}  # of a chunked body, names lower-cased

    def json(self):
        import json
        return json.loads(self.body)


def read_response(f, head_request=False):
    """Reads one response from a socket file (CL or chunked)."""
    line = f.readline()
    if not line:
        return None
    status = int(line.split(b" ")[1])
    headers = {}
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        k, v = line.decode("latin-1").split(":", 1)
        headers[k.strip().lower()] = v.strip()
    body = b""
    trailers = {}
    if head_request or status in (204, 304) or 100 <= status < 200:
        pass
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []  # joined once: appending to bytes is quadratic on large bodies
        while True:
            size = int(f.readline().split(b";")[0], 16)
            if size == 0:
                while (line := f.readline()) not in (b"\r\n", b""):
                    k, v = line.decode("latin-1").split(":", 1)
                    trailers[k.strip().lower()] = v.strip()
                break
            parts.append(f.read(size))
            f.readline()
        body = b"".join(parts)
    elif "content-length" in headers:
        body = f.read(int(headers["content-length"]))
    else:
        body = f.read()
    return Response(status, headers, body, trailers)


def request(port, method="GET", path="/", headers=None, body=None, host="test.local"):
    """One request on a new connection: HTTP/1.1, or HTTP/2 with prior knowledge when the suite
    runs with GATEHOUSE_TEST_PROTOCOL=h2 (CTest's integration_h2.* pass: the same tests over h2)."""
    if PROTOCOL == "h2":
        from h2client import h2_request
        return h2_request(port, method, path, headers, body, host)
    s = connect(port)
    try:
        hdrs = {"Host": host, "Connection": "close"}
        hdrs.update(headers or {})
        if body is not None and "Content-Length" not in hdrs and "Transfer-Encoding" not in hdrs:
            hdrs["Content-Length"] = str(len(body))
        data = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        s.sendall(data.encode() + (body or b""))
        return read_response(s.makefile("rb"), head_request=(method == "HEAD"))
    finally:
        s.close()


def http1_only(why):
    """A test of HTTP/1.1's own semantics (hop-by-hop fields, framing): not run in the h2 pass."""
    return unittest.skipIf(PROTOCOL == "h2", why)


def upstreams_yaml(upstreams):
    out = "upstreams:\n"
    for name, spec in upstreams.items():
        ups, extra = (spec if isinstance(spec, tuple) else (spec, ""))
        eps = ", ".join(f"127.0.0.1:{u.port}" if hasattr(u, "port") else str(u) for u in ups)
        out += f"  - name: {name}\n    discovery: {{ static: [{eps}] }}\n"
        for line in textwrap.dedent(extra).strip().splitlines():
            out += "    " + line + "\n"
    return out
