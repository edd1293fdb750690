"""Service discovery end to end: the real gatehouse binary with real sources (dnsmasq, etcd, a
watched file), real upstreams on loopback addresses, and real clients. Traffic moving to a new
set is awaited by polling requests until it has moved (bounded), never by sleeping."""
import json
import os
import re
import shutil
import threading
import time
import unittest

from harness import Gatehouse, NET_TIMEOUT, request, wait_until
from pki import Pki
from services import Dnsmasq, Etcd, refusing_port
from upstream import Upstream


def served_by(port, path="/echo", **kw):
    r = request(port, path=path, **kw)
    return r.status, r.headers.get("x-upstream")


def wait_ready(gw):
    return wait_until(lambda: gw.admin("GET", "/-/ready")[0] == 200)


def upstream_at(host, name, port=0):
    return Upstream(host=host, port=port, name=name).start_in_thread()


class Load:
    """Requests in a loop on one keep-alive-less client until stopped; counts what failed."""

    def __init__(self, port, path="/echo", method="GET", body=None):
        self.port, self.path, self.method, self.body = port, path, method, body
        self.ok = self.failed = 0
        self.by = {}
        self.errors = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        deadline = time.monotonic() + 120
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                r = request(self.port, self.method, self.path, body=self.body)
                if r.status == 200:
                    self.ok += 1
                    self.by[r.headers.get("x-upstream")] = self.by.get(r.headers.get("x-upstream"), 0) + 1
                else:
                    self.failed += 1
                    self.errors.append(r.status)
            except OSError as e:
                self.failed += 1
                self.errors.append(repr(e))

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(30)


class DnsDiscovery(unittest.TestCase):
    def setUp(self):
        self.dns = Dnsmasq()
        self.addCleanup(self.dns.cleanup)
        self.a = upstream_at("127.0.0.2", "a")
        self.addCleanup(self.a.stop)
        self.b = upstream_at("127.0.0.3", "b", self.a.port)  # A records carry no port: the same one on both
        self.addCleanup(self.b.stop)

    def gateway(self, dns_yaml, extra=""):
        gw = Gatehouse("routes: [{ name: all, upstream: svc }]\nupstreams:\n  - name: svc\n"
                       f"    discovery: {{ dns: {dns_yaml} }}\n{extra}").start()
        self.addCleanup(gw.stop)
        return gw

    def test_a_records_change_moves_traffic_and_an_outage_keeps_the_last_set(self):
        self.dns.set_hosts("127.0.0.2 orders.test\n")
        self.dns.start()
        gw = self.gateway(f"{{ name: orders.test, port: {self.a.port}, refresh: 1s, family: ipv4, resolvers: [127.0.0.1:{self.dns.port}] }}")
        self.assertTrue(wait_ready(gw))
        self.assertEqual(served_by(gw.port), (200, "a"))
        self.dns.set_hosts("127.0.0.3 orders.test\n")
        moved_at = time.monotonic()
        self.assertTrue(wait_until(lambda: served_by(gw.port) == (200, "b")))
        self.assertLess(time.monotonic() - moved_at, 10)
        status, ups = gw.admin("GET", "/upstreams")
        svc = ups["upstreams"][0]
        self.assertEqual(svc["discovery"]["provider"], "dns")
        self.assertEqual(svc["discovery"]["state"], "ok")
        self.assertEqual([e["address"] for e in svc["endpoints"]], [f"127.0.0.3:{self.a.port}"])
        # dnsmasq gone: the last set keeps serving, nothing fails
        self.dns.stop()
        self.assertTrue(gw.wait_for_log(r"upstream svc: discovery \(dns\) failed: .*keeping the last 1 endpoint"))
        results = [served_by(gw.port) for _ in range(30)]
        self.assertEqual(results, [(200, "b")] * 30)
        _, ups = gw.admin("GET", "/upstreams")
        self.assertEqual(ups["upstreams"][0]["discovery"]["state"], "stale")
        self.assertIsNotNone(ups["upstreams"][0]["discovery"]["last_error"])
        _, metrics = gw.admin("GET", "/metrics")
        self.assertRegex(metrics, r'gatehouse_discovery_updates_total\{upstream="svc",result="error"\} [1-9]')
        self.assertRegex(metrics, r'gatehouse_upstream_endpoints\{upstream="svc"\} 1')

    def test_srv_priority_and_weight(self):
        c = upstream_at("127.0.0.4", "c")
        self.addCleanup(c.stop)
        self.dns.set_hosts("127.0.0.2 a.pay.test\n127.0.0.3 b.pay.test\n127.0.0.4 c.pay.test\n")
        name = "_http._tcp.pay.test"
        self.dns.start(srv=[(name, "a.pay.test", self.a.port, 10, 1), (name, "b.pay.test", self.b.port, 10, 3), (name, "c.pay.test", c.port, 20, 1)])
        gw = self.gateway(f"{{ srv: {name}, refresh: 1s, resolvers: [127.0.0.1:{self.dns.port}] }}", "    load_balancer: weighted\n")
        self.assertTrue(wait_ready(gw))
        counts = {}
        for _ in range(80):
            st, who = served_by(gw.port)
            self.assertEqual(st, 200)
            counts[who] = counts.get(who, 0) + 1
        self.assertEqual(counts, {"a": 20, "b": 60})  # priority 20 unused while 10 has endpoints; weights 1:3
        # the priority-10 records go away (dnsmasq restarted: SRV records come from its command line)
        self.dns.stop()
        self.dns.start(srv=[(name, "c.pay.test", c.port, 20, 1)])
        self.assertTrue(wait_until(lambda: served_by(gw.port) == (200, "c")))

    def test_a_name_that_never_resolves_is_503_and_not_ready(self):
        self.dns.set_hosts("127.0.0.2 other.test\n")
        self.dns.start()
        gw = self.gateway(f"{{ name: missing.test, port: {self.a.port}, refresh: 1s, resolvers: [127.0.0.1:{self.dns.port}] }}")
        st, body = gw.admin("GET", "/-/ready")
        self.assertEqual(st, 503)
        self.assertIn("discovery", body)
        r = request(gw.port, path="/echo")
        self.assertEqual(r.status, 503)
        self.assertIn(b"no endpoints available for upstream 'svc'", r.body)
        self.dns.set_hosts("127.0.0.2 missing.test\n")
        self.assertTrue(wait_until(lambda: served_by(gw.port) == (200, "a")))
        self.assertEqual(gw.admin("GET", "/-/ready")[0], 200)


