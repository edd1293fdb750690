"""Hot reload by every trigger, rejected configs, what survives a reload, readiness and draining,
and the binary upgrade handover, all against the real binary."""
import os
import signal
import socket
import tempfile
import threading
import time
import unittest

from harness import BIN, Gatehouse, connect, read_response, read_to_close, request, upstream

BASE = """
reload: {{ watch: {watch} }}
routes:
{routes}
"""


def config(routes, watch="false", extra=""):
    return extra + BASE.format(watch=watch, routes=routes)


ROUTE_A = "  - { name: a, match: { path: /a }, respond: { status: 200, body: A } }"
ROUTE_B = "  - { name: b, match: { path: /b }, respond: { status: 200, body: B } }"


class Triggers(unittest.TestCase):
    def start(self, watch="false"):
        self.gw = Gatehouse(config(ROUTE_A, watch)).start()
        self.addCleanup(self.gw.stop)
        self.assertEqual(request(self.gw.port, path="/a").body, b"A")
        self.assertEqual(request(self.gw.port, path="/b").status, 404)

    def switch_to_b(self):
        self.gw.write_config(Gatehouse.render(config(ROUTE_B, "true" if self.watching else "false")))

    def assert_b_serves(self):
        self.assertEqual(request(self.gw.port, path="/b").body, b"B")
        self.assertEqual(request(self.gw.port, path="/a").status, 404)

    def test_admin_post(self):
        self.watching = False
        self.start()
        self.switch_to_b()
        status, body = self.gw.reload()
        self.assertEqual(status, 200, body)
        self.assertEqual(body["generation"], 2)
        self.assert_b_serves()  # at once: the reload answers once every worker uses the new snapshot
        _, reloads = self.gw.admin("GET", "/reloads")
        self.assertEqual(reloads["attempts"][0]["trigger"], "admin")
        self.assertEqual(reloads["attempts"][0]["result"], "ok")

    def test_sighup(self):
        self.watching = False
        self.start()
        self.switch_to_b()
        self.gw.signal(signal.SIGHUP)
        self.assertTrue(self.gw.wait_for_log(r"config generation 2 loaded \(signal\)"))
        self.assert_b_serves()

    def test_file_replaced_by_rename(self):
        self.watching = True
        self.start(watch="true")
        self.switch_to_b()  # write a temporary file, rename it over the config
        self.assertTrue(self.gw.wait_for_log(r"config generation 2 loaded \(file\)"))
        self.assert_b_serves()

    def test_file_written_in_place(self):
        self.watching = True
        self.start(watch="true")
        with open(self.gw.config_path, "w") as f:
            f.write(Gatehouse.render(config(ROUTE_B, "true")))
        self.assertTrue(self.gw.wait_for_log(r"config generation 2 loaded \(file\)"))
        self.assert_b_serves()

    def test_kubernetes_configmap_symlink_swap(self):
        d = tempfile.mkdtemp(prefix="gatehouse-cm-")
        def publish(text, version):
            data = os.path.join(d, f"..{version}")
            os.mkdir(data)
            with open(os.path.join(data, "gatehouse.yaml"), "w") as f:
                f.write(text)
            tmp = os.path.join(d, "..data_tmp")
            os.symlink(f"..{version}", tmp)
            os.rename(tmp, os.path.join(d, "..data"))  # the atomic swap the kubelet does
        publish(Gatehouse.render(config(ROUTE_A, "true")), "v1")
        path = os.path.join(d, "gatehouse.yaml")
        os.symlink("..data/gatehouse.yaml", path)
        self.gw = Gatehouse(None, config_path=path).start()
        self.addCleanup(self.gw.stop)
        self.assertEqual(request(self.gw.port, path="/a").body, b"A")
        publish(Gatehouse.render(config(ROUTE_B, "true")), "v2")
        self.assertTrue(self.gw.wait_for_log(r"config generation 2 loaded \(file\)"))
        self.assert_b_serves()


