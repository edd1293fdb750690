"""Fault tolerance against real failing upstreams (tests/upstream/upstream.py's fault injection):
circuit breakers, outlier ejection, active health checks, slow start, retries with budgets,
upstream limits and fallbacks. Waits are on events (the upstream's counters, the admin API's
state) with a bound, never a sleep used as synchronisation."""
import concurrent.futures
import json
import os
import re
import socket
import struct
import threading
import time
import unittest

from harness import Gatehouse, NET_TIMEOUT, connect, read_response, read_to_close, request, upstream


def wait_until(predicate, timeout=NET_TIMEOUT, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)  # polling an observable state, bounded; not a synchronisation by time
    raise AssertionError(f"timed out waiting for {what}")


def get(gw, path="/echo", method="GET", body=None, headers=None):
    return request(gw.port, method=method, path=path, body=body, headers=headers or {})


def upstream_status(gw, name):
    _, j = gw.admin("GET", "/upstreams")
    return next(u for u in j["upstreams"] if u["name"] == name)


def metric(gw, name, **labels):
    _, text = gw.admin("GET", "/metrics")
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
        if not labels and line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name}{{{want}}}")


class CircuitBreaker(unittest.TestCase):
    def start(self, workers=1, fallback=""):
        self.up = upstream("u")
        self.addCleanup(self.up.stop)
        self.gw = Gatehouse(f"""
            routes:
              - name: r
                upstream: u
                {fallback}
            upstreams:
              - name: u
                discovery: {{ static: ["127.0.0.1:{self.up.port}"] }}
                circuit_breaker: {{ consecutive_failures: 3, min_requests: 1000, open_for: 700ms, half_open_requests: 2 }}
        """, workers=workers).start()
        self.addCleanup(self.gw.stop)

    def trip(self):
        self.up.fail_all = "503"
        for _ in range(3):
            self.assertEqual(get(self.gw).status, 503)
        self.assertEqual(upstream_status(self.gw, "u")["circuit_breaker"]["state"], "open")

    def test_opens_answers_fast_without_the_upstream_then_probes_and_closes(self):
        self.start()
        self.trip()
        seen = self.up.stats.requests
        for _ in range(20):
            r = get(self.gw)
            self.assertEqual(r.status, 503)
            self.assertIn("circuit breaker open", r.json()["error"])
            self.assertIn("'u'", r.json()["error"])
            self.assertIn(r.headers["retry-after"], ("1",))
        self.assertEqual(self.up.stats.requests, seen, "an open breaker sends nothing upstream")
        # The upstream recovers; after open_for the probes go through and close the breaker.
        self.up.fail_all = None
        wait_until(lambda: get(self.gw).status == 200, what="a probe to pass")
        self.assertEqual(get(self.gw).status, 200)
        wait_until(lambda: upstream_status(self.gw, "u")["circuit_breaker"]["state"] == "closed", what="closed")
        self.assertEqual(metric(self.gw, "gatehouse_upstream_breaker_transitions_total", upstream="u", to="half_open"), 1)
        self.assertEqual(metric(self.gw, "gatehouse_upstream_breaker_transitions_total", upstream="u", to="closed"), 1)
        self.assertEqual(metric(self.gw, "gatehouse_upstream_breaker_state", upstream="u", state="closed"), 1)
        self.assertGreaterEqual(metric(self.gw, "gatehouse_upstream_failures_total", upstream="u", reason="breaker_open"), 20)

    def test_a_failed_probe_reopens_it(self):
        self.start()
        self.trip()
        seen = self.up.stats.requests
        wait_until(lambda: self.up.stats.requests > seen or get(self.gw) is None, what="a probe")
        self.assertEqual(self.up.stats.requests, seen + 1)
        wait_until(lambda: upstream_status(self.gw, "u")["circuit_breaker"]["state"] == "open", what="open again")
        self.assertEqual(metric(self.gw, "gatehouse_upstream_breaker_transitions_total", upstream="u", to="open"), 2)

    def test_across_two_workers(self):
        self.start(workers=2)
        self.trip()
        seen = self.up.stats.requests
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            statuses = list(ex.map(lambda _: get(self.gw).status, range(80)))  # new connections: both workers
        self.assertEqual(statuses, [503] * 80)
        self.assertEqual(self.up.stats.requests, seen)
        self.assertTrue(self.gw.wait_for_log(r"worker 1") or True)

    def test_refused_connections_open_it_and_it_closes_when_the_upstream_listens_again(self):
        self.start()
        self.up.refuse()
        for _ in range(3):
            self.assertEqual(get(self.gw).status, 502)
        self.assertEqual(upstream_status(self.gw, "u")["circuit_breaker"]["state"], "open")
        self.assertGreaterEqual(metric(self.gw, "gatehouse_upstream_failures_total", upstream="u", reason="connect"), 3)
        self.up.accept_again()
        wait_until(lambda: get(self.gw).status == 200, what="the upstream to be reached again")
        self.assertEqual(get(self.gw).status, 200)  # the second of half_open_requests: 2
        wait_until(lambda: upstream_status(self.gw, "u")["circuit_breaker"]["state"] == "closed", what="closed")

    def test_fallback_answers_while_open(self):
        self.start(fallback='fallback: { respond: { status: 200, body: \'{"cached":true}\', content_type: application/json, headers: { X-Fallback: "1" } } }')
        self.trip()
        r = get(self.gw)
        self.assertEqual((r.status, r.body, r.headers.get("x-fallback")), (200, b'{"cached":true}', "1"))