class EtcdDiscovery(unittest.TestCase):
    def setUp(self):
        self.etcd = Etcd().start()
        self.addCleanup(self.etcd.cleanup)
        self.a = upstream_at("127.0.0.1", "a")
        self.b = upstream_at("127.0.0.1", "b")
        self.c = upstream_at("127.0.0.1", "c")
        for u in (self.a, self.b, self.c):
            self.addCleanup(u.stop)

    def test_changes_flow_under_load_survive_compaction_and_outages(self):
        prefix = "/services/inventory/"
        self.etcd.put(prefix + "a", f"127.0.0.1:{self.a.port}")
        self.etcd.put("/services/other/x", "127.0.0.1:1")  # outside the prefix: ignored
        gw = Gatehouse("routes: [{ name: all, upstream: inv }]\nupstreams:\n  - name: inv\n"
                       f"    discovery: {{ etcd: {{ endpoints: [{self.etcd.url}], prefix: {prefix} }} }}\n", workers=2).start()
        self.addCleanup(gw.stop)
        self.assertTrue(wait_ready(gw))
        self.assertEqual(served_by(gw.port), (200, "a"))
        with Load(gw.port) as load:
            self.etcd.put(prefix + "b", json.dumps({"address": f"127.0.0.1:{self.b.port}", "weight": 2}))
            self.etcd.delete(prefix + "a")
            self.assertTrue(wait_until(lambda: load.by.get("b", 0) > 0 and served_by(gw.port) == (200, "b")))
            rev = self.etcd.put(prefix + "bad", "not an address")  # refused, logged, left out
            self.etcd.compact(rev)
            self.etcd.put(prefix + "c", f"127.0.0.1:{self.c.port}")
            self.assertTrue(wait_until(lambda: "c" in {served_by(gw.port)[1] for _ in range(4)}))
        self.assertEqual(load.failed, 0, load.errors[:5])
        self.assertGreater(load.ok, 0)
        self.assertTrue(gw.has_log(r"etcd key /services/inventory/bad: expected host:port"))
        _, ups = gw.admin("GET", "/upstreams")
        eps = {e["address"]: e for e in ups["upstreams"][0]["endpoints"]}
        self.assertEqual(set(eps), {f"127.0.0.1:{self.b.port}", f"127.0.0.1:{self.c.port}"})
        self.assertEqual(eps[f"127.0.0.1:{self.b.port}"]["weight"], 2)
        self.assertEqual(eps[f"127.0.0.1:{self.b.port}"]["source"], "etcd " + prefix + "b")

        # etcd killed: the last set keeps serving
        with Load(gw.port) as load:
            self.etcd.stop()
            self.assertTrue(gw.wait_for_log(r"upstream inv: discovery \(etcd\) failed"))
            before = load.ok
            self.assertTrue(wait_until(lambda: load.ok > before + 20))
        self.assertEqual(load.failed, 0, load.errors[:5])
        _, ups = gw.admin("GET", "/upstreams")
        self.assertEqual(ups["upstreams"][0]["discovery"]["state"], "stale")
        # etcd back (same data): changes flow again
        self.etcd.start()
        self.assertTrue(gw.wait_for_log(r"upstream inv: discovery \(etcd\) recovered"))
        self.etcd.delete(prefix + "b")
        self.assertTrue(wait_until(lambda: all(served_by(gw.port)[1] == "c" for _ in range(4))))