class Rejected(unittest.TestCase):
    BAD = {
        "syntax": "routes: [ { name: x",
        "unknown_key": config("  - { name: a, match: { pth: /a }, respond: { status: 200 } }"),
        "missing_upstream": config("  - { name: a, match: { path: /a }, upstream: nowhere }"),
        "bad_regex": config("  - { name: a, match: { path_regex: '(' }, respond: { status: 200 } }"),
        "duplicate_route": config(ROUTE_A + "\n" + ROUTE_A),
    }

    def test_bad_configs_change_nothing_and_are_reported(self):
        with Gatehouse(config(ROUTE_A)) as gw:
            for name, text in self.BAD.items():
                with self.subTest(name):
                    gw.write_config(Gatehouse.render(text) if name != "syntax" else text)
                    status, body = gw.reload()
                    self.assertEqual(status, 400)
                    self.assertEqual(body["result"], "rejected")
                    self.assertRegex(body["error"], gw.config_path.replace(".", r"\.") + r":\d+:\d+: ")
                    self.assertEqual(body["generation"], 1)
                    self.assertEqual(request(gw.port, path="/a").body, b"A")  # the old config serves
                    _, reloads = gw.admin("GET", "/reloads")
                    self.assertEqual(reloads["attempts"][0]["result"], "rejected")
                    self.assertIn(":", reloads["attempts"][0]["error"])
                    self.assertEqual(gw.admin("GET", "/-/ready")[0], 200)
            self.assertTrue(gw.has_log(r"config reload \(admin\) rejected"))