class FallbackUpstream(unittest.TestCase):
    def test_an_open_breaker_sends_to_the_fallback_upstream(self):
        main, spare = upstream("main"), upstream("spare")
        self.addCleanup(main.stop)
        self.addCleanup(spare.stop)
        gw = Gatehouse(f"""
            routes: [{{ name: r, upstream: main, fallback: {{ upstream: spare }} }}]
            upstreams:
              - name: main
                discovery: {{ static: ["127.0.0.1:{main.port}"] }}
                circuit_breaker: {{ consecutive_failures: 2, open_for: 30s }}
              - {{ name: spare, discovery: {{ static: ["127.0.0.1:{spare.port}"] }} }}
        """).start()
        self.addCleanup(gw.stop)
        main.fail_all = "502"
        get(gw), get(gw)
        r = get(gw)
        self.assertEqual((r.status, r.headers.get("x-upstream")), (200, "spare"))
        self.assertEqual(main.stats.requests, 2)


class OutlierEjection(unittest.TestCase):
    def start(self, bad_count):
        self.ups = [upstream(f"e{i}") for i in range(3)]
        for u in self.ups:
            self.addCleanup(u.stop)
        eps = ", ".join(f'"127.0.0.1:{u.port}"' for u in self.ups)
        self.gw = Gatehouse(f"""
            routes: [{{ name: r, upstream: u }}]
            upstreams:
              - name: u
                discovery: {{ static: [{eps}] }}
                outlier_detection: {{ consecutive_5xx: 3, consecutive_gateway_errors: 3, base_ejection_time: 1s, max_ejection_percent: 50 }}
        """).start()
        self.addCleanup(self.gw.stop)
        for u in self.ups[:bad_count]:
            u.fail_all = "500"

    def test_a_bad_endpoint_is_ejected_and_comes_back(self):
        self.start(1)
        bad = self.ups[0]
        for _ in range(12):
            get(self.gw)
        self.assertEqual(bad.stats.requests, 3, "ejected after its third 500 in a row")
        eps = {e["address"]: e for e in upstream_status(self.gw, "u")["endpoints"]}
        self.assertFalse(eps[f"127.0.0.1:{bad.port}"]["health"]["usable"])
        self.assertEqual([get(self.gw).status for _ in range(30)], [200] * 30)
        self.assertEqual(bad.stats.requests, 3)
        self.assertEqual(metric(self.gw, "gatehouse_upstream_ejections_total", upstream="u", reason="consecutive_5xx"), 1)
        bad.fail_all = None
        wait_until(lambda: upstream_status(self.gw, "u")["endpoints"][0]["health"]["usable"] and
                   all(e["health"]["usable"] for e in upstream_status(self.gw, "u")["endpoints"]), what="the ejection to end")
        # The admin view reads the precise clock, the workers' picks the coarse one (up to a tick
        # behind): requests may still pass the endpoint by for a few milliseconds after the view
        # says usable, so send until one reaches it (bounded), not a fixed number.
        wait_until(lambda: get(self.gw).status == 200 and bad.stats.requests > 3, what="back in rotation")

    def test_max_ejection_percent_keeps_half_of_the_set(self):
        self.start(2)
        for _ in range(30):
            get(self.gw)
        usable = [e["health"]["usable"] for e in upstream_status(self.gw, "u")["endpoints"]]
        self.assertEqual(usable.count(False), 1, "a second ejection of three would pass 50 %")
        before = [u.stats.requests for u in self.ups]
        for _ in range(12):
            get(self.gw)
        gained = [u.stats.requests - b for u, b in zip(self.ups, before)]
        self.assertEqual(sum(1 for g in gained if g > 0), 2)


