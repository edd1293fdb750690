"""The command line (check, --version, --help) and graceful shutdown on SIGTERM."""
import os
import signal
import socket
import subprocess
import tempfile
import unittest

from harness import BIN, Gatehouse, connect, read_response, request, upstream


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=30)


class CommandLine(unittest.TestCase):
    def write(self, text):
        fd, path = tempfile.mkstemp(suffix=".yaml")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        self.addCleanup(os.unlink, path)
        return path

    def test_version_and_help(self):
        self.assertRegex(run("--version").stdout, r"^gatehouse \d+\.\d+\.\d+")
        self.assertIn("gatehouse check FILE", run("--help").stdout)
        self.assertEqual(run("--bogus").returncode, 2)

    def test_check_accepts_the_default_config(self):
        here = os.path.dirname(os.path.abspath(__file__))
        r = run("check", os.path.join(here, "..", "..", "config", "gatehouse.yaml"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("OK", r.stdout)

    def test_check_reports_every_problem_with_position(self):
        path = self.write("listeners:\n  - name: p\n    listen: 127.0.0.1:1\n    lisen: x\nroutes:\n  - name: r\n    upstream: nope\n")
        r = run("check", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"{path}:4:5: listeners[0].lisen: unknown key 'lisen' (did you mean 'listen'?)", r.stderr)
        self.assertIn(f"{path}:6:5: routes[0].upstream: no upstream named 'nope'", r.stderr)

    def test_bad_config_refuses_to_start(self):
        path = self.write("routes: [")
        r = subprocess.run([BIN, "--config", path], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("YAML syntax error", r.stderr)


class Shutdown(unittest.TestCase):
    def test_sigterm_lets_in_flight_requests_finish_then_exits_0(self):
        up = upstream("u")
        gw = Gatehouse("""
            drain: { timeout: 10s }
            routes: [{ name: all, upstream: u }]
        """, upstreams={"u": [up]}, workers=2).start()
        try:
            # An idle keep-alive connection, and one with a request in flight.
            idle = connect(gw.port)
            idle.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
            idle_f = idle.makefile("rb")
            self.assertEqual(read_response(idle_f).status, 200)
            busy = connect(gw.port)
            busy.sendall(b"GET /delay?ms=1000 HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertTrue(up.wait_for(lambda st: "/delay?ms=1000" in st.paths))
            gw.signal(signal.SIGTERM)
            self.assertTrue(gw.wait_for_log(r"(?s)worker \d draining.*worker \d draining"))  # both workers
            # The idle connection is closed without a response...
            self.assertEqual(idle_f.read(), b"")
            # ...new connections are refused...
            with self.assertRaises(OSError):
                socket.create_connection(("127.0.0.1", gw.port), timeout=5).recv(1)
            # ...and the in-flight request completes, with Connection: close.
            r = read_response(busy.makefile("rb"))
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["connection"], "close")
            self.assertEqual(gw.wait(), 0)
            idle.close()
            busy.close()
        finally:
            gw.stop()
            up.stop()

    def test_a_failed_worker_closes_its_sockets_drains_the_rest_and_exits_70(self):
        os.environ["GATEHOUSE_TEST_HOOKS"] = "1"  # enables POST /-/test/worker-exception
        try:
            gw = Gatehouse("""
                workers: 2
                drain: { timeout: 5s }
                routes: [{ name: r, respond: { status: 200, body: ok } }]
            """).start()
        finally:
            del os.environ["GATEHOUSE_TEST_HOOKS"]
        try:
            kept = connect(gw.port)  # a keep-alive connection on some worker
            kept.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertEqual(read_response(kept.makefile("rb")).status, 200)
            status, _ = gw.admin("POST", "/-/test/worker-exception")
            self.assertEqual(status, 202)
            self.assertTrue(gw.wait_for_log(r"worker 0 stopped by an exception: injected"))
            self.assertTrue(gw.wait_for_log(r"worker 0 failed: draining the other workers, then exiting with status 70"))
            kept.close()
            self.assertEqual(gw.wait(), 70)
        finally:
            gw.stop()

    def test_without_test_hooks_the_fault_endpoint_does_not_exist(self):
        with Gatehouse("routes: [{ name: r, respond: { status: 200 } }]\n") as gw:
            self.assertIn(gw.admin("POST", "/-/test/worker-exception")[0], (404, 405))
            self.assertEqual(request(gw.port).status, 200)  # nothing was injected
            self.assertFalse(gw.has_log("stopped by an exception"))

    def test_drain_timeout_bounds_shutdown(self):
        up = upstream("u")
        gw = Gatehouse("""
            drain: { timeout: 300ms }
            routes: [{ name: all, upstream: u }]
        """, upstreams={"u": [up]}).start()
        try:
            busy = connect(gw.port)
            busy.sendall(b"GET /hang HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertTrue(up.wait_for(lambda st: "/hang" in st.paths))
            gw.signal(signal.SIGTERM)
            self.assertEqual(gw.wait(), 0)
            self.assertTrue(gw.has_log("drain timeout reached"))
            busy.close()
        finally:
            gw.stop()
            up.stop()


if __name__ == "__main__":
    unittest.main()
