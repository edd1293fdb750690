"""Prometheus metrics (checked by promtool, counted exactly, bounded labels), the access log and
W3C trace context, through the real binary."""
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from harness import Gatehouse, GatewayTestCase, connect, read_response, request, upstream
from services import refusing_port


def parse_metrics(text):
    """{(name, frozenset(labels)): value} for every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
        pairs = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels))
        out[(name, pairs)] = value
    return out


def sample(metrics, name, **labels):
    """The sum of the series of `name` whose labels include `labels` (others, like protocol, summed over)."""
    want = set(labels.items())
    return sum(v for (n, l), v in metrics.items() if n == name and want <= l)


class Metrics(GatewayTestCase):
    config = """
        routes:
          - { name: ok, match: { path: /ok }, respond: { status: 200, body: ok } }
          - { name: gone, match: { path: /gone }, respond: { status: 410 } }
          - { name: api, match: { path_prefix: /api }, rewrite: { strip_prefix: /api }, upstream: u }
    """
    workers = 2

    def scrape(self):
        status, text = self.gw.admin("GET", "/metrics")
        self.assertEqual(status, 200)
        return text

    def test_promtool_accepts_the_output_after_traffic(self):
        for p in ("/ok", "/gone", "/api/echo", "/nothing"):
            request(self.gw.port, path=p)
        text = self.scrape()
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool (Debian package prometheus) is installed by .ci/install-deps")
        r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.strip() + r.stderr.strip(), "")  # not even a lint warning

    def test_counters_match_what_was_sent(self):
        before = parse_metrics(self.scrape())
        for _ in range(7):
            request(self.gw.port, path="/ok")
        for _ in range(3):
            request(self.gw.port, path="/gone")
        for _ in range(5):
            request(self.gw.port, "POST", "/api/echo", body=b"12345")
        for _ in range(2):
            request(self.gw.port, path="/unrouted")
        # A worker records a request just after its last byte is written, so the client can be
        # a moment ahead: scrape until the last figures arrive (bounded), then check them all.
        delta = lambda name, **l: sample(after, name, **l) - sample(before, name, **l)
        deadline = time.monotonic() + 10
        while True:
            after = parse_metrics(self.scrape())
            settled = (delta("gatehouse_http_requests_total", code="404", method="GET", route="(unmatched)") >= 2
                       and delta("gatehouse_upstream_requests_total", code="200", upstream="u") >= 5
                       and sample(after, "gatehouse_upstream_pool_connections", state="active", upstream="u") == 0)
            if settled or time.monotonic() > deadline:
                break
        self.assertEqual(delta("gatehouse_http_requests_total", code="200", method="GET", route="ok"), 7)
        self.assertEqual(delta("gatehouse_http_requests_total", code="410", method="GET", route="gone"), 3)
        self.assertEqual(delta("gatehouse_http_requests_total", code="200", method="POST", route="api"), 5)
        self.assertEqual(delta("gatehouse_http_requests_total", code="404", method="GET", route="(unmatched)"), 2)
        self.assertEqual(delta("gatehouse_http_request_duration_seconds_count", route="ok"), 7)
        self.assertEqual(delta("gatehouse_upstream_requests_total", code="200", upstream="u"), 5)
        self.assertEqual(delta("gatehouse_upstream_request_duration_seconds_count", upstream="u"), 5)
        self.assertEqual(delta("gatehouse_downstream_connections_total", listener="public"), 17)
        self.assertGreaterEqual(delta("gatehouse_http_request_bytes_total", route="api"), 5 * 5)
        self.assertEqual(sample(after, "gatehouse_upstream_pool_connections", state="active", upstream="u"), 0)
        self.assertGreaterEqual(sample(after, "gatehouse_upstream_pool_connections", state="idle", upstream="u"), 1)
        self.assertEqual(sample(after, "gatehouse_build_info", version=sample_version(after)), 1)
        self.assertGreater(sample(after, "process_resident_memory_bytes"), 0)
        self.assertGreater(sample(after, "process_open_fds"), 0)
        allocated, heap = sample(after, "gatehouse_memory_allocated_bytes"), sample(after, "gatehouse_memory_heap_bytes")
        if os.environ.get("GATEHOUSE_SANITIZED", "") not in ("1", "ON", "TRUE", "true"):  # ASan's allocator is not malloc's
            self.assertGreater(allocated, 1 << 20)  # the snapshot, pools, buffers: more than a MiB
            self.assertGreaterEqual(heap, allocated)
            self.assertLessEqual(heap, sample(after, "process_virtual_memory_bytes"))

    def test_open_connections_gauge(self):
        s = connect(self.gw.port)
        s.sendall(b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
        read_response(s.makefile("rb"))
        before = sample(parse_metrics(self.scrape()), "gatehouse_downstream_connections", listener="public")
        t = connect(self.gw.port)
        t.sendall(b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
        read_response(t.makefile("rb"))
        self.assertEqual(sample(parse_metrics(self.scrape()), "gatehouse_downstream_connections", listener="public"), before + 1)
        t.close()
        s.close()
        deadline = time.monotonic() + 10  # closed: the gauge comes down again (the session ends asynchronously)
        while sample(parse_metrics(self.scrape()), "gatehouse_downstream_connections", listener="public") > before - 1:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.02)

    def test_random_paths_and_methods_create_no_new_series(self):
        request(self.gw.port, "FROB", "/warm")  # the OTHER method and unmatched route exist once
        request(self.gw.port, "GET", "/warm")
        unmatched = lambda m: sum(v for (n, l), v in m.items() if n == "gatehouse_http_requests_total" and ("route", "(unmatched)") in l)
        def settled_scrape(predicate):
            # requests are recorded just after their response is sent: wait for them (bounded)
            deadline = time.monotonic() + 10
            while True:
                m = parse_metrics(self.scrape())
                if predicate(m) or time.monotonic() > deadline:
                    return m
        warm = lambda m: sample(m, "gatehouse_http_requests_total", code="404", method="OTHER", route="(unmatched)") >= 1 and \
            sample(m, "gatehouse_http_requests_total", code="404", method="GET", route="(unmatched)") >= 1
        # Earlier tests' last requests are counted just after their answers went out: take the
        # baseline once two scrapes agree (bounded), so none of them lands in this test's count.
        prev, deadline = None, time.monotonic() + 10
        while True:
            m0 = settled_scrape(warm)
            if (prev is not None and unmatched(m0) == unmatched(prev)) or time.monotonic() > deadline:
                break
            prev = m0
            time.sleep(0.05)
        before = {k for k in m0 if k[0].startswith("gatehouse_http")}
        rnd = random.Random(7)
        for i in range(300):
            method = rnd.choice(["GET", "FROB", "X%d" % i, "PROPFIND", "GeT"])
            path = "/" + "".join(rnd.choice("abcdefgh/") for _ in range(12)) + f"?q={i}"
            request(self.gw.port, method, path)
        m1 = settled_scrape(lambda m: unmatched(m) >= unmatched(m0) + 300)
        self.assertEqual(unmatched(m1), unmatched(m0) + 300)
        after = {k for k in m1 if k[0].startswith("gatehouse_http")}
        self.assertEqual(after - before, set())


def sample_version(metrics):
    for (name, labels), _ in metrics.items():
        if name == "gatehouse_build_info":
            return dict(labels)["version"]
    return None


class ReloadMetrics(unittest.TestCase):
    def test_failed_reload_is_counted(self):
        with Gatehouse("reload: { watch: false }\nroutes: [{ name: a, respond: { status: 200 } }]\n") as gw:
            gw.write_config("routes: [")
            self.assertEqual(gw.reload()[0], 400)
            m = parse_metrics(gw.admin("GET", "/metrics")[1])
            self.assertEqual(sample(m, "gatehouse_config_reloads_total", result="failure"), 1)
            self.assertEqual(sample(m, "gatehouse_config_reloads_total", result="success"), 1)  # the start
            self.assertEqual(sample(m, "gatehouse_config_generation"), 1)
            self.assertGreater(sample(m, "gatehouse_config_last_reload_success_timestamp_seconds"), 1.7e9)


class AccessLog(unittest.TestCase):
    def run_gateway(self, access_log, extra_routes="", requests=()):
        self.up = upstream("u")
        self.addCleanup(self.up.stop)
        d = tempfile.mkdtemp(prefix="gatehouse-log-")
        path = os.path.join(d, "access.log")
        gw = Gatehouse(f"""
            access_log: {access_log.replace("PATH", path)}
            routes:
              - {{ name: quiet, match: {{ path: /health }}, respond: {{ status: 200 }}, access_log: false }}
{extra_routes}
              - {{ name: api, upstream: u }}
        """, upstreams={"u": [self.up]}, workers=2).start()
        responses = [request(gw.port, *r[:2], headers=r[2] if len(r) > 2 else None) for r in requests]
        gw.stop()  # a graceful stop flushes the log: no waiting on the writer
        with open(path) as f:
            return [line for line in f.read().splitlines()], responses, d

    def test_a_stuck_log_drops_whole_batches_counts_them_and_never_holds_requests(self):
        """The log's reader stops reading (a full disk, a stuck pipe): the writer thread blocks, its
        queue (queue_size batches) fills, and the oldest batches are dropped and counted; requests
        are answered all the while."""
        d = tempfile.mkdtemp(prefix="gatehouse-log-")
        fifo = os.path.join(d, "access.fifo")
        os.mkfifo(fifo)
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # there, so gatehouse's open does not wait; unread for now
        self.addCleanup(os.close, reader)
        up = upstream("u")
        self.addCleanup(up.stop)
        gw = Gatehouse(f"""
            access_log: {{ path: {fifo}, queue_size: 16 }}
            routes: [{{ name: api, upstream: u }}]
        """, upstreams={"u": [up]}, workers=1).start()
        total = 4000
        s = connect(gw.port)
        f = s.makefile("rb")
        for batch in range(total // 100):  # pipelined, 100 at a time
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n" * 100)
            for _ in range(100):
                self.assertEqual(read_response(f).status, 200)
        s.close()
        deadline = time.monotonic() + 10
        while sample(parse_metrics(gw.admin("GET", "/metrics")[1]), "gatehouse_access_log_dropped_total") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        dropped = sample(parse_metrics(gw.admin("GET", "/metrics")[1]), "gatehouse_access_log_dropped_total")
        self.assertGreater(dropped, 0)
        self.assertEqual(dropped % 32, 0, "counted in whole batches of 32 lines")
        # Now read everything: what the pipe held, the queue, and what the stop flushes.
        data = bytearray()
        os.set_blocking(reader, True)
        pump = threading.Thread(target=lambda: [data.extend(c) for c in iter(lambda: os.read(reader, 65536), b"")])
        pump.start()
        gw.stop()
        pump.join(30)
        lines = data.count(b"\n")
        self.assertLess(lines, total, "some lines were dropped")
        self.assertGreaterEqual(lines + dropped, total, "every line written or counted as dropped")
        # A batch handed over at the worker's tick may hold fewer than 32 lines but counts 32.
        self.assertLessEqual(lines + dropped, total + 31 * (dropped // 32), "a dropped batch holds 1 to 32 lines")

    def test_json_lines_carry_the_fields(self):
        lines, responses, _ = self.run_gateway(
            "{ path: PATH, include_query: true }",
            requests=[("GET", "/echo?x=1", {"User-Agent": "tester/1.0"}), ("GET", "/health"), ("POST", "/echo")])
        self.assertEqual(len(lines), 2)  # /health is not logged
        # Workers write their own lines: across workers, lines are not in request order.
        entries = sorted((json.loads(l) for l in lines), key=lambda e: e["method"])
        first = entries[0]
        self.assertEqual(first["method"], "GET")
        self.assertEqual(first["path"], "/echo")
        self.assertEqual(first["query"], "x=1")
        self.assertEqual(first["status"], 200)
        self.assertEqual(first["route"], "api")
        self.assertEqual(first["upstream"], "u")
        self.assertEqual(first["upstream_address"], f"127.0.0.1:{self.up.port}")
        self.assertEqual(first["client"], "127.0.0.1")
        self.assertEqual(first["user_agent"], "tester/1.0")
        self.assertRegex(first["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertGreater(first["duration_ms"], 0)
        self.assertGreaterEqual(first["duration_ms"], first["upstream_duration_ms"])
        self.assertGreater(first["response_bytes"], 0)
        upstream_headers = dict(responses[0].json()["headers"])
        self.assertEqual(first["request_id"], upstream_headers["X-Request-Id"])
        self.assertEqual(first["trace_id"], upstream_headers["traceparent"].split("-")[1])
        self.assertEqual(entries[1]["method"], "POST")

    def test_field_list_text_format_and_sampling(self):
        lines, _, _ = self.run_gateway("{ path: PATH, format: text, fields: [method, path, status] }",
                                       requests=[("GET", "/echo"), ("DELETE", "/x")])
        self.assertEqual(sorted(lines), ["DELETE /x 200", "GET /echo 200"])
        lines, _, _ = self.run_gateway("{ path: PATH, sample: 0 }", requests=[("GET", "/echo")] * 5)
        self.assertEqual(lines, [])

    def test_rotation(self):
        requests = [("GET", f"/echo?n={i}") for i in range(40)]
        lines, _, d = self.run_gateway("{ path: PATH, include_query: true, rotate: { max_size: 2KiB, max_files: 3 } }", requests=requests)
        files = sorted(os.listdir(d))
        self.assertIn("access.1.log", files)
        self.assertLessEqual(len(files), 4)  # the live file and at most max_files rotated ones
        seen = [json.loads(line)["query"] for line in lines]  # every line whole JSON
        for name in files:
            if name != "access.log":
                with open(os.path.join(d, name)) as f:
                    seen += [json.loads(line)["query"] for line in f.read().splitlines()]
        # Rotation moved the lines, it did not lose or repeat any (fewer rotations than max_files:
        # the writer rotates per flushed batch, so nothing was old enough to be dropped).
        if len(files) < 4:
            self.assertEqual(sorted(int(q.split("=")[1]) for q in seen), list(range(40)))


class WorkerLogs(unittest.TestCase):
    def test_an_outage_logs_one_line_per_cause_per_second_with_a_count(self):
        dead = refusing_port()
        with Gatehouse(f"""
            workers: 1
            routes: [{{ name: r, upstream: gone }}]
            upstreams: [{{ name: gone, discovery: {{ static: [127.0.0.1:{dead}] }} }}]
        """) as gw:
            c = connect(gw.port)
            f = c.makefile("rb")
            def one():
                c.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                self.assertEqual(read_response(f).status, 502)
            for _ in range(300):
                one()
            line = f"connect to 127.0.0.1:{dead} failed"
            # 300 failures, far fewer lines: one per second at most (the run above takes a few).
            self.assertLessEqual(gw.log().count(line), 5)
            # The next line of the cause says how many were folded into it.
            deadline = time.monotonic() + 20
            while not re.search(re.escape(line) + r".*\((\d+) more like this since the last line\)", gw.log()):
                self.assertLess(time.monotonic(), deadline)
                one()
            folded = sum(int(n) for n in re.findall(re.escape(line) + r".*\((\d+) more like this", gw.log()))
            self.assertGreater(folded, 250)
            c.close()


class TraceContext(GatewayTestCase):
    config = "routes: [{ name: api, upstream: u }]\n"

    def upstream_headers(self, headers):
        return dict(request(self.gw.port, path="/echo", headers=headers).json()["headers"])

    def test_propagates_the_trace_with_a_new_parent(self):
        incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        h = self.upstream_headers({"traceparent": incoming, "tracestate": "vendor=abc"})
        version, trace, parent, flags = h["traceparent"].split("-")
        self.assertEqual((version, trace, flags), ("00", "0af7651916cd43dd8448eb211c80319c", "01"))
        self.assertNotEqual(parent, "b7ad6b7169203331")
        self.assertRegex(parent, r"^[0-9a-f]{16}$")
        self.assertEqual(h["tracestate"], "vendor=abc")

    def test_starts_a_trace_when_absent_or_invalid(self):
        # Sampled (flag 01) by default (tracing.sample: 100%, the OpenTelemetry SDK's default):
        # a trace gatehouse starts is recorded downstream too. test_tracing covers other ratios.
        a = self.upstream_headers({})["traceparent"]
        b = self.upstream_headers({})["traceparent"]
        self.assertRegex(a, r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")
        self.assertNotEqual(a.split("-")[1], b.split("-")[1])
        h = self.upstream_headers({"traceparent": "00-XYZ-nope-01", "tracestate": "orphan=1"})
        self.assertRegex(h["traceparent"], r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")
        self.assertNotIn("tracestate", h)  # it belonged to a trace we could not continue


if __name__ == "__main__":
    unittest.main()