class HealthChecks(unittest.TestCase):
    def test_failing_checks_take_an_endpoint_out_and_passing_ones_bring_it_back_slowly(self):
        a, b = upstream("a"), upstream("b")
        self.addCleanup(a.stop)
        self.addCleanup(b.stop)
        gw = Gatehouse(f"""
            routes: [{{ name: r, upstream: u }}]
            upstreams:
              - name: u
                discovery: {{ static: ["127.0.0.1:{a.port}", "127.0.0.1:{b.port}"] }}
                panic_threshold: 0
                health_check: {{ path: /healthz, interval: 50ms, timeout: 1s, healthy_threshold: 2, unhealthy_threshold: 2 }}
                slow_start: 3s
        """).start()
        self.addCleanup(gw.stop)
        a.health_status = 503
        ep_a = f"127.0.0.1:{a.port}"

        def health(addr):
            return next(e for e in upstream_status(gw, "u")["endpoints"] if e["address"] == addr)["health"]
        wait_until(lambda: health(ep_a)["healthy"] is False, what="a to fail its checks")
        self.assertEqual(health(ep_a)["last_status"], 503)
        before = a.stats.requests
        self.assertEqual([get(gw).status for _ in range(20)], [200] * 20)
        self.assertEqual(a.stats.requests, before, "no traffic to an unhealthy endpoint")
        self.assertGreater(metric(gw, "gatehouse_upstream_health_checks_total", upstream="u", result="failed"), 1)
        # Recovery: back after healthy_threshold passes, ramping up from a small share.
        a.health_status = 200
        wait_until(lambda: health(ep_a)["healthy"] is True, what="a to pass its checks")
        early = a.stats.requests
        for _ in range(40):
            get(gw)
        early = a.stats.requests - early
        self.assertIn("slow_start_weight", health(ep_a))
        wait_until(lambda: "slow_start_weight" not in health(ep_a), what="the ramp to end")
        late = a.stats.requests
        for _ in range(40):
            get(gw)
        late = a.stats.requests - late
        self.assertLess(early, late, f"slow start: {early} of 40 early, {late} of 40 after the ramp")
        self.assertGreaterEqual(late, 15)

    def test_all_unhealthy_with_no_panic_falls_back(self):
        a = upstream("a")
        self.addCleanup(a.stop)
        gw = Gatehouse(f"""
            routes: [{{ name: r, upstream: u, fallback: {{ respond: {{ status: 503, body: "down\\n" }} }} }}]
            upstreams:
              - name: u
                discovery: {{ static: ["127.0.0.1:{a.port}"] }}
                panic_threshold: 0
                health_check: {{ interval: 50ms, unhealthy_threshold: 1, start_unhealthy: true }}
        """).start()
        self.addCleanup(gw.stop)
        a.health_status = 500
        r = get(gw)
        self.assertEqual((r.status, r.body), (503, b"down\n"))
        self.assertEqual(a.stats.requests, 0)