class EtcdOverTls(unittest.TestCase):
    def test_https_with_client_certificate_after_an_unreachable_first_endpoint(self):
        pki = Pki()
        self.addCleanup(shutil.rmtree, pki.dir, True)
        pki.issue("etcd", "127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth")
        etcd = Etcd(tls=(pki.path("ca.pem"), pki.path("etcd.pem"), pki.path("etcd.key"))).start()
        self.addCleanup(etcd.cleanup)
        a = upstream_at("127.0.0.1", "a")
        self.addCleanup(a.stop)
        prefix = "/services/secure/"
        etcd.put(prefix + "a", f"127.0.0.1:{a.port}")
        dead = f"https://127.0.0.1:{refusing_port()}"  # the provider moves on to the next
        gw = Gatehouse("routes: [{ name: all, upstream: sec }]\nupstreams:\n  - name: sec\n"
                       f"    discovery: {{ etcd: {{ endpoints: [{dead}, {etcd.url}], prefix: {prefix},\n"
                       f"      ca: {pki.path('ca.pem')}, cert: {pki.path('client1.pem')}, key: {pki.path('client1.key')} }} }}\n").start()
        self.addCleanup(gw.stop)
        self.assertTrue(wait_ready(gw))
        self.assertEqual(served_by(gw.port), (200, "a"))
        b = upstream_at("127.0.0.1", "b")
        self.addCleanup(b.stop)
        etcd.put(prefix + "b", f"127.0.0.1:{b.port}")  # the watch streams over the same TLS connection
        etcd.delete(prefix + "a")
        self.assertTrue(wait_until(lambda: served_by(gw.port) == (200, "b")))

    def test_a_certificate_from_another_ca_is_refused_and_nothing_served(self):
        pki, other = Pki(), Pki()
        for p in (pki, other):
            self.addCleanup(shutil.rmtree, p.dir, True)
        pki.issue("etcd", "127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth")
        etcd = Etcd(tls=(pki.path("ca.pem"), pki.path("etcd.pem"), pki.path("etcd.key"))).start()
        self.addCleanup(etcd.cleanup)
        etcd.put("/services/secure/a", "127.0.0.1:1")
        gw = Gatehouse("routes: [{ name: all, upstream: sec }]\nupstreams:\n  - name: sec\n"
                       f"    discovery: {{ etcd: {{ endpoints: [{etcd.url}], prefix: /services/secure/, ca: {other.path('ca.pem')} }} }}\n").start()
        self.addCleanup(gw.stop)
        self.assertTrue(gw.wait_for_log(r"upstream sec: discovery \(etcd\) failed.*(certificate|handshake)"))
        status, _ = served_by(gw.port)
        self.assertEqual(status, 503)


