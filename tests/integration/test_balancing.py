"""Load balancing policies end to end (issue #14 §7): three real upstreams, requests through the
real binary, counted at each upstream. weighted is exact (smooth weighted round robin), random
follows the weights within wide statistical bounds, least_request keeps held requests even,
peak_ewma keeps traffic off a slow replica."""
import threading
import time
import unittest

from harness import Gatehouse, connect, read_response, request, upstream


class Balancing(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ups = [upstream(n) for n in ("a", "b", "c")]
        for u in cls.ups:
            cls.addClassCleanup(u.stop)
        a, b, c = (u.port for u in cls.ups)
        eps = f'[{{ address: "127.0.0.1:{a}", weight: 5 }}, {{ address: "127.0.0.1:{b}", weight: 1 }}, {{ address: "127.0.0.1:{c}", weight: 1 }}]'
        cls.gw = Gatehouse(f"""
            routes:
              - {{ name: weighted, match: {{ path_prefix: /w/ }}, upstream: weighted }}
              - {{ name: random, match: {{ path_prefix: /r/ }}, upstream: random }}
              - {{ name: least, match: {{ path_prefix: /stream }}, upstream: least }}
              - {{ name: ewma, match: {{ path_prefix: /e/ }}, upstream: ewma }}
            upstreams:
              - {{ name: weighted, discovery: {{ static: {eps} }}, load_balancer: weighted }}
              - {{ name: random, discovery: {{ static: {eps} }}, load_balancer: random }}
              - name: least
                discovery: {{ static: [{{ address: "127.0.0.1:{a}", weight: 2 }}, 127.0.0.1:{b}] }}
                load_balancer: least_request
              - {{ name: ewma, discovery: {{ static: {eps} }}, load_balancer: {{ policy: peak_ewma, decay: 30s }} }}
        """).start()
        cls.addClassCleanup(cls.gw.stop)

    def counts(self, prefix):
        return [sum(1 for p in u.stats.paths if p.startswith(prefix)) for u in self.ups]

    def test_weighted_is_exactly_proportional(self):
        for i in range(70):
            self.assertEqual(request(self.gw.port, path=f"/w/{i}").status, 200)
        self.assertEqual(self.counts("/w/"), [50, 10, 10])

    def test_random_follows_the_weights(self):
        n = 700
        for i in range(n):
            self.assertEqual(request(self.gw.port, path=f"/r/{i}").status, 200)
        a, b, c = self.counts("/r/")
        self.assertEqual(a + b + c, n)
        # Binomial: 500 ± 6σ (σ ≈ 12) and 100 ± 6σ (σ ≈ 9.3): fails only if the weights are ignored.
        self.assertTrue(428 <= a <= 572, (a, b, c))
        self.assertTrue(44 <= b <= 156 and 44 <= c <= 156, (a, b, c))

    def test_least_request_sends_each_request_where_fewest_are_in_flight_per_weight(self):
        # Two endpoints (weights 2 and 1), so the two choices are always both: 30 requests held
        # open at the upstreams (each waits for its gate) end exactly 20 and 10. Random would
        # land there 3 % of the time, round robin never.
        socks = []
        for i in range(30):
            s = connect(self.gw.port)
            s.sendall(b"GET /stream?gate=least HTTP/1.1\r\nHost: a\r\n\r\n")
            socks.append(s)
            self.assertTrue(self.wait_arrived(i + 1))
        held = self.counts("/stream")
        for u in self.ups:
            u.gates.setdefault("least", threading.Event()).set()
        for s in socks:
            self.assertEqual(read_response(s.makefile("rb")).status, 200)
            s.close()
        self.assertEqual(held, [20, 10, 0])

    def test_peak_ewma_keeps_traffic_off_a_slow_replica(self):
        # b answers every request 300 ms late. Once it has been measured (its first request),
        # two random choices always include a fast endpoint, whose estimate is far lower.
        self.ups[1].fail_all = "slow:300"
        try:
            for i in range(60):
                self.assertEqual(request(self.gw.port, path=f"/e/{i}").status, 200)
        finally:
            self.ups[1].fail_all = None
        a, b, c = self.counts("/e/")
        self.assertLessEqual(b, 2, (a, b, c))  # round robin would send it 20
        # The two fast ones share the rest, not necessarily evenly: a momentary peak on one keeps
        # some of its traffic on the other until it decays (that is the policy).
        self.assertEqual(a + b + c, 60)
        self.assertGreater(min(a, c), 0, (a, b, c))

    def wait_arrived(self, n):
        """The upstreams have seen n held requests (each is counted as it arrives)."""
        end = time.monotonic() + 20
        while time.monotonic() < end:
            if sum(self.counts("/stream")) >= n:
                return True
            time.sleep(0.005)
        return False


if __name__ == "__main__":
    unittest.main()