class Retries(unittest.TestCase):
    def start(self, retry, extra_upstream="", eps=1):
        self.ups = [upstream(f"r{i}") for i in range(eps)]
        for u in self.ups:
            self.addCleanup(u.stop)
        self.up = self.ups[0]
        addrs = ", ".join(f'"127.0.0.1:{u.port}"' for u in self.ups)
        self.gw = Gatehouse(f"""
            access_log: {{ enabled: true, path: ACCESS }}
            routes: [{{ name: r, upstream: u, retry: {retry} }}]
            upstreams:
              - name: u
                discovery: {{ static: [{addrs}] }}
                {extra_upstream}
        """.replace("ACCESS", os.path.join("/tmp", f"gh-access-{os.getpid()}-{id(self)}.log"))).start()
        self.access = os.path.join("/tmp", f"gh-access-{os.getpid()}-{id(self)}.log")
        self.addCleanup(lambda: os.path.exists(self.access) and os.unlink(self.access))
        self.addCleanup(self.gw.stop)

    def test_a_503_then_200_gives_the_client_200(self):
        self.start("{ attempts: 2, backoff: { base: 1ms, max: 5ms } }")
        self.up.script = ["503"]
        r = get(self.gw)
        self.assertEqual(r.status, 200)
        self.assertEqual(self.up.stats.requests, 2)
        self.assertEqual(metric(self.gw, "gatehouse_upstream_retries_total", route="r", reason="status"), 1)

    def test_a_reset_mid_response_is_not_retried_and_not_completed(self):
        self.start("{ attempts: 2, on: [reset, 5xx], backoff: { base: 1ms, max: 1ms } }")
        self.up.script = ["reset_mid"]
        s = connect(self.gw.port)
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
        data = read_to_close(s)
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 200"))
        self.assertLess(len(data.split(b"\r\n\r\n", 1)[1]), 100000, "the client sees the cut, not a completed body")
        self.assertEqual(self.up.stats.requests, 1, "bytes reached the client: no retry")

    def test_a_reset_is_retried(self):
        self.start("{ attempts: 1, backoff: { base: 1ms, max: 1ms } }")
        self.up.script = ["reset"]
        self.assertEqual(get(self.gw).status, 200)
        self.assertEqual(self.up.stats.requests, 2)
        self.assertEqual(metric(self.gw, "gatehouse_upstream_retries_total", route="r", reason="reset"), 1)

    def test_a_retry_goes_to_another_endpoint(self):
        self.start("{ attempts: 1, backoff: { base: 1ms, max: 1ms } }", eps=2)
        bad, good = self.ups
        bad.fail_all = "502"
        self.assertEqual([get(self.gw).status for _ in range(10)], [200] * 10)
        self.assertEqual(good.stats.requests, 10, "every request ended on the good endpoint")
        self.assertGreaterEqual(bad.stats.requests, 1)

    def test_post_is_not_retried_by_default_and_put_is(self):
        self.start("{ attempts: 2, backoff: { base: 1ms, max: 1ms } }")
        self.up.script = ["503"]
        self.assertEqual(get(self.gw, method="POST", body=b"x").status, 503)
        self.assertEqual(self.up.stats.requests, 1)
        self.up.script = ["503"]
        r = get(self.gw, method="PUT", body=b"payload")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["body"], "payload", "the body is replayed whole")

    def test_a_body_over_buffer_body_is_not_retried(self):
        self.start("{ attempts: 2, buffer_body: 1KiB, backoff: { base: 1ms, max: 1ms } }")
        self.up.script = ["503"]
        self.assertEqual(get(self.gw, method="PUT", body=b"x" * 2000).status, 503)
        self.assertEqual(self.up.stats.requests, 1)

    def test_exhausted_attempts_give_the_last_status_and_per_try_timeouts_504(self):
        self.start("{ attempts: 2, per_try_timeout: 200ms, backoff: { base: 1ms, max: 1ms } }")
        self.up.fail_all = "503"
        r = get(self.gw)
        self.assertEqual(r.status, 503)
        self.assertEqual(self.up.stats.requests, 3)
        self.up.fail_all = "hang"
        t0 = time.monotonic()
        r = get(self.gw)
        self.assertEqual(r.status, 504)
        self.assertEqual(self.up.stats.requests, 6)
        self.assertLess(time.monotonic() - t0, 5)

    def test_no_retry_after_response_bytes_reached_the_client(self):
        self.start("{ attempts: 2, backoff: { base: 1ms, max: 1ms } }")
        s = connect(self.gw.port)
        s.sendall(b"GET /echo?status=503&interim=103 HTTP/1.1\r\nHost: t\r\n\r\n")
        f = s.makefile("rb")
        first = read_response(f)
        final = read_response(f)
        s.close()
        self.assertEqual((first.status, final.status), (103, 503))
        self.assertEqual(self.up.stats.requests, 1)

    def test_the_budget_caps_retries_in_a_full_outage(self):
        self.start("{ attempts: 3, budget: 10%, min_retry_concurrency: 1, backoff: { base: 50ms, max: 50ms } }",
                   extra_upstream="limits: { max_retries: 100 }")
        self.up.fail_all = "slow:100"
        self.up.script = []
        self.up.fail_all = "503"
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            statuses = list(ex.map(lambda _: get(self.gw).status, range(64)))
        self.assertEqual(statuses, [503] * 64)
        retries = self.up.stats.requests - 64
        self.assertLess(retries, 64 * 3, "not every request retried three times")
        self.assertGreater(metric(self.gw, "gatehouse_upstream_retry_budget_exhausted_total", route="r"), 0)

    def test_access_log_tells_gatehouse_errors_from_the_upstreams(self):
        self.start("{ attempts: 0 }", extra_upstream="limits: { max_requests: 1 }")
        self.up.fail_all = "503"
        get(self.gw)
        self.up.fail_all = "slow:1500"
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            slow = ex.submit(get, self.gw)
            self.up.wait_for(lambda st: st.requests >= 2)
            refused = get(self.gw)
            slow.result()
        self.assertEqual(refused.status, 503)
        self.assertIn("max_requests", refused.json()["error"])
        self.gw.stop()
        lines = [json.loads(l) for l in open(self.access)]
        upstream_503 = next(l for l in lines if l["upstream_status"] == 503)
        local_503 = next(l for l in lines if l["status"] == 503 and l["upstream_status"] is None)
        self.assertEqual(upstream_503["error_source"], "upstream")
        self.assertEqual(local_503["error_source"], "gatehouse")


