"""Real services for the discovery tests, started on free loopback ports in temp dirs and stopped
by PID: dnsmasq (DNS A/AAAA/SRV) and etcd (v3, through its JSON gateway). Readiness is awaited
on what each service says (a log line, a health answer), never on a sleep."""
import base64
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request

NET_TIMEOUT = 20


def free_port(kind=socket.SOCK_STREAM, host="127.0.0.1"):
    s = socket.socket(socket.AF_INET, kind)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class RefusingPort:
    """A loopback port where every connect is refused, for as long as this object lives: a
    socket bound to it that never listens. A port merely found free and closed again can be taken
    by a parallel test's server (which may then hold the connection open) or picked by the kernel
    as the source port of the very connect aimed at it; a bound socket rules out both."""

    def __init__(self, host="127.0.0.1"):
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


_held = []


def refusing_port():
    """The port of a RefusingPort held until the test process exits."""
    holder = RefusingPort()
    _held.append(holder)
    return holder.port


def free_port_both():
    """A port free for both UDP and TCP (DNS uses both)."""
    for _ in range(50):
        p = free_port(socket.SOCK_DGRAM)
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
        finally:
            t.close()
    raise RuntimeError("no free port")


class _Process:
    def __init__(self):
        self.proc = None
        self.lines = []
        self.cond = threading.Condition()

    def _spawn(self, args):
        self.lines = []
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()

    def _pump(self, proc):
        for line in proc.stdout:
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.lines.append("<exit>\n")
            self.cond.notify_all()

    def wait_for_output(self, pattern, timeout=NET_TIMEOUT):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not re.search(pattern, "".join(self.lines)):
                left = deadline - time.monotonic()
                if left <= 0 or (self.lines and self.lines[-1] == "<exit>\n"):
                    return False
                self.cond.wait(left)
        return True

    def output(self):
        with self.cond:
            return "".join(self.lines)

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(NET_TIMEOUT)
        self.proc = None


class Dnsmasq(_Process):
    """Serves a test zone from a hosts directory (re-read on change) and --srv-host records."""

    def __init__(self):
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="gatehouse-dnsmasq-")
        self.hosts_dir = os.path.join(self.dir, "hosts")
        os.mkdir(self.hosts_dir)
        self.port = free_port_both()
        self.srv = []

    def set_hosts(self, text):
        """Replaces the hosts file atomically (dnsmasq sees the rename through inotify)."""
        tmp = os.path.join(self.dir, "hosts.tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, os.path.join(self.hosts_dir, "zone"))

    def start(self, srv=None):
        if srv is not None:
            self.srv = srv  # [(name, target, port, priority, weight)]
        args = ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--log-facility=-",
                f"--port={self.port}", "--listen-address=127.0.0.1", "--bind-interfaces", f"--hostsdir={self.hosts_dir}",
                "--local-ttl=1", "--user=root", "--pid-file="]
        for name, target, port, prio, weight in self.srv:
            args.append(f"--srv-host={name},{target},{port},{prio},{weight}")
        self._spawn(args)
        if not self.wait_for_output(r"started, version"):
            raise RuntimeError("dnsmasq did not start:\n" + self.output())
        return self

    def stop(self):
        self.kill(signal.SIGTERM)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _b64(s):
    return base64.b64encode(s.encode()).decode()


class Etcd(_Process):
    def __init__(self, tls=None):
        """tls: (ca, cert, key) file paths: clients over https, and only with a certificate
        signed by ca (etcd --client-cert-auth); the same cert and key serve as this helper's own
        client certificate."""
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="gatehouse-etcd-")
        self.client_port = free_port()
        self.peer_port = free_port()
        self.tls = tls
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.client_port}"
        self.context = None
        if tls:
            self.context = ssl.create_default_context(cafile=tls[0])
            self.context.load_cert_chain(tls[1], tls[2])

    def start(self):
        peer = f"http://127.0.0.1:{self.peer_port}"
        tls_args = []
        if self.tls:
            tls_args = ["--trusted-ca-file", self.tls[0], "--cert-file", self.tls[1], "--key-file", self.tls[2], "--client-cert-auth"]
        self._spawn(["etcd", "--name", "test", "--data-dir", os.path.join(self.dir, "data"), "--listen-client-urls", self.url,
                     "--advertise-client-urls", self.url, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                     "--initial-cluster", f"test={peer}", "--log-level", "warn", "--logger", "zap"] + tls_args)
        deadline = time.monotonic() + NET_TIMEOUT
        while True:  # readiness: the health endpoint answers
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2, context=self.context) as r:
                    if json.loads(r.read()).get("health") == "true":
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("etcd did not start:\n" + self.output())
            self.wait_for_output(r"ready to serve|<exit>", 0.2)

    def call(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=NET_TIMEOUT, context=self.context) as r:
            return json.loads(r.read())

    def put(self, key, value):
        return int(self.call("/v3/kv/put", {"key": _b64(key), "value": _b64(value)})["header"]["revision"])

    def delete(self, key):
        return int(self.call("/v3/kv/deleterange", {"key": _b64(key)})["header"]["revision"])

    def compact(self, revision):
        return self.call("/v3/kv/compaction", {"revision": revision, "physical": True})

    def stop(self):
        self.kill(signal.SIGKILL)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis(_Process):
    """A redis-server on a free loopback port, no persistence, in a temp dir."""

    def __init__(self, password=None):
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="gatehouse-redis-")
        self.port = free_port()
        self.password = password

    def start(self):
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", self.dir,
                "--daemonize", "no", "--loglevel", "notice"]
        if self.password:
            args += ["--requirepass", self.password]
        self._spawn(args)
        if not self.wait_for_output(r"Ready to accept connections"):
            raise RuntimeError("redis did not start:\n" + self.output())
        return self

    def command(self, *args):
        """One command over a fresh connection; the reply as bytes/int/list (RESP2)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=NET_TIMEOUT)
        try:
            out = b""
            if self.password:
                out += _resp(["AUTH", self.password])
            out += _resp([str(a) for a in args])
            s.sendall(out)
            f = s.makefile("rb")
            if self.password:
                _read_reply(f)
            return _read_reply(f)
        finally:
            s.close()

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
        self.kill(signal.SIGKILL)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _resp(args):
    return f"*{len(args)}\r\n".encode() + b"".join(f"${len(a.encode())}\r\n{a}\r\n".encode() for a in args)


def _read_reply(f):
    line = f.readline().rstrip(b"\r\n")
    t, rest = line[:1], line[1:]
    if t in (b"+", b"-"):
        return rest.decode()
    if t == b":":
        return int(rest)
    if t == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if t == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise ValueError(f"not RESP: {line!r}")
