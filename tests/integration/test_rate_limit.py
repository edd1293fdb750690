"""Rate limiting end to end: the real gatehouse binary (two workers, and two replicas sharing one
real redis-server), real clients on keep-alive connections. Accuracy is checked against what
GCRA must admit over the measured run time (rate x time + burst + 1), never against a sleep."""
import http.client
import json
import os
import re
import shutil
import tempfile
import threading
import time
import unittest

from harness import Gatehouse, NET_TIMEOUT, request, upstream
from services import Redis


def rate_limited_config(rate, burst, extra_mw="", store="", redis="", key="client_ip", name="per-client", route_extra=""):
    return (redis + "routes:\n  - name: api\n    upstream: u\n" + route_extra + "    middleware:\n" + extra_mw +
            f"      - rate_limit:\n          limits: [{{ name: {name}, key: {key}, rate: {rate}, burst: {burst} }}]\n" + store)


class Drive:
    """`threads` clients on keep-alive connections to one or more gateways, as fast as they can,
    for `seconds`; counts answers by status and keeps a 429 for its headers."""

    def __init__(self, ports, seconds, threads=4, headers=None):
        self.ports, self.seconds, self.threads, self.headers = ports, seconds, threads, headers or {}
        self.by_status, self.lock = {}, threading.Lock()
        self.refused_sample, self.max_latency = None, 0.0

    def _client(self, port, stop_at):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=NET_TIMEOUT)
        while time.monotonic() < stop_at:
            t0 = time.monotonic()
            conn.request("GET", "/echo", headers=self.headers)
            r = conn.getresponse()
            r.read()
            dt = time.monotonic() - t0
            with self.lock:
                self.by_status[r.status] = self.by_status.get(r.status, 0) + 1
                self.max_latency = max(self.max_latency, dt)
                if r.status == 429 and self.refused_sample is None:
                    self.refused_sample = dict(r.getheaders())
        conn.close()

    def run(self):
        start = time.monotonic()
        stop_at = start + self.seconds
        ts = [threading.Thread(target=self._client, args=(self.ports[i % len(self.ports)], stop_at)) for i in range(self.threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.elapsed = time.monotonic() - start
        return self


def metric(gw, name, **labels):
    _, text = gw.admin("GET", "/metrics")
    sel = ",".join(f'{k}="{v}"' for k, v in labels.items())
    m = re.search(re.escape(name) + r"\{" + re.escape(sel) + r"\} (\S+)", text)
    return float(m.group(1)) if m else None


class LocalLimits(unittest.TestCase):
    def setUp(self):
        self.up = upstream("u")
        self.addCleanup(self.up.stop)

    def gateway(self, config, workers=2):
        gw = Gatehouse(config, workers=workers, upstreams={"u": [self.up]}).start()
        self.addCleanup(gw.stop)
        return gw

    def test_remaining_is_true_and_the_429_carries_the_policy(self):
        gw = self.gateway(rate_limited_config("5/m", 2))
        seen = []
        for _ in range(3):
            r = request(gw.port, path="/echo")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["ratelimit-policy"], '"per-client";q=5;w=60')
            seen.append(int(re.search(r'"per-client";r=(\d+);t=(\d+)', r.headers["ratelimit"]).group(1)))
        self.assertEqual(seen, [2, 1, 0])
        r = request(gw.port, path="/echo")  # the request after r=0
        self.assertEqual(r.status, 429)
        self.assertIn(b"rate limit exceeded: per-client", r.body)
        self.assertEqual(re.search(r'r=(\d+)', r.headers["ratelimit"]).group(1), "0")
        self.assertGreaterEqual(int(r.headers["retry-after"]), 11)  # 5/m: the next one in 12 s
        self.assertLessEqual(int(r.headers["retry-after"]), 12)

    def test_accuracy_over_two_workers_at_well_over_the_rate(self):
        gw = self.gateway(rate_limited_config("100/s", 20))
        d = Drive([gw.port], 3.0, threads=6).run()
        admitted, refused = d.by_status.get(200, 0), d.by_status.get(429, 0)
        self.assertGreater(refused, admitted, "the clients must drive well over the limit")
        expected = 100 * d.elapsed + 21
        self.assertLess(abs(admitted - expected), 0.05 * expected, (admitted, expected, d.by_status))
        self.assertEqual(set(d.by_status), {200, 429})
        self.assertIn("retry-after", {k.lower() for k in d.refused_sample})
        self.assertEqual(metric(gw, "gatehouse_rate_limit_decisions_total", route="api", limit="per-client", result="allowed"), admitted)

    def test_keys_by_header_and_composite_and_consumer(self):
        api_key = ("      - api_key:\n          keys: [{ consumer: alice, sha256: "
                   "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90 }, { consumer: bob, sha256: "
                   "81b637d8fcd2c6da6359e6963113a1170de795e4b725b84d1e0b4cfd9ec58ce9 }]\n")  # sha256("alice"), sha256("bob")
        gw = self.gateway(rate_limited_config("2/m", 0, extra_mw=api_key, key="consumer"))
        alice, bob = {"X-Api-Key": "alice"}, {"X-Api-Key": "bob"}
        self.assertEqual(request(gw.port, path="/echo", headers=alice).status, 200)
        self.assertEqual(request(gw.port, path="/echo", headers=alice).status, 429)
        self.assertEqual(request(gw.port, path="/echo", headers=bob).status, 200, "a key of its own")
        gw2 = self.gateway(rate_limited_config("2/m", 0, key="[{ header: X-Tenant }, client_ip]"))
        t1, t2 = {"X-Tenant": "one"}, {"X-Tenant": "two"}
        self.assertEqual(request(gw2.port, path="/echo", headers=t1).status, 200)
        self.assertEqual(request(gw2.port, path="/echo", headers=t1).status, 429)
        self.assertEqual(request(gw2.port, path="/echo", headers=t2).status, 200)
        self.assertEqual(request(gw2.port, path="/echo").status, 200, "no X-Tenant: the limit does not apply")
        self.assertEqual(request(gw2.port, path="/echo").status, 200)
        _, st = gw2.admin("GET", "/rate_limits?key=one%1f127.0.0.1")
        self.assertEqual(st["limits"][0]["state"]["remaining"], 0)
        self.assertEqual(st["limits"][0]["keys_tracked"], 2)

    def test_key_by_a_claim_of_the_verified_token(self):
        from test_jwt import Tokens
        t = Tokens()
        self.addCleanup(t.close)
        key = t.keypair("ES256", "k1")
        d = tempfile.mkdtemp(prefix="gatehouse-rl-")
        self.addCleanup(shutil.rmtree, d, True)
        jwks = os.path.join(d, "jwks.json")
        with open(jwks, "w") as f:
            json.dump({"keys": [key["public"]]}, f)
        jwt_mw = "      - jwt: { provider: main }\n"
        gw = self.gateway(f"jwt_providers: [{{ name: main, jwks: {{ file: {jwks} }} }}]\n" +
                          rate_limited_config("2/m", 0, extra_mw=jwt_mw, key="{ claim: tenant }"))
        exp = int(time.time()) + 300

        def call(tenant):
            tok = t.sign("ES256", key["private"], {"sub": "u", "tenant": tenant, "exp": exp})
            return request(gw.port, path="/echo", headers={"Authorization": f"Bearer {tok}"}).status

        self.assertEqual(call("acme"), 200)
        self.assertEqual(call("acme"), 429, "a second token with the same tenant shares its limit")
        self.assertEqual(call("globex"), 200)

    def test_a_reload_that_leaves_the_limit_alone_keeps_its_counts(self):
        gw = self.gateway(rate_limited_config("1/m", 0))
        self.assertEqual(request(gw.port, path="/echo").status, 200)
        self.assertEqual(request(gw.port, path="/echo").status, 429)
        with open(gw.config_path) as f:
            text = f.read()
        text = text.replace("routes:\n  - name: api\n", "routes:\n  - name: other\n    match: { path_prefix: /other }\n"
                                                                               "    respond: { status: 204 }\n  - name: api\n")
        gw.write_config(text)
        status, body = gw.reload()
        self.assertEqual(body["result"], "ok", body)
        self.assertEqual(request(gw.port, path="/echo").status, 429, "the counter survived the reload")
        gw.write_config(text.replace("rate: 1/m", "rate: 2/m"))
        self.assertEqual(gw.reload()[1]["result"], "ok")
        self.assertEqual(request(gw.port, path="/echo").status, 200, "a changed limit starts afresh")

    def test_a_flood_of_distinct_keys_stays_within_the_cap(self):
        gw = self.gateway("routes:\n  - name: api\n    upstream: u\n    middleware:\n      - rate_limit:\n          limits: "
                          "[{ name: t, key: { header: X-K }, rate: 10/s, max_keys: 128 }]\n")
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=NET_TIMEOUT)
        for i in range(3000):
            conn.request("GET", "/echo", headers={"X-K": f"k{i}"})
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
        _, st = gw.admin("GET", "/rate_limits")
        lim = st["limits"][0]
        self.assertLessEqual(lim["keys_tracked"], lim["max_keys"])
        self.assertLessEqual(lim["max_keys"], 192)
        self.assertGreater(lim["key_cap_hits"], 0)
        self.assertGreater(metric(gw, "gatehouse_rate_limit_key_cap_hits_total", route="api", limit="t"), 0)