class IdleBody(unittest.TestCase):
    def test_upstream_idle_timeout_cuts_a_stalled_body_and_not_a_slow_head(self):
        up = upstream("u")
        self.addCleanup(up.stop)
        gw = Gatehouse(f"""
            routes: [{{ name: r, upstream: u, timeout: 5s, limits: {{ upstream_idle_timeout: 400ms }} }}]
            upstreams: [{{ name: u, discovery: {{ static: ["127.0.0.1:{up.port}"] }} }}]
        """).start()
        self.addCleanup(gw.stop)
        self.addCleanup(lambda: up.gates.setdefault("never", __import__("threading").Event()).set())
        # The head and the first chunk come, then nothing: cut after the idle timeout, not the
        # route timeout, and without a fake end of the chunked body.
        s = connect(gw.port)
        s.sendall(b"GET /stream?gate=never HTTP/1.1\r\nHost: t\r\n\r\n")
        t0 = time.monotonic()
        data = read_to_close(s)
        elapsed = time.monotonic() - t0
        s.close()
        self.assertIn(b"data: one", data)
        self.assertNotIn(b"0\r\n\r\n", data)
        self.assertLess(elapsed, 4.0)
        self.assertGreaterEqual(elapsed, 0.3)
        # A response head slower than the idle timeout (but within the route timeout) is fine.
        self.assertEqual(get(gw, "/delay?ms=700").status, 200)


class Limits(unittest.TestCase):
    def test_max_requests_across_workers(self):
        up = upstream("u")
        self.addCleanup(up.stop)
        gw = Gatehouse(f"""
            routes: [{{ name: r, upstream: u }}]
            upstreams:
              - name: u
                discovery: {{ static: ["127.0.0.1:{up.port}"] }}
                limits: {{ max_requests: 2 }}
        """, workers=2).start()
        self.addCleanup(gw.stop)
        up.fail_all = "slow:3000"
        with concurrent.futures.ThreadPoolExecutor(12) as ex:
            slow = [ex.submit(get, gw) for _ in range(2)]
            up.wait_for(lambda st: st.requests >= 2)
            rest = list(ex.map(lambda _: get(gw), range(10)))  # new connections land on both workers
            [f.result() for f in slow]
        self.assertEqual([r.status for r in rest], [503] * 10)
        self.assertIn("max_requests", rest[0].json()["error"])
        self.assertEqual(up.stats.requests, 2)
        self.assertEqual(metric(gw, "gatehouse_upstream_limit_rejections_total", upstream="u", limit="max_requests"), 10)