class WhatSurvives(unittest.TestCase):
    def setUp(self):
        self.up = upstream("u")
        self.addCleanup(self.up.stop)

    def upstream_routes(self, extra_route=""):
        return config("  - { name: slow, match: { path_prefix: /delay }, upstream: u }\n"
                      "  - { name: u, match: { path_prefix: /u }, rewrite: { strip_prefix: /u }, upstream: u }\n" + extra_route)

    def gw_with(self, text):
        gw = Gatehouse(text, upstreams={"u": [self.up]}).start()
        self.addCleanup(gw.stop)
        return gw

    def test_pooled_upstream_connection_survives_an_unrelated_reload(self):
        gw = self.gw_with(self.upstream_routes())
        self.assertEqual(request(gw.port, path="/u/echo").status, 200)
        gw.write_config(Gatehouse.render(self.upstream_routes(ROUTE_B), upstreams={"u": [self.up]}))
        self.assertEqual(gw.reload()[0], 200)
        self.assertEqual(request(gw.port, path="/b").body, b"B")
        self.assertEqual(request(gw.port, path="/u/echo").status, 200)
        self.assertEqual(self.up.stats.connections, 1)  # the same pooled connection, before and after

    def test_changed_upstream_gets_new_pool_and_old_connections_close(self):
        gw = self.gw_with(self.upstream_routes())
        self.assertEqual(request(gw.port, path="/u/echo").status, 200)
        closed = self.up.stats.closed
        gw.write_config(Gatehouse.render(self.upstream_routes(), upstreams={"u": ([self.up], "pool: { max_connections: 7 }")}))
        self.assertEqual(gw.reload()[0], 200)
        self.assertTrue(self.up.wait_for(lambda st: st.closed > closed))  # the retired pool's idle connection
        self.assertEqual(request(gw.port, path="/u/echo").status, 200)

    def test_request_in_flight_finishes_on_its_snapshot(self):
        gw = self.gw_with(self.upstream_routes())
        s = connect(gw.port)
        s.sendall(b"GET /delay?ms=1000 HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertTrue(self.up.wait_for(lambda st: "/delay?ms=1000" in st.paths))
        gw.write_config(Gatehouse.render(config(ROUTE_B)))  # removes the route and the upstream
        self.assertEqual(gw.reload()[0], 200)
        self.assertEqual(request(gw.port, path="/delay?ms=1").status, 404)
        r = read_response(s.makefile("rb"))
        s.close()
        self.assertEqual(r.status, 200)

    def test_listeners_added_and_removed(self):
        gw = Gatehouse(config(ROUTE_A)).start()
        self.addCleanup(gw.stop)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        extra_port = probe.getsockname()[1]
        probe.close()
        two = f"listeners:\n  - {{ name: public, listen: 127.0.0.1:0 }}\n  - {{ name: extra, listen: 127.0.0.1:{extra_port} }}\n"
        gw.write_config(Gatehouse.render(config(ROUTE_A, extra=two)))
        self.assertEqual(gw.reload()[0], 200)
        self.assertEqual(request(extra_port, path="/a").body, b"A")
        self.assertEqual(request(gw.port, path="/a").body, b"A")  # the unchanged listener kept its socket
        gw.write_config(Gatehouse.render(config(ROUTE_A)))
        self.assertEqual(gw.reload()[0], 200)
        self.assertTrue(gw.wait_for_log("listener extra on 127.0.0.1:%d closed by reload" % extra_port))
        self.assertEqual(request(gw.port, path="/a").body, b"A")

    def test_admin_views(self):
        gw = self.gw_with(self.upstream_routes())
        self.assertEqual(request(gw.port, path="/u/echo").status, 200)
        status, routes = gw.admin("GET", "/routes")
        self.assertEqual(status, 200)
        self.assertEqual([r["name"] for r in routes], ["slow", "u"])
        status, cfg = gw.admin("GET", "/config")
        self.assertEqual(cfg["config"]["upstreams"][0]["name"], "u")
        # The worker returns the connection to the pool just after the client has its response:
        # ask until it has (bounded), rather than racing it.
        deadline = time.monotonic() + 10
        while True:
            status, ups = gw.admin("GET", "/upstreams")
            ep = ups["upstreams"][0]["endpoints"][0]
            if ep["idle"] == 1 or time.monotonic() > deadline:
                break
        self.assertEqual(ep["connections"], 1)
        self.assertEqual(ep["idle"], 1)
        self.assertEqual(ep["in_flight"], 0)


class Draining(unittest.TestCase):
    def test_readiness_flips_and_listeners_accept_during_drain_delay(self):
        gw = Gatehouse(config(ROUTE_A, extra="drain: { delay: 1500ms, timeout: 5s }\n")).start()
        try:
            self.assertEqual(gw.admin("GET", "/-/ready")[0], 200)
            keep = connect(gw.port)
            keep.sendall(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
            f = keep.makefile("rb")
            self.assertEqual(read_response(f).headers.get("connection"), None)
            gw.signal(signal.SIGTERM)
            self.assertTrue(gw.wait_for_log("draining"))
            self.assertEqual(gw.admin("GET", "/-/ready")[0], 503)
            self.assertEqual(gw.admin("GET", "/-/healthy")[0], 200)
            # Still accepting during the delay, but every response now closes its connection.
            r = request(gw.port, path="/a", headers={"Connection": "keep-alive"})
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["connection"], "close")
            keep.sendall(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
            r2 = read_response(f)
            self.assertIsNotNone(r2, gw.log())
            self.assertEqual(r2.headers["connection"], "close")
            self.assertEqual(f.read(), b"")
            keep.close()
            self.assertEqual(gw.wait(), 0)
        finally:
            gw.stop()


class Load:
    """Keeps requests flowing from several threads (keep-alive and fresh connections) and counts failures."""

    def __init__(self, port, threads=4):
        self.port, self.stop_flag, self.ok, self.failures, self.errors = port, False, 0, 0, []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i % 2 == 0,), daemon=True) for i in range(threads)]

    def run(self, keep_alive):
        s = f = None
        while not self.stop_flag:
            try:
                if s is None:
                    s = connect(self.port)
                    f = s.makefile("rb")
                s.sendall(b"GET /a HTTP/1.1\r\nHost: a\r\n" + (b"" if keep_alive else b"Connection: close\r\n") + b"\r\n")
                r = read_response(f)
                if r is None:
                    raise ConnectionError("closed without a response")
                if r.status != 200:
                    raise ConnectionError(f"status {r.status}")
                with self.lock:
                    self.ok += 1
                if not keep_alive or r.headers.get("connection") == "close":
                    s.close()
                    s = None
            except Exception as e:  # noqa: BLE001 - every failure counts
                with self.lock:
                    self.failures += 1
                    self.errors.append(repr(e))
                if s:
                    s.close()
                s = None
        if s:
            s.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag = True
        for t in self.threads:
            t.join(30)