class FileDiscovery(unittest.TestCase):
    def setUp(self):
        self.a = upstream_at("127.0.0.1", "a")
        self.b = upstream_at("127.0.0.1", "b")
        self.addCleanup(self.a.stop)
        self.addCleanup(self.b.stop)

    def start(self, gw_dir_file):
        gw = Gatehouse("routes: [{ name: all, upstream: search }]\nupstreams:\n  - name: search\n"
                       f"    discovery: {{ file: {{ path: {gw_dir_file} }} }}\n    load_balancer: weighted\n").start()
        self.addCleanup(gw.stop)
        return gw

    def write(self, path, text):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, path)

    def test_rename_in_place_edit_symlink_swap_and_invalid_files(self):
        d = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"gatehouse-eps-{os.getpid()}")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "search.yaml")
        self.write(path, f"- 127.0.0.1:{self.a.port}\n")
        gw = self.start(path)
        self.assertTrue(wait_ready(gw))
        self.assertEqual(served_by(gw.port), (200, "a"))
        self.write(path, f'[{{"address": "127.0.0.1:{self.b.port}"}}]\n')  # JSON, by rename
        self.assertTrue(wait_until(lambda: served_by(gw.port) == (200, "b")))
        with open(path, "w") as f:  # in place
            f.write(f"endpoints:\n  - 127.0.0.1:{self.a.port}\n")
        self.assertTrue(wait_until(lambda: served_by(gw.port) == (200, "a")))
        # invalid: refused with file:line:col, the last set stays
        with open(path, "w") as f:
            f.write(f"- 127.0.0.1:{self.b.port}\n- {{ address: 127.0.0.1, weight: 2 }}\n")
        self.assertTrue(gw.wait_for_log(re.escape(path) + r":2:\d+: \[1\]: expected host:port"))
        self.assertEqual([served_by(gw.port) for _ in range(5)], [(200, "a")] * 5)
        # a ConfigMap-style symlink swap
        real = os.path.join(d, "v2.yaml")
        with open(real, "w") as f:
            f.write(f"- 127.0.0.1:{self.b.port}\n")
        os.symlink(real, path + ".new")
        os.rename(path + ".new", path)
        self.assertTrue(wait_until(lambda: served_by(gw.port) == (200, "b")))
        self.assertTrue(gw.has_log(r"discovery \(file\) recovered"))

    def test_endpoint_that_stays_keeps_its_connection_and_a_removed_ones_request_completes(self):
        d = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"gatehouse-eps2-{os.getpid()}")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "search.yaml")
        self.write(path, f"- 127.0.0.1:{self.a.port}\n")
        gw = self.start(path)
        self.assertTrue(wait_ready(gw))
        self.assertEqual(served_by(gw.port), (200, "a"))
        self.assertEqual(self.a.stats.connections, 1)
        # b joins with weight 3: a stays, and its pooled connection with it
        self.write(path, f"- 127.0.0.1:{self.a.port}\n- {{ address: 127.0.0.1:{self.b.port}, weight: 3 }}\n")
        self.assertTrue(wait_until(lambda: served_by(gw.port)[1] == "b"))
        for _ in range(8):
            served_by(gw.port)
        self.assertGreater(self.a.stats.requests, 1)
        self.assertEqual(self.a.stats.connections, 1)  # the same keep-alive connection all along
        # a request in flight on a when a leaves the set completes
        result = {}
        t = threading.Thread(target=lambda: result.update(r=request(gw.port, path="/delay?ms=1500")))
        before = self.a.stats.requests + self.b.stats.requests
        t.start()
        self.assertTrue(self.a.wait_for(lambda st: st.paths and st.paths[-1].startswith("/delay")) or
                        self.b.wait_for(lambda st: st.paths and st.paths[-1].startswith("/delay")))
        self.write(path, f"- 127.0.0.1:{self.b.port}\n" if self.a.stats.paths[-1].startswith("/delay") else f"- 127.0.0.1:{self.a.port}\n")
        t.join(NET_TIMEOUT)
        self.assertEqual(result["r"].status, 200)
        self.assertGreater(self.a.stats.requests + self.b.stats.requests, before)


class IdleClosingUpstream(unittest.TestCase):
    """An upstream that closes idle keep-alive connections (Node.js does after 5 s) must never
    turn into errors, also for requests with bodies."""

    def run_load(self, header):
        up = upstream_at("127.0.0.1", "idle")
        up.idle_close = 0.3
        up.keep_alive_header = header
        self.addCleanup(up.stop)
        gw = Gatehouse("routes: [{ name: all, upstream: u }]\n", upstreams={"u": [up]}).start()
        self.addCleanup(gw.stop)
        self.assertTrue(wait_ready(gw))
        errors = []

        def client(n, seed):
            import random
            rnd = random.Random(seed)
            for i in range(n):
                method = "PUT" if i % 2 else "POST"
                try:
                    r = request(gw.port, method, "/echo", body=b"x" * rnd.randint(1, 4000))
                    if r.status != 200:
                        errors.append(r.status)
                except OSError as e:
                    errors.append(repr(e))
                time.sleep(rnd.uniform(0.1, 0.6))  # load shape: idle gaps around the upstream's timeout

        threads = [threading.Thread(target=client, args=(40, s)) for s in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        self.assertGreater(up.stats.closed, 5)  # the upstream really did close idle connections

    def test_post_and_put_load_against_idle_closing_upstream(self):
        self.run_load(header=False)

    def test_keep_alive_timeout_header_is_honoured(self):
        self.run_load(header=True)



if __name__ == "__main__":
    unittest.main()