class SharedLimits(unittest.TestCase):
    def setUp(self):
        self.redis = Redis(password="s3cret").start()
        self.addCleanup(self.redis.cleanup)
        self.up = upstream("u")
        self.addCleanup(self.up.stop)
        self.pw = self.redis.dir + "/pass"
        with open(self.pw, "w") as f:
            f.write("s3cret\n")

    def replicas(self, n, rate, burst, on_error="local", timeout="50ms"):
        redis = f"redis:\n  - {{ name: shared, address: 127.0.0.1:{self.redis.port}, password_file: {self.pw}, timeout: {timeout} }}\n"
        cfg = rate_limited_config(rate, burst, redis=redis, store=f"          store: shared\n          on_store_error: {on_error}\n")
        gws = []
        for _ in range(n):
            gw = Gatehouse(cfg, workers=2, upstreams={"u": [self.up]}).start()
            self.addCleanup(gw.stop)
            gws.append(gw)
        return gws

    def test_two_replicas_enforce_one_global_limit(self):
        gws = self.replicas(2, "100/s", 20)
        d = Drive([g.port for g in gws], 3.0, threads=6).run()
        admitted = d.by_status.get(200, 0)
        expected = 100 * d.elapsed + 21
        self.assertGreater(d.by_status.get(429, 0), admitted)
        self.assertLess(abs(admitted - expected), 0.05 * expected, (admitted, expected, d.by_status))
        keys = self.redis.command("KEYS", "gatehouse:rl:*")
        self.assertEqual(keys, [b"gatehouse:rl:api:per-client:127.0.0.1"])
        for g in gws:
            self.assertEqual(metric(g, "gatehouse_redis_store_shared", store="shared"), 1.0)
            self.assertEqual(metric(g, "gatehouse_rate_limit_decisions_total", route="api", limit="per-client", result="fallback"), 0.0)

    def test_redis_killed_then_back_local_fallback_then_shared_again(self):
        gw, = self.replicas(1, "5/m", 1)
        self.assertEqual(request(gw.port, path="/echo").status, 200)
        self.assertEqual(request(gw.port, path="/echo").status, 200)
        self.assertEqual(request(gw.port, path="/echo").status, 429, "shared state: the third is refused")
        self.redis.stop()
        # The store is gone: every answer still comes, decided by this process alone.
        statuses = [request(gw.port, path="/echo").status for _ in range(12)]
        self.assertEqual(set(statuses) - {200, 429}, set(), statuses)
        self.assertIn(429, statuses, "still limited, by the local table")
        self.assertTrue(gw.wait_for_log(r"redis shared: \d+ failures in a row"))
        _, st = gw.admin("GET", "/rate_limits")
        self.assertEqual(st["stores"][0]["mode"], "fallback")
        self.assertGreater(metric(gw, "gatehouse_rate_limit_decisions_total", route="api", limit="per-client", result="fallback"), 0)
        self.redis.start()  # empty: a fresh shared state
        self.assertTrue(gw.wait_for_log(r"redis shared: answering again"))
        # Each worker's breaker closes on its own probe's answer: wait for the last of them.
        deadline = time.monotonic() + NET_TIMEOUT
        while gw.admin("GET", "/rate_limits")[1]["stores"][0]["mode"] != "shared" and time.monotonic() < deadline:
            gw.wait_for_log(r"(?s)answering again.*answering again", 0.2)
        self.assertEqual(gw.admin("GET", "/rate_limits")[1]["stores"][0]["mode"], "shared")
        self.assertEqual(request(gw.port, path="/echo").status, 200)
        self.assertEqual(self.redis.command("EXISTS", "gatehouse:rl:api:per-client:127.0.0.1"), 1, "shared mode resumed")

    def test_on_store_error_allow_and_deny(self):
        allow, = self.replicas(1, "1/m", 0, on_error="allow")
        self.redis.stop()
        self.assertEqual({request(allow.port, path="/echo").status for _ in range(5)}, {200})
        with open(allow.config_path) as f:
            deny = Gatehouse(f.read().replace("on_store_error: allow", "on_store_error: deny")).start()
        self.addCleanup(deny.stop)
        self.assertEqual({request(deny.port, path="/echo").status for _ in range(5)}, {429})

    def test_redis_paused_waits_at_most_the_timeout_then_not_at_all(self):
        gw, = self.replicas(1, "100000/s", 1000, timeout="100ms")
        self.assertEqual(request(gw.port, path="/echo").status, 200)
        self.redis.pause()
        self.addCleanup(self.redis.resume)
        d = Drive([gw.port], 1.5, threads=2).run()
        self.assertEqual(set(d.by_status), {200}, d.by_status)
        self.assertLess(d.max_latency, 1.0, "a paused Redis costs at most its timeout per request")
        self.assertTrue(gw.has_log(r"redis shared: \d+ failures in a row"))
        before = metric(gw, "gatehouse_rate_limit_decisions_total", route="api", limit="per-client", result="fallback")
        waited = metric(gw, "gatehouse_redis_commands_total", store="shared", result="timeout")
        d2 = Drive([gw.port], 0.5, threads=2).run()  # breaker open: no Redis wait at all
        self.assertEqual(set(d2.by_status), {200})
        after = metric(gw, "gatehouse_rate_limit_decisions_total", route="api", limit="per-client", result="fallback")
        self.assertEqual(after - before, d2.by_status[200], "every request decided locally at once")
        # Only the background PING probes may still time out (one per backoff period).
        self.assertLess(metric(gw, "gatehouse_redis_commands_total", store="shared", result="timeout") - waited, 10)
        self.assertGreater(metric(gw, "gatehouse_redis_commands_total", store="shared", result="timeout"), 0)


if __name__ == "__main__":
    unittest.main()