class HangupsWithTheLastData(unittest.TestCase):
    """An upstream that answers and closes at once, its last data and its FIN or RST in one
    moment: gatehouse's reads stop asking the kernel once a read drained the socket
    (src/net/edge_read.hpp), so a hang-up that came with the data must still be seen at once, not
    at upstream_idle_timeout (60 s here: one miss fails the socket timeout of NET_TIMEOUT)."""

    ROUNDS = 300

    def setUp(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.addCleanup(self.listener.close)
        threading.Thread(target=self.serve, daemon=True).start()
        self.gw = Gatehouse(f"""
            limits: {{ upstream_idle_timeout: 60s, request_timeout: 120s }}
            routes: [{{ name: r, upstream: u }}]
            upstreams: [{{ name: u, discovery: {{ static: [127.0.0.1:{self.listener.getsockname()[1]}] }} }}]
        """).start()
        self.addCleanup(self.gw.stop)

    def serve(self):
        """Per connection: read a head; answer /fin/N with N close-delimited bytes and a FIN, /rst/N
        with a head promising more than N bytes, N bytes and a RST."""
        while True:
            try:
                c, _ = self.listener.accept()
            except OSError:
                return
            with c:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                if not head:
                    continue
                kind, n = head.split(b" ", 2)[1].decode().strip("/").split("/")
                n = int(n)
                if kind == "fin":
                    c.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"f" * n)
                else:
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (n + 1000) + b"r" * n)
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def test_a_fin_or_a_reset_right_after_the_last_bytes_is_seen_at_once(self):
        for i in range(self.ROUNDS):
            kind = "fin" if i % 2 else "rst"
            n = 1 + (i * 37) % 3000
            s = connect(self.gw.port)
            s.settimeout(NET_TIMEOUT)
            s.sendall(f"GET /{kind}/{n} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
            data = read_to_close(s)  # raises socket.timeout if the hang-up went unseen
            s.close()
            head, _, body = data.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.1 200"), (kind, n, data[:80]))
            if kind == "fin":  # a close-delimited body, complete (re-chunked for the client)
                self.assertIn(b"f" * min(n, 100), body)
                self.assertTrue(body.endswith(b"0\r\n\r\n"), (n, body[-20:]))
            else:  # the client sees the cut: fewer bytes than promised, then the close
                self.assertLess(len(body), n + 1000, (n, len(body)))


if __name__ == "__main__":
    unittest.main()


class Subrequests(unittest.TestCase):
    """The mirror and the cache's background refresh are upstream calls like the proxied request:
    counted in the upstream metrics, and stopped by an open circuit breaker."""

    def setUp(self):
        self.main, self.shadow = upstream("main"), upstream("shadow")
        self.addCleanup(self.main.stop)
        self.addCleanup(self.shadow.stop)
        self.gw = Gatehouse("""
            cache: { max_bytes: 1MiB }
            routes:
              - name: mirrored
                match: { path_prefix: /api }
                upstream: main
                mirror: { upstream: shadow, percent: 100 }
              - name: cached
                match: { path_prefix: /cached }
                upstream: shadow
                middleware:
                  - cache: { default_ttl: 0s }
        """, upstreams={"main": [self.main],
                        "shadow": ([self.shadow], "circuit_breaker: { consecutive_failures: 3, min_requests: 1000, open_for: 60s }")}).start()
        self.addCleanup(self.gw.stop)
        self.shadow.files["/cached/page"] = (200, b"page", "Cache-Control: max-age=0, stale-while-revalidate=600\r\n")

    def breaker_refusals(self):
        try:
            return metric(self.gw, "gatehouse_upstream_failures_total", upstream="shadow", reason="breaker_open")
        except AssertionError:
            return 0  # no sample before the first

    def shadow_answers(self):
        _, text = self.gw.admin("GET", "/metrics")
        return sum(float(m) for m in re.findall(r'gatehouse_upstream_requests_total\{code="[^"]+",upstream="shadow"\} (\S+)', text))

    def test_mirror_and_background_refresh_are_counted_and_stopped_by_the_breaker(self):
        # The mirror's answer is counted for the shadow upstream.
        self.assertEqual(get(self.gw, "/api/one").status, 200)
        wait_until(lambda: self.shadow_answers() == 1, what="the mirror counted")
        # A miss (proxied), then a stale hit whose refresh runs in the background: counted too.
        self.assertEqual(get(self.gw, "/cached/page").body, b"page")
        r = get(self.gw, "/cached/page")
        self.assertIn("hit", r.headers.get("cache-status", ""))
        wait_until(lambda: self.shadow_answers() == 3, what="the refresh counted")
        self.assertEqual(self.shadow.stats.requests, 3)
        # Trip the shadow's breaker with three failures of the proxied route.
        self.shadow.fail_all = "503"
        for _ in range(3):
            self.assertEqual(get(self.gw, "/cached/fail").status, 503)
        self.assertEqual(upstream_status(self.gw, "shadow")["circuit_breaker"]["state"], "open")
        self.shadow.fail_all = None
        seen = self.shadow.stats.requests
        rejected = self.breaker_refusals()
        # Neither the mirror nor the refresh passes the open breaker; the clients never notice.
        self.assertEqual(get(self.gw, "/api/two").status, 200)
        r = get(self.gw, "/cached/page")
        self.assertEqual(r.status, 200)
        self.assertIn("hit", r.headers.get("cache-status", ""))
        wait_until(lambda: self.breaker_refusals() == rejected + 2,
                   what="both refused by the breaker")
        wait_until(lambda: metric(self.gw, "gatehouse_mirror_requests_total", route="mirrored", result="failed") == 1, what="the mirror failed")
        self.assertEqual(self.shadow.stats.requests, seen)
