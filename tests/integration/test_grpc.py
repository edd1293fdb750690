"""gRPC through a proxy, with real gRPC stacks on loopback (issue 29): the interop cases of
gRPC's doc/interop-test-descriptions.md from two client stacks (python3-grpcio, @grpc/grpc-js)
to a python3-grpcio server (tests/grpc), plaintext (h2c) and TLS (ALPN h2) on both sides; and the
pool cases: many concurrent calls share few upstream connections, a server's GOAWAY mid-load
fails no call, nor does its stream limit (REFUSED_STREAM), a lost connection fails only its
calls, a cancelled call ends on the server, idle pings do not trip the server's keepalive
enforcement.

The proxy is chosen by GRPC_TEST_PROXY:
  gatehouse (default)  the binary under test: a listener with protocols [h2, http1] and an
                       upstream with `protocol: h2c` (TLS: a TLS listener, `protocol: h2` + tls).
                       Skipped, loudly, while `gatehouse check` refuses upstreams[].protocol.
  nginx                nginx's grpc_pass: the reference the tests are proven against.
  haproxy              HAProxy, HTTP/2 on both sides: a second reference, one that multiplexes.
  none                 the clients talk to the server directly.
GRPC_TEST_IDLE_SECONDS (default 20): how long the keepalive case leaves the proxy's pool idle.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

from harness import BIN, Gatehouse, NET_TIMEOUT, wait_until
from pki import Pki
from services import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
GRPC_DIR = os.path.join(HERE, "..", "grpc")
sys.path.insert(0, GRPC_DIR)
import stubs  # noqa: E402

PROXY = os.environ.get("GRPC_TEST_PROXY", "gatehouse")
IDLE_SECONDS = float(os.environ.get("GRPC_TEST_IDLE_SECONDS", "20"))
NODE_DIR = os.path.join(GRPC_DIR, "node")
MISSING = stubs.available()
NODE_MISSING = None if os.path.isdir(os.path.join(NODE_DIR, "node_modules", "@grpc", "grpc-js")) else \
    "@grpc/grpc-js is not installed (.ci/install-deps runs npm ci in tests/grpc/node)"
SERVER_NAME = "localhost"  # the name in the test server's certificate (Pki's "local")


class GrpcServer:
    """tests/grpc/server.py in a subprocess; `port` once it printed READY."""

    def __init__(self, *args):
        self.log = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: grpc's logs never block it
        self.proc = subprocess.Popen([sys.executable, os.path.join(GRPC_DIR, "server.py"), *args],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()  # the server prints READY or exits (EOF)
        if not line.startswith("READY "):
            self.proc.kill()
            self.proc.wait()
            self.log.seek(0)
            raise RuntimeError("the gRPC test server did not start:\n" + line + self.log.read())
        self.port = int(line.split()[1])
        self.control_channel = stubs.load().grpc.insecure_channel(f"127.0.0.1:{self.port}") if "--tls-cert" not in args else None

    def control(self):
        pb = stubs.load()
        return pb.control_pb2_grpc.ControlStub(self.control_channel)

    def stats(self):
        return self.control().GetStats(stubs.load().control_pb2.StatsRequest(), timeout=NET_TIMEOUT)

    def reset_stats(self):
        return self.control().ResetStats(stubs.load().control_pb2.StatsRequest(), timeout=NET_TIMEOUT)

    def stop(self):
        if self.control_channel:
            self.control_channel.close()
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.log.close()


def wait_listening(port):
    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    if not wait_until(up):
        raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


class NoProxy:
    """The clients talk to the server itself."""
    multiplexes = True

    def start(self, server, client_tls, upstream_tls, pki):
        if client_tls != upstream_tls:
            raise unittest.SkipTest("without a proxy the client speaks the server's protocol")
        self.port = server.port
        return self

    def stop(self):
        pass


class NginxProxy:
    """nginx's grpc_pass: one worker, keep-alive upstream connections (nginx does not multiplex
    calls on them: one call per upstream connection at a time)."""
    multiplexes = False

    def start(self, server, client_tls, upstream_tls, pki):
        self.dir = tempfile.mkdtemp(prefix="gatehouse-grpc-nginx-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        scheme = "grpcs" if upstream_tls else "grpc"
        listen = f"127.0.0.1:{self.port} ssl http2" if client_tls else f"127.0.0.1:{self.port} http2"
        tls = f"ssl_certificate {pki.path('local.pem')}; ssl_certificate_key {pki.path('local.key')};" if client_tls else ""
        up_tls = (f"grpc_ssl_trusted_certificate {pki.path('ca.pem')}; grpc_ssl_verify on; grpc_ssl_name {SERVER_NAME};"
                  " grpc_ssl_server_name on;") if upstream_tls else ""
        d = self.dir
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(f"""daemon off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log info;
{"user root;" if os.getuid() == 0 else ""}
events {{ worker_connections 4096; }}
http {{
  access_log off; client_body_temp_path {d}/body; client_max_body_size 0;
  proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  upstream grpc_up {{ server 127.0.0.1:{server.port}; keepalive 64; keepalive_timeout 300s; }}
  server {{ listen {listen}; {tls}
    grpc_read_timeout 300s; grpc_send_timeout 300s;
    location / {{ grpc_pass {scheme}://grpc_up; {up_tls} }} }}
}}
""")
        self.proc = subprocess.Popen(["nginx", "-c", os.path.join(d, "nginx.conf"), "-p", d],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # its log: error.log
        wait_listening(self.port)
        return self

    def stop(self):
        self.proc.terminate()
        self.proc.wait(NET_TIMEOUT)


class HaproxyProxy:
    """HAProxy with HTTP/2 on both sides (`proto h2` / ALPN h2): calls multiplexed on its backend
    connections, as gatehouse's pool does."""
    multiplexes = True

    def start(self, server, client_tls, upstream_tls, pki):
        self.dir = tempfile.mkdtemp(prefix="gatehouse-grpc-haproxy-")
        self.port = free_port()
        if client_tls:
            with open(os.path.join(self.dir, "both.pem"), "w") as out:
                for name in ("local.pem", "local.key"):
                    with open(pki.path(name)) as f:
                        out.write(f.read())
            bind = f"ssl crt {self.dir}/both.pem alpn h2"
        else:
            bind = "proto h2"
        srv = f"ssl verify required ca-file {pki.path('ca.pem')} sni str({SERVER_NAME}) alpn h2" if upstream_tls else "proto h2"
        cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(f"""global
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  http-reuse always
frontend fe
  bind 127.0.0.1:{self.port} {bind}
  default_backend be
backend be
  server s1 127.0.0.1:{server.port} {srv}
""")
        self.proc = subprocess.Popen(["haproxy", "-f", cfg, "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening(self.port)
        return self

    def stop(self):
        self.proc.terminate()
        self.proc.wait(NET_TIMEOUT)


class GatehouseProxy:
    """The binary under test: h2c by prior knowledge on a plain listener (protocols [h2, http1]),
    TLS with ALPN h2 on a TLS one; the upstream `protocol: h2c`, or `h2` with tls."""
    multiplexes = True

    def __init__(self, upstream_extra=""):
        self.upstream_extra = upstream_extra  # more YAML for the upstream (e.g. its http2: settings)

    def config(self, server, client_tls, upstream_tls, pki):
        tls = f", tls: {{ certificates: [{{ cert: {pki.path('local.pem')}, key: {pki.path('local.key')} }}] }}" if client_tls else ""
        up = (f"protocol: h2\n    tls: {{ ca: {pki.path('ca.pem')}, sni: {SERVER_NAME} }}" if upstream_tls else "protocol: h2c")
        return (f"listeners: [{{ name: public, listen: 127.0.0.1:0, protocols: [h2, http1]{tls} }}]\n"
                "routes: [{ name: grpc, upstream: grpc }]\n"
                "upstreams:\n"
                f"  - name: grpc\n    discovery: {{ static: [127.0.0.1:{server.port}] }}\n    {up}\n"
                + (f"    {self.upstream_extra}\n" if self.upstream_extra else ""))

    def start(self, server, client_tls, upstream_tls, pki):
        self.gw = Gatehouse(self.config(server, client_tls, upstream_tls, pki))
        self.gw.start()
        self.port = self.gw.port
        return self

    def stop(self):
        self.gw.stop()


PROXIES = {"none": NoProxy, "nginx": NginxProxy, "haproxy": HaproxyProxy, "gatehouse": GatehouseProxy}


def run_client(stack, port, client_tls, pki, *extra):
    """One client run: its JSON answer (the cases' results, or the load's counts)."""
    target = ["--target", f"127.0.0.1:{port}"]
    if client_tls:
        target += ["--ca", pki.path("ca.pem"), "--server-name", SERVER_NAME]
    if stack == "python":
        cmd = [sys.executable, os.path.join(GRPC_DIR, "client.py"), *target, *extra]
    else:
        cmd = ["node", os.path.join(NODE_DIR, "client.js"), *target, *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    try:
        return json.loads(r.stdout)
    except ValueError:
        raise AssertionError(f"{stack} client said no JSON (exit {r.returncode}):\n{r.stdout}\n{r.stderr}") from None


class ProxiedServer:
    """A test server and the chosen proxy in front of it; stopped by the test case's cleanups."""

    def __init__(self, case, client_tls=False, upstream_tls=False, server_args=(), gatehouse_upstream=""):
        self.pki = case.pki() if (client_tls or upstream_tls) else None
        tls_args = ["--tls-cert", self.pki.path("local.pem"), "--tls-key", self.pki.path("local.key")] if upstream_tls else []
        self.server = GrpcServer(*tls_args, *server_args)
        case.addCleanup(self.server.stop)
        proxy = GatehouseProxy(gatehouse_upstream) if PROXY == "gatehouse" else PROXIES[PROXY]()
        self.proxy = proxy.start(self.server, client_tls, upstream_tls, self.pki)
        case.addCleanup(self.proxy.stop)
        self.client_tls = client_tls

    def client(self, stack, *extra):
        return run_client(stack, self.proxy.port, self.client_tls, self.pki, *extra)


@unittest.skipIf(MISSING, f"the gRPC stack is missing: {MISSING}")
class GrpcTestCase(unittest.TestCase):
    _pki = None

    @classmethod
    def pki(cls):
        if GrpcTestCase._pki is None:
            GrpcTestCase._pki = Pki()
        return GrpcTestCase._pki


class InteropCases(GrpcTestCase):
    """Every interop case, from both client stacks, through the proxy."""

    def run_cases(self, stack, client_tls, upstream_tls):
        if stack == "node" and NODE_MISSING:
            self.skipTest(NODE_MISSING)
        s = ProxiedServer(self, client_tls, upstream_tls)
        results = s.client(stack)
        self.assertEqual(len(results), 15, results)
        for name, r in results.items():
            with self.subTest(case=name, stack=stack, client_tls=client_tls, upstream_tls=upstream_tls):
                self.assertTrue(r["ok"], f"{stack} {name} through {PROXY}: {r['detail']}")

    def test_python_client_h2c(self):
        self.run_cases("python", False, False)

    def test_node_client_h2c(self):
        self.run_cases("node", False, False)

    def test_python_client_tls_both_sides(self):
        self.run_cases("python", True, True)

    def test_node_client_tls_both_sides(self):
        self.run_cases("node", True, True)

    def test_python_client_tls_to_h2c_upstream(self):
        self.run_cases("python", True, False)

    def test_node_client_h2c_to_tls_upstream(self):
        self.run_cases("node", False, True)


class PoolCases(GrpcTestCase):
    """The proxy's upstream connections, as the server's frame tap sees them (plaintext)."""

    def test_concurrent_calls_share_few_connections(self):
        s = ProxiedServer(self, server_args=["--tap"])
        if not s.proxy.multiplexes:
            self.skipTest(f"{PROXY} does not multiplex calls on its upstream connections")
        s.server.reset_stats()
        out = s.client("python", "--load", "200", "--concurrency", "64", "--method", "sleep", "--sleep-ms", "300")
        self.assertEqual(out["failed"], 0, out)
        stats = s.server.stats()
        self.assertEqual(stats.calls, 200)
        # 64 calls in flight at once on one client connection; a multiplexing pool needs one
        # upstream connection for them (a few at most), a connection per call would be ~64.
        self.assertLessEqual(stats.connections_accepted, 4, stats)
        self.assertGreaterEqual(stats.connections_accepted, 1, stats)

    def test_goaway_mid_load_fails_no_call(self):
        # Every upstream connection gets a GOAWAY once 300 ms old (grpcio's max_connection_age),
        # in-flight calls finish within the 10 s grace: the proxy moves new calls to a new connection.
        s = ProxiedServer(self, server_args=["--tap", "--max-connection-age-ms", "300", "--max-connection-age-grace-ms", "10000"])
        s.server.reset_stats()
        failed, runs = {}, []
        for _ in range(20):  # load until the server has sent two GOAWAY frames (bounded)
            out = s.client("python", "--load", "500", "--concurrency", "20")
            runs.append(out["failed"])
            for k, v in out["errors"].items():
                failed[k] = failed.get(k, 0) + v
            if s.server.stats().goaways_sent >= 2:
                break
        stats = s.server.stats()
        self.assertGreaterEqual(stats.goaways_sent, 2, f"no GOAWAYs during the load: {stats}")
        self.assertEqual(sum(runs), 0, f"failed calls {failed} in {len(runs)} runs of 500; server: {stats}")

    def test_server_stream_limit_fails_no_call(self):
        # The server allows 2 concurrent streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS);
        # 20 calls in flight at once: the proxy respects the limit (more connections, or a queue)
        # and retries any stream the server refused (REFUSED_STREAM: never processed).
        s = ProxiedServer(self, server_args=["--tap", "--max-concurrent-streams", "2"])
        s.server.reset_stats()
        out = s.client("python", "--load", "200", "--concurrency", "20", "--method", "sleep", "--sleep-ms", "20")
        stats = s.server.stats()
        self.assertEqual(out["failed"], 0, f"{out}; server: {stats}")
        self.assertEqual(stats.calls, 200, stats)

    def test_connection_failure_fails_only_its_calls(self):
        # The server's connections are cut without a GOAWAY under 10 calls in flight: those calls
        # fail (UNAVAILABLE: the proxy cannot know whether the server processed them), and the
        # next calls succeed on a new connection.
        s = ProxiedServer(self, server_args=["--tap"])
        s.server.reset_stats()
        pb = stubs.load()
        with pb.grpc.insecure_channel(f"127.0.0.1:{s.proxy.port}") as ch:
            stub = pb.control_pb2_grpc.ControlStub(ch)
            calls = [stub.Sleep.future(pb.control_pb2.SleepRequest(millis=60000), timeout=NET_TIMEOUT * 3) for _ in range(10)]
            self.assertTrue(wait_until(lambda: s.server.stats().calls == 10), s.server.stats())
            s.server.proc.send_signal(signal.SIGUSR1)
            errors = [c.exception(timeout=NET_TIMEOUT) for c in calls]
            codes = [e.code() if e else None for e in errors]
            self.assertEqual(codes, [pb.grpc.StatusCode.UNAVAILABLE] * 10)
        out = s.client("python", "--load", "100", "--concurrency", "10")
        self.assertEqual(out["failed"], 0, out)

    def test_cancellation_reaches_the_server(self):
        # A call cancelled by its client (here: its deadline passed; the client resets the
        # stream) ends on the server too, long before the minute it would sleep.
        s = ProxiedServer(self, server_args=["--tap"])
        pb = stubs.load()
        with pb.grpc.insecure_channel(f"127.0.0.1:{s.proxy.port}") as ch:
            with self.assertRaises(pb.grpc.RpcError) as e:
                pb.control_pb2_grpc.ControlStub(ch).Sleep(pb.control_pb2.SleepRequest(millis=60000), timeout=0.5)
            self.assertEqual(e.exception.code(), pb.grpc.StatusCode.DEADLINE_EXCEEDED)
            future = pb.control_pb2_grpc.ControlStub(ch).Sleep.future(pb.control_pb2.SleepRequest(millis=60000), timeout=NET_TIMEOUT * 3)
            self.assertTrue(wait_until(lambda: s.server.stats().calls == 2), s.server.stats())
            future.cancel()
        self.assertTrue(wait_until(lambda: s.server.stats().abandoned_sleeps == 2), s.server.stats())

    def test_idle_pings_do_not_trip_keepalive_enforcement(self):
        # grpcio's defaults: without calls, one ping per 2 h; the third early one gets a GOAWAY
        # ENHANCE_YOUR_CALM "too_many_pings". A proxy's pool that checks idle connections' liveness
        # must space its pings so; the tap counts the pings and the GOAWAYs. gatehouse is told to
        # check an idle connection after 2 s (upstreams[].http2.ping_interval), so a pool that
        # pinged at that pace would get the GOAWAY well within the idle time.
        s = ProxiedServer(self, server_args=["--tap"], gatehouse_upstream="http2: { ping_interval: 2s }")
        s.server.reset_stats()  # (the test's own control connection opens here: not counted)
        self.assertEqual(s.client("python", "--cases", "empty_unary")["empty_unary"]["ok"], True)
        idle = threading.Event()
        idle.wait(IDLE_SECONDS)  # the subject of the test: the pool left idle this long
        self.assertEqual(s.client("python", "--cases", "empty_unary")["empty_unary"]["ok"], True)
        stats = s.server.stats()
        self.assertEqual(stats.too_many_pings_goaways, 0, f"the proxy's pings tripped keepalive enforcement: {stats}")
        if PROXY != "none":  # the proxy's pooled connection survived the idle time (each client run is a new process)
            self.assertEqual(stats.connections_accepted, 1, stats)


@unittest.skipIf(PROXY != "gatehouse", "gatehouse's own circuit breaker")
class GrpcBreaker(GrpcTestCase):
    def test_breaker_opens_on_unavailable_and_answers_trailers_only(self):
        # The server answers UNAVAILABLE (grpc-status 14 in a Trailers-Only head, HTTP 200): the
        # breaker counts it as a failure by its gRPC status, opens after 3 in a row, and then
        # gatehouse answers the calls itself (UNAVAILABLE) without the server seeing them.
        s = ProxiedServer(self, server_args=["--tap"], gatehouse_upstream=(
            "circuit_breaker: { consecutive_failures: 3, failure_rate: 100%, min_requests: 1000, open_for: 10m, failure: [unavailable] }"))
        s.server.reset_stats()
        pb = stubs.load()
        failing = pb.test_pb2.SimpleRequest(response_status=pb.test_pb2.EchoStatus(code=14, message="down for now"))
        with pb.grpc.insecure_channel(f"127.0.0.1:{s.proxy.port}") as ch:
            stub = pb.test_pb2_grpc.TestServiceStub(ch)
            for _ in range(3):
                with self.assertRaises(pb.grpc.RpcError) as e:
                    stub.UnaryCall(failing, timeout=NET_TIMEOUT)
                self.assertEqual((e.exception.code(), e.exception.details()), (pb.grpc.StatusCode.UNAVAILABLE, "down for now"))
            self.assertEqual(s.server.stats().calls, 3)
            with self.assertRaises(pb.grpc.RpcError) as e:
                stub.UnaryCall(pb.test_pb2.SimpleRequest(), timeout=NET_TIMEOUT)  # would succeed upstream
            self.assertEqual(e.exception.code(), pb.grpc.StatusCode.UNAVAILABLE)
            self.assertNotEqual(e.exception.details(), "down for now", "gatehouse's own answer")
            self.assertEqual(s.server.stats().calls, 3, "the open breaker kept the call from the server")


@unittest.skipIf(PROXY != "gatehouse", "gatehouse's own route setting")
class GrpcStreamDuration(GrpcTestCase):
    def test_max_stream_duration_ends_a_server_stream_under_way(self):
        # Five messages a second apart on a route whose calls may last 1 s: the head and the first
        # message went, then the call ends with DEADLINE_EXCEEDED in its trailers.
        server = GrpcServer("--tap")
        self.addCleanup(server.stop)
        gw = Gatehouse("listeners: [{ name: public, listen: 127.0.0.1:0, protocols: [h2, http1] }]\n"
                       "routes: [{ name: grpc, upstream: grpc, grpc: { max_stream_duration: 1s } }]\n"
                       f"upstreams: [{{ name: grpc, protocol: h2c, discovery: {{ static: [127.0.0.1:{server.port}] }} }}]\n").start()
        self.addCleanup(gw.stop)
        pb = stubs.load()
        params = [pb.test_pb2.ResponseParameters(size=1, interval_us=0 if i == 0 else 1_000_000) for i in range(5)]
        got = []
        with pb.grpc.insecure_channel(f"127.0.0.1:{gw.port}") as ch:
            stub = pb.test_pb2_grpc.TestServiceStub(ch)
            with self.assertRaises(pb.grpc.RpcError) as e:
                for m in stub.StreamingOutputCall(pb.test_pb2.StreamingOutputCallRequest(response_parameters=params)):
                    got.append(m)
        self.assertEqual(e.exception.code(), pb.grpc.StatusCode.DEADLINE_EXCEEDED, e.exception.details())
        self.assertGreaterEqual(len(got), 1, "the answer was under way")
        self.assertLess(len(got), 5)
        # The upstream's stream was reset: the server's wait between messages ends early.
        self.assertTrue(wait_until(lambda: server.stats().abandoned_sleeps >= 1), server.stats())


@unittest.skipIf(MISSING, f"the gRPC stack is missing: {MISSING}")
class TapSelfCheck(unittest.TestCase):
    """The keepalive case can fail: pings without calls, sent by a raw HTTP/2 client straight to
    the server, get the GOAWAY ENHANCE_YOUR_CALM that the tap counts."""

    def test_too_many_pings_is_seen(self):
        server = GrpcServer("--tap")
        self.addCleanup(server.stop)
        s = socket.create_connection(("127.0.0.1", server.port), timeout=NET_TIMEOUT)
        self.addCleanup(s.close)
        frame = lambda t, flags, sid, payload: len(payload).to_bytes(3, "big") + bytes([t, flags]) + sid.to_bytes(4, "big") + payload  # noqa: E731
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b""))
        for i in range(5):
            s.sendall(frame(6, 0, 0, i.to_bytes(8, "big")))
        data = bytearray()
        while chunk := s.recv(65536):  # the server closes after its GOAWAY
            data += chunk
        self.assertTrue(wait_until(lambda: server.stats().too_many_pings_goaways == 1), server.stats())
        self.assertGreaterEqual(server.stats().pings_received, 3)


@unittest.skipIf(MISSING, f"the gRPC stack is missing: {MISSING}")
@unittest.skipIf(PROXY != "gatehouse", "gatehouse's own health checks")
class GrpcHealthChecks(GrpcTestCase):
    """health_check: { grpc: { service } } asks grpc.health.v1.Health/Check over the upstream's HTTP/2."""

    def gateway(self, service, start_unhealthy):
        server = GrpcServer()
        self.addCleanup(server.stop)
        cfg = ("listeners: [{ name: public, listen: 127.0.0.1:0, protocols: [h2, http1] }]\n"
               "routes: [{ name: grpc, upstream: grpc }]\n"
               "upstreams:\n"
               f"  - name: grpc\n    protocol: h2c\n    discovery: {{ static: [127.0.0.1:{server.port}] }}\n"
               f"    health_check: {{ grpc: {{ service: {service} }}, interval: 100ms, timeout: 5s, healthy_threshold: 1,"
               f" unhealthy_threshold: 1, start_unhealthy: {str(start_unhealthy).lower()} }}\n")
        gw = Gatehouse(cfg).start()
        self.addCleanup(gw.stop)
        return gw

    def test_serving_service_passes(self):
        gw = self.gateway("grpc.testing.TestService", True)
        self.assertTrue(gw.wait_for_log("passed its health checks"))

    def test_unknown_service_fails_with_its_grpc_status(self):
        gw = self.gateway("no.such.Service", False)
        self.assertTrue(gw.wait_for_log(r"failed its health checks \(grpc-status 5\)"))


if __name__ == "__main__":
    unittest.main()