class H2Load(Load):
    """The same over HTTP/2 (h2c): each thread keeps a connection with four streams in flight at a
    time. A stream the server refused (REFUSED_STREAM) or never processed (above the GOAWAY's last
    stream id) is retried on a new connection, as RFC 9113 §8.7 lets every client do; anything
    else is a failure."""

    def run(self, _keep_alive):
        from h2client import H2Client
        c = None
        while not self.stop_flag:
            try:
                if c is None or c.goaway is not None:
                    if c:
                        c.close()
                    c = H2Client(self.port)
                self.batch(c)
            except Exception as e:  # noqa: BLE001 - every failure counts
                with self.lock:
                    self.failures += 1
                    self.errors.append(repr(e))
                if c:
                    c.close()
                c = None
        if c:
            c.close()

    def batch(self, c):
        from h2client import ConnectionEnded, StreamReset
        sids, send_failed = [], False
        try:
            for _ in range(4):
                sids.append(c.send_request(path="/a", host="a"))
        except OSError:
            # The server closed after its GOAWAY and the streams it took (a drained process):
            # what was not sent is retried; what was sent is judged by the GOAWAY, read below.
            send_failed = True
        for sid in sids:
            try:
                r = c.response(sid)
            except StreamReset as e:
                if e.code != 7:
                    raise
                continue  # refused: never processed, retried
            except (ConnectionEnded, ConnectionError, OSError):
                if (c.goaway is not None and sid > c.goaway[1]) or (send_failed and c.goaway is None):
                    continue  # never processed, retried
                raise
            if r.status != 200:
                raise ConnectionError(f"status {r.status}")
            with self.lock:
                self.ok += 1
        if send_failed and c.goaway is None:
            c.goaway = (0, 0)  # gone either way: the next batch reconnects


def upgradable_gateway():
    """A gatehouse with two workers on a fixed port, ready for a binary upgrade: (process, upgrade socket, port)."""
    d = tempfile.mkdtemp(prefix="gatehouse-upgrade-")
    sock_path = os.path.join(d, "upgrade.sock")
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    text = config(ROUTE_A, extra=f"listeners: [{{ name: public, listen: 127.0.0.1:{port} }}]\nadmin: {{ listen: 127.0.0.1:0 }}\n")
    return Gatehouse(text, workers=2, args=["--upgrade-socket", sock_path]).start(), sock_path, port


class H2InFlight(unittest.TestCase):
    def test_reloads_under_h2_load_fail_no_stream(self):
        gw = Gatehouse(config(ROUTE_A)).start()
        self.addCleanup(gw.stop)
        with H2Load(gw.port) as load:
            for i in range(5):
                before = load.ok
                while load.ok < before + 200 and not load.failures:
                    time.sleep(0.01)  # pacing only: wait until the load is flowing
                gw.write_config(Gatehouse.render(config(ROUTE_A + ("\n" + ROUTE_B if i % 2 == 0 else ""))))
                self.assertEqual(gw.reload()[0], 200)
        self.assertEqual(load.failures, 0, load.errors[:5])
        self.assertGreater(load.ok, 1000)

    def test_binary_upgrade_under_h2_load_fails_no_stream(self):
        old, sock_path, port = upgradable_gateway()
        new = None
        try:
            with H2Load(port) as load:
                while load.ok < 500 and not load.failures:
                    time.sleep(0.01)  # pacing only: wait until the load is flowing
                new = Gatehouse(None, config_path=old.config_path, args=["--upgrade-socket", sock_path]).start()
                self.assertEqual(old.wait(), 0)  # drained (its h2 connections told GOAWAY) and gone
                before = load.ok
                while load.ok < before + 500 and not load.failures:
                    time.sleep(0.01)
            self.assertEqual(load.failures, 0, load.errors[:5])
        finally:
            old.stop()
            if new:
                new.stop()


class BinaryUpgrade(unittest.TestCase):
    def test_handover_under_load_fails_no_request(self):
        old, sock_path, port = upgradable_gateway()
        new = None
        try:
            with Load(port) as load:
                while load.ok < 1000:
                    time.sleep(0.01)  # pacing only: wait until the load is flowing
                new = Gatehouse(None, config_path=old.config_path, args=["--upgrade-socket", sock_path]).start()
                self.assertTrue(new.has_log("inherited"))
                self.assertEqual(old.wait(), 0)  # drained and gone
                before = load.ok
                while load.ok < before + 1000:
                    time.sleep(0.01)
            self.assertEqual(load.failures, 0, load.errors[:5])
            self.assertTrue(old.has_log("the new process is serving"))
            self.assertEqual(new.admin("GET", "/-/ready")[0], 200)
            # and the new process can be upgraded in turn
            newer = Gatehouse(None, config_path=old.config_path, args=["--upgrade-socket", sock_path]).start()
            self.assertEqual(new.wait(), 0)
            self.assertEqual(request(port, path="/a").body, b"A")
            newer.stop()
        finally:
            old.stop()
            if new:
                new.stop()


if __name__ == "__main__":
    unittest.main()
