"""The cache middleware end to end with the real binary, in front of a test origin that counts
its requests and answers with scripted heads: storing and not storing (RFC 9111 §3), request
directives, Vary, revalidation with 304, client conditionals, HEAD from a stored GET,
stale-while-revalidate (one background fetch), stale-if-error (5xx and origin down), coalescing
(50 concurrent misses -> 1 origin request), purge by key / url / tag / all, invalidation after
unsafe methods, poisoning attempts, streaming while storing, a 100 MiB response at flat memory,
eviction under max_bytes, and a reload that keeps the cache."""
import os
import re
import socket
import threading
import unittest

from harness import NET_TIMEOUT, PROTOCOL, Gatehouse, connect, read_response, request, upstream


SANITIZED = os.environ.get("GATEHOUSE_SANITIZED") == "1"


def cache_status(r):
    return r.headers.get("cache-status", "")


class Origin:
    """Scripted answers on the test upstream; counts per path from its request log."""

    def __init__(self, up):
        self.up = up

    def count(self, path):
        return sum(1 for t in self.up.stats.paths if t.split("?")[0] == path)

    def requests_to(self, path):
        return [raw.decode("latin-1") for raw, t in zip(self.up.stats.requests_raw, self.up.stats.paths) if t.split("?")[0] == path]


class CacheTests(unittest.TestCase):
    config = """
        cache: { max_bytes: 64MiB, max_entry_bytes: 1MiB }
        routes:
          - name: auth
            match: { path_prefix: /auth/ }
            upstream: u
            middleware:
              - cache: { cache_authorized: true }
          - name: plain
            match: { path_prefix: /plain/ }
            upstream: u
          - name: dl
            match: { path_prefix: /download }
            upstream: u
            middleware:
              - cache: { default_ttl: 60s }
          - name: stream
            match: { path_prefix: /stream }
            upstream: u
            middleware:
              - cache: { default_ttl: 60s }
          - name: catalog
            match: { path_prefix: / }
            upstream: u
            middleware:
              - cache:
                  default_ttl: 0s
                  heuristic: true
                  max_ttl: 1d
                  stale_while_revalidate: 0s
                  stale_if_error: 0s
                  key: { headers: [X-Tenant], query: all }
                  lock_timeout: 20s
                  cache_authorized: false
    """

    @classmethod
    def setUpClass(cls):
        cls.up = upstream("u")
        cls.addClassCleanup(cls.up.stop)
        cls.origin = Origin(cls.up)
        cls.gw = Gatehouse(cls.config, upstreams={"u": [cls.up]}, workers=2).start()
        cls.addClassCleanup(cls.gw.stop)
        cls.n = 0

    def setUp(self):
        self.gw.admin("POST", "/cache/purge", b'{"all": true}')

    def path(self, name):
        """A fresh path per test, so tests share no entries."""
        type(self).n += 1
        return f"/{name}-{self.n}"

    def serve(self, path, status=200, body=b"hello", extra="Cache-Control: max-age=60\r\n"):
        self.up.files[path] = (status, body, extra)

    def get(self, path, headers=None, method="GET", host="test.local", body=None):
        return request(self.gw.port, method=method, path=path, headers=headers, host=host, body=body)

    def metric(self, route, result):
        status, text = self.gw.admin("GET", "/metrics")
        m = re.search(r'gatehouse_cache_requests_total\{result="%s",route="%s"\} (\d+)' % (result, route), text)
        if not m:
            m = re.search(r'gatehouse_cache_requests_total\{route="%s",result="%s"\} (\d+)' % (route, result), text)
        return int(m.group(1)) if m else 0

    # ---- storing and serving ----

    def test_miss_then_hit_with_age_and_cache_status(self):
        p = self.path("basic")
        self.serve(p, extra="Cache-Control: max-age=60\r\nContent-Type: text/plain\r\nETag: \"e1\"\r\n")
        first = self.get(p)
        self.assertEqual(first.status, 200)
        self.assertIn("fwd=uri-miss", cache_status(first))
        self.assertIn("stored", cache_status(first))
        self.assertNotIn("age", first.headers)
        second = self.get(p)
        self.assertEqual(second.body, b"hello")
        self.assertRegex(cache_status(second), r"^gatehouse; hit; ttl=\d+")
        self.assertIn("age", second.headers)
        self.assertEqual(second.headers["content-type"], "text/plain")
        self.assertEqual(second.headers["etag"], '"e1"')
        self.assertEqual(self.origin.count(p), 1)

    def test_head_is_served_from_a_stored_get(self):
        p = self.path("head")
        self.serve(p, body=b"x" * 1234)
        self.get(p)
        r = self.get(p, method="HEAD")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["content-length"], "1234")
        self.assertIn("hit", cache_status(r))
        self.assertEqual(self.origin.count(p), 1)

    def test_responses_that_must_not_be_stored(self):
        cases = {
            "no-store": "Cache-Control: no-store, max-age=60\r\n",
            "private": "Cache-Control: private, max-age=60\r\n",
            "cookie": "Cache-Control: max-age=60\r\nSet-Cookie: session=abc\r\n",
            "vary-star": "Cache-Control: max-age=60\r\nVary: *\r\n",
            "no-lifetime": "Content-Type: text/plain\r\n",
            "uncacheable-status": "",
        }
        for name, extra in cases.items():
            p = self.path(name)
            self.serve(p, status=302 if name == "uncacheable-status" else 200, extra=extra)
            self.get(p)
            second = self.get(p)
            self.assertNotIn("hit", cache_status(second), name)
            self.assertEqual(self.origin.count(p), 2, name)

    def test_set_cookie_with_public_is_stored_but_the_cookie_is_not_replayed(self):
        p = self.path("public-cookie")
        self.serve(p, extra="Cache-Control: public, max-age=60\r\nSet-Cookie: session=abc\r\n")
        first = self.get(p)
        self.assertEqual(first.headers.get("set-cookie"), "session=abc")
        second = self.get(p)
        self.assertIn("hit", cache_status(second))
        self.assertNotIn("set-cookie", second.headers)

    def test_authorization_needs_the_route_and_an_explicit_directive(self):
        p = self.path("authz")  # catalog: cache_authorized false
        self.serve(p, extra="Cache-Control: public, max-age=60\r\n")
        self.get(p, headers={"Authorization": "Bearer a"})
        self.get(p, headers={"Authorization": "Bearer a"})
        self.assertEqual(self.origin.count(p), 2)
        a = "/auth" + self.path("plain")  # cache_authorized true: only with public / s-maxage / must-revalidate
        self.serve(a, extra="Cache-Control: max-age=60\r\n")
        self.get(a, headers={"Authorization": "Bearer a"})
        self.get(a, headers={"Authorization": "Bearer a"})
        self.assertEqual(self.origin.count(a), 2)
        b = "/auth" + self.path("public")
        self.serve(b, extra="Cache-Control: public, max-age=60\r\n")
        self.get(b, headers={"Authorization": "Bearer a"})
        r = self.get(b, headers={"Authorization": "Bearer a"})
        self.assertIn("hit", cache_status(r))
        self.assertEqual(self.origin.count(b), 1)

    def test_heuristic_freshness_from_last_modified(self):
        p = self.path("heuristic")
        self.serve(p, extra="Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\n")
        self.get(p)
        r = self.get(p)
        self.assertIn("hit", cache_status(r))
        self.assertEqual(self.origin.count(p), 1)

    def test_expires_and_invalid_expires(self):
        p = self.path("expires")
        self.serve(p, extra="Expires: Thu, 01 Jan 2099 00:00:00 GMT\r\n")
        self.get(p)
        self.assertIn("hit", cache_status(self.get(p)))
        q = self.path("expires-zero")
        self.serve(q, extra="Expires: 0\r\n")
        self.get(q)
        self.get(q)
        self.assertEqual(self.origin.count(q), 2)

    def test_chunked_response_is_stored_and_served_with_a_length(self):
        p = "/download?bytes=300000&chunked=1&n=%d" % self.n
        self.n += 1
        first = self.get(p)
        self.assertEqual(len(first.body), 300000)
        self.assertNotIn("content-length", first.headers)
        if PROTOCOL == "http1":
            self.assertEqual(first.headers.get("transfer-encoding"), "chunked")
        second = self.get(p)
        self.assertIn("hit", cache_status(second))
        self.assertEqual(second.headers["content-length"], "300000")
        self.assertEqual(second.body, first.body)

    # ---- request directives ----

    def test_request_directives(self):
        p = self.path("directives")
        self.serve(p, extra="Cache-Control: max-age=60\r\n")
        self.get(p)
        self.assertIn("fwd=request", cache_status(self.get(p, headers={"Cache-Control": "no-cache"})))
        self.assertIn("fwd=request", cache_status(self.get(p, headers={"Cache-Control": "no-store"})))
        self.assertEqual(self.origin.count(p), 3)
        self.assertIn("hit", cache_status(self.get(p, headers={"Cache-Control": "max-age=100"})))
        self.assertIn("hit", cache_status(self.get(p, headers={"Cache-Control": "min-fresh=10"})))
        self.assertNotIn("hit", cache_status(self.get(p, headers={"Cache-Control": "min-fresh=1000"})))
        self.assertEqual(self.origin.count(p), 4)

    def test_pragma_no_cache_from_an_http10_client(self):
        p = self.path("pragma")
        self.serve(p)
        self.get(p)
        s = connect(self.gw.port)
        s.sendall(f"GET {p} HTTP/1.0\r\nHost: test.local\r\nPragma: no-cache\r\n\r\n".encode())
        r = read_response(s.makefile("rb"))
        s.close()
        self.assertIn("fwd=request", cache_status(r))
        self.assertEqual(self.origin.count(p), 2)

    def test_only_if_cached(self):
        p = self.path("oic")
        self.serve(p)
        r = self.get(p, headers={"Cache-Control": "only-if-cached"})
        self.assertEqual(r.status, 504)
        self.assertEqual(self.origin.count(p), 0)
        self.get(p)
        self.assertEqual(self.get(p, headers={"Cache-Control": "only-if-cached"}).status, 200)

    def test_max_stale_serves_a_stale_entry(self):
        p = self.path("max-stale")
        self.serve(p, extra="Cache-Control: max-age=0\r\n")  # stored (explicit lifetime 0), stale at once
        self.get(p)
        r = self.get(p, headers={"Cache-Control": "max-stale=100"})
        self.assertIn("hit", cache_status(r))
        self.assertEqual(self.origin.count(p), 1)
        self.get(p)  # without max-stale: to the origin
        self.assertEqual(self.origin.count(p), 2)

    # ---- Vary and the key ----

    def test_vary_keeps_variants_apart(self):
        p = self.path("vary")
        self.up.files[p] = lambda m, h, q: (200, ("lang=" + h.get("accept-language", "-")).encode(), "Cache-Control: max-age=60\r\nVary: Accept-Language\r\n")
        en = self.get(p, headers={"Accept-Language": "en"})
        fr = self.get(p, headers={"Accept-Language": "fr"})
        self.assertIn("fwd=vary-miss", cache_status(fr))
        self.assertEqual(self.get(p, headers={"Accept-Language": "en"}).body, b"lang=en")
        self.assertEqual(self.get(p, headers={"Accept-Language": "fr"}).body, b"lang=fr")
        self.assertEqual(en.body, b"lang=en")
        self.assertEqual(self.origin.count(p), 2)

    def test_extra_key_headers_and_query(self):
        p = self.path("keyed")
        self.up.files[p] = lambda m, h, q: (200, ("tenant=" + h.get("x-tenant", "-")).encode(), "Cache-Control: max-age=60\r\n")
        self.assertEqual(self.get(p, headers={"X-Tenant": "a"}).body, b"tenant=a")
        self.assertEqual(self.get(p, headers={"X-Tenant": "b"}).body, b"tenant=b")
        self.assertEqual(self.get(p, headers={"X-Tenant": "a"}).body, b"tenant=a")
        self.assertEqual(self.origin.count(p), 2)
        self.get(p + "?x=1", headers={"X-Tenant": "a"})
        self.assertEqual(self.origin.count(p), 3)

    def test_unkeyed_headers_cannot_poison_the_entry(self):
        p = self.path("poison")
        self.up.files[p] = lambda m, h, q: (200, repr(sorted(h.items())).encode(), "Cache-Control: max-age=60\r\n")
        attacks = [{"X-Forwarded-Host": "evil.example"}, {"X-Original-URL": "/admin"}, {"X-Rewrite-URL": "/admin"}, {"X-Forwarded-Scheme": "nothttps"}]
        poisoned = self.get(p, headers=attacks[0])  # stored by the attacker's request
        clean = self.get(p)
        self.assertEqual(clean.body, poisoned.body)  # the same stored answer ...
        self.assertNotIn(b"evil.example", clean.body)  # ... which never carried the unkeyed header upstream (untrusted peer)
        for a in attacks[1:]:
            self.assertIn("hit", cache_status(self.get(p, headers=a)))
        # Another Host port is another key: an answer for example:8443 never serves example.
        q = self.path("host-port")
        self.up.files[q] = lambda m, h, qq: (200, ("host=" + h.get("host", "")).encode(), "Cache-Control: max-age=60\r\n")
        self.get(q, host="site.example:8443")
        r = self.get(q, host="site.example")
        self.assertEqual(r.body, b"host=site.example")
        self.assertIn("hit", cache_status(self.get(q, host="SITE.example:80")))  # case and default port do not matter

    def test_a_request_with_a_body_is_never_served_from_or_stored_in_the_cache(self):
        p = self.path("body")
        self.serve(p)
        self.get(p, body=b"payload")
        self.get(p, body=b"payload")
        self.assertEqual(self.origin.count(p), 2)
        self.get(p)
        r = self.get(p, body=b"payload")
        self.assertNotIn("hit", cache_status(r))

    # ---- validation ----

    def test_stale_entry_is_revalidated_with_304(self):
        p = self.path("reval")

        def answer(method, headers, q):
            if headers.get("if-none-match") == '"v1"':
                return (304, b"", "ETag: \"v1\"\r\nCache-Control: max-age=0\r\nX-Refreshed: yes\r\n")
            return (200, b"the body", "ETag: \"v1\"\r\nCache-Control: max-age=0\r\nX-Refreshed: no\r\n")
        self.up.files[p] = answer
        self.get(p)
        before = self.metric("catalog", "revalidated")
        r = self.get(p, headers={"If-None-Match": '"other"'})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"the body")
        self.assertEqual(r.headers["x-refreshed"], "yes")  # §4.3.4: the 304's fields update the stored head
        self.assertIn("fwd=stale; fwd-status=304", cache_status(r))
        sent = self.origin.requests_to(p)[-1]
        self.assertIn('If-None-Match: "v1"', sent)
        self.assertNotIn('"other"', sent)  # the client's validators are not ours
        self.assertTrue(self.wait_metric(lambda: self.metric("catalog", "revalidated") >= before + 1))

    def test_no_cache_response_is_revalidated_on_every_use(self):
        p = self.path("nocache")

        def answer(method, headers, q):
            if headers.get("if-none-match") == '"n1"':
                return (304, b"", "ETag: \"n1\"\r\nCache-Control: no-cache\r\n")
            return (200, b"revalidate me", "ETag: \"n1\"\r\nCache-Control: no-cache\r\n")
        self.up.files[p] = answer
        self.get(p)
        for _ in range(2):
            r = self.get(p)
            self.assertEqual(r.body, b"revalidate me")
            self.assertIn("fwd-status=304", cache_status(r))
        self.assertEqual(self.origin.count(p), 3)
        self.assertTrue(all('If-None-Match: "n1"' in raw for raw in self.origin.requests_to(p)[1:]))

    def test_s_maxage_wins_over_max_age_for_a_shared_cache(self):
        p = self.path("smaxage")
        self.serve(p, extra="Cache-Control: max-age=0, s-maxage=60\r\n")
        self.get(p)
        self.assertIn("hit", cache_status(self.get(p)))
        q = self.path("proxy-revalidate")
        self.serve(q, extra="Cache-Control: max-age=0, proxy-revalidate\r\n")
        self.get(q)
        self.assertNotIn("hit", cache_status(self.get(q, headers={"Cache-Control": "max-stale"})))  # never served stale

    def test_client_conditionals_on_a_fresh_entry(self):
        p = self.path("cond")
        self.serve(p, extra="Cache-Control: max-age=60\r\nETag: \"abc\"\r\nLast-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\n")
        self.get(p)
        r = self.get(p, headers={"If-None-Match": 'W/"abc"'})
        self.assertEqual(r.status, 304)
        self.assertEqual(r.body, b"")
        self.assertEqual(self.get(p, headers={"If-None-Match": '"zzz"'}).status, 200)
        self.assertEqual(self.get(p, headers={"If-Modified-Since": "Tue, 02 Jan 2024 00:00:00 GMT"}).status, 304)
        self.assertEqual(self.get(p, headers={"If-Modified-Since": "Sun, 31 Dec 2023 00:00:00 GMT"}).status, 200)
        self.assertEqual(self.origin.count(p), 1)

    def test_stale_while_revalidate_refreshes_once_in_the_background(self):
        p = self.path("swr")
        gate = threading.Event()
        calls = []

        def answer(method, headers, q):
            calls.append(1)
            body = b"version %d" % len(calls)
            extra = "Cache-Control: max-age=0, stale-while-revalidate=600\r\n"
            if len(calls) == 2:
                return (200, body, extra, gate)  # the background refresh waits for the test
            return (200, body, extra)
        self.up.files[p] = answer
        self.assertEqual(self.get(p).body, b"version 1")
        for _ in range(5):  # stale, served at once; one refresh only, however many ask
            r = self.get(p)
            self.assertEqual(r.body, b"version 1")
            self.assertIn("hit", cache_status(r))
        self.up.wait_for(lambda stats: self.origin.count(p) == 2)
        self.assertEqual(self.origin.count(p), 2)
        gate.set()
        url = f"http://test.local{p}"
        self.assertTrue(self.wait_admin(lambda j: any(e["body_bytes"] == 9 and e["age"] >= 0 for e in j["entries"]) and self.get(p).body == b"version 2", f"/cache?url={url}"))

    def wait_metric(self, predicate):
        import time
        deadline = time.monotonic() + NET_TIMEOUT
        while not predicate():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)  # polling a counter for a state change, not timing
        return True

    def wait_admin(self, predicate, path):
        import time
        deadline = time.monotonic() + NET_TIMEOUT
        while time.monotonic() < deadline:
            status, j = self.gw.admin("GET", path)
            if predicate(j):
                return True
            time.sleep(0.05)  # polling an admin view for a state change, not timing
        return False

    def test_stale_if_error_on_5xx_and_on_a_dead_origin(self):
        p = self.path("sie")
        state = {"fail": False}

        def answer(method, headers, q):
            if state["fail"]:
                return (503, b"down", "")
            return (200, b"good", "Cache-Control: max-age=0, stale-if-error=600\r\n")
        self.up.files[p] = answer
        self.get(p)
        state["fail"] = True
        r = self.get(p)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"good")
        self.assertIn("stale-if-error", cache_status(r))
        self.assertIn("fwd-status=503", cache_status(r))
        # The origin failing: gatehouse's own 502 becomes the stale answer.
        dead = Gatehouse("""
            routes:
              - name: down
                upstream: gone
                middleware: [ { cache: { stale_if_error: 10m } } ]
        """, upstreams={"gone": [self.up]})
        with dead:
            q = self.path("sie-down")
            self.serve(q, extra="Cache-Control: max-age=0\r\n")
            self.assertEqual(request(dead.port, path=q).body, b"hello")
            self.up.fail_all = "reset"  # the connection dies before an answer: gatehouse's own 502
            try:
                miss = request(dead.port, path=self.path("sie-never-stored"))
                self.assertEqual(miss.status, 502)  # nothing stored to fall back on ...
                self.assertIn("gatehouse; fwd=uri-miss", cache_status(miss))  # ... and still told why
                r = request(dead.port, path=q)
                self.assertEqual((r.status, r.body), (200, b"hello"))
                self.assertIn("stale-if-error", cache_status(r))
                self.assertIn("fwd-status=502", cache_status(r))
            finally:
                self.up.fail_all = None
        # Counted once the request completes (just after its answer was written): awaited.
        self.assertTrue(self.wait_metric(lambda: self.metric("catalog", "stale") >= 1))

    def test_must_revalidate_is_never_served_stale(self):
        p = self.path("mustreval")
        state = {"fail": False}
        self.up.files[p] = lambda m, h, q: (503, b"down", "") if state["fail"] else (200, b"good", "Cache-Control: max-age=0, must-revalidate, stale-if-error=600\r\n")
        self.get(p)
        state["fail"] = True
        self.assertEqual(self.get(p).status, 503)
        self.assertEqual(self.get(p, headers={"Cache-Control": "max-stale"}).status, 503)

    # ---- coalescing ----

    def test_concurrent_misses_make_one_origin_request(self):
        p = self.path("coalesce")
        gate = threading.Event()
        self.up.files[p] = lambda m, h, q: (200, b"shared answer", "Cache-Control: max-age=60\r\n", gate)
        results = []

        def client():
            results.append(self.get(p))
        threads = [threading.Thread(target=client) for _ in range(50)]
        for t in threads:
            t.start()
        self.assertTrue(self.wait_admin(lambda j: j["waiting"] == 49, "/cache"))
        self.assertEqual(self.origin.count(p), 1)
        gate.set()
        for t in threads:
            t.join(NET_TIMEOUT)
        self.assertEqual(len(results), 50)
        self.assertTrue(all(r.status == 200 and r.body == b"shared answer" for r in results))
        self.assertEqual(self.origin.count(p), 1)
        self.assertEqual(sum("collapsed" in cache_status(r) for r in results), 49)

    def test_a_response_that_is_not_storable_releases_the_waiters(self):
        p = self.path("release")
        gate = threading.Event()
        self.up.files[p] = lambda m, h, q: (200, b"private", "Cache-Control: private\r\n", gate)
        results = []
        threads = [threading.Thread(target=lambda: results.append(self.get(p))) for _ in range(5)]
        for t in threads:
            t.start()
        self.assertTrue(self.wait_admin(lambda j: j["waiting"] == 4, "/cache"))
        gate.set()
        for t in threads:
            t.join(NET_TIMEOUT)
        self.assertEqual([r.status for r in results], [200] * 5)
        self.assertEqual(self.origin.count(p), 5)  # each waiter went to the origin itself at once

    # ---- purge and invalidation ----

    def test_purge_by_key_url_tag_and_all(self):
        paths = [self.path("purge") for _ in range(4)]
        for i, p in enumerate(paths):
            self.serve(p, extra=f"Cache-Control: max-age=60\r\nSurrogate-Key: group-a item-{i}\r\nCache-Tag: ct-{i}\r\n")
            first = self.get(p)
            self.assertNotIn("surrogate-key", first.headers)  # tags are for gatehouse only
            self.assertNotIn("cache-tag", first.headers)
        hit = lambda p: "hit" in cache_status(self.get(p))
        self.assertTrue(all(hit(p) for p in paths))
        st, j = self.gw.admin("POST", "/cache/purge", f'{{"urls": ["http://TEST.local:80{paths[0]}"]}}'.encode())
        self.assertEqual((st, j["purged"]), (200, 1))
        self.assertFalse(hit(paths[0]))
        st, j = self.gw.admin("POST", "/cache/purge", f'{{"keys": ["http://test.local{paths[1]} x-tenant="]}}'.encode())
        self.assertEqual(j["purged"], 1)
        self.assertFalse(hit(paths[1]))
        st, j = self.gw.admin("POST", "/cache/purge", b'{"tags": ["item-2"]}')
        self.assertEqual(j["purged"], 1)
        self.assertFalse(hit(paths[2]))
        self.assertTrue(hit(paths[3]))
        st, j = self.gw.admin("POST", "/cache/purge", b'{"tags": ["ct-3"]}')
        self.assertEqual(j["purged"], 1)
        st, j = self.gw.admin("POST", "/cache/purge", b'{"all": true}')
        self.assertGreaterEqual(j["purged"], 3)
        self.assertEqual(self.gw.admin("GET", "/cache")[1]["entries"], 0)
        st, j = self.gw.admin("POST", "/cache/purge", b'{"nothing": 1}')
        self.assertEqual(st, 400)
        self.assertEqual(self.gw.admin("GET", "/cache/purge")[0], 405)

    def test_admin_shows_one_entry(self):
        p = self.path("show")
        self.serve(p, extra="Cache-Control: max-age=60\r\nSurrogate-Key: t1\r\nContent-Type: text/plain\r\n")
        self.get(p)
        st, j = self.gw.admin("GET", f"/cache?url=http%3A%2F%2Ftest.local{p}")
        self.assertEqual(st, 200)
        e = j["entries"][0]
        self.assertEqual(e["status"], 200)
        self.assertEqual(e["tags"], ["t1"])
        self.assertGreater(e["ttl"], 50)
        self.assertIn(["Content-Type", "text/plain"], e["headers"])

    def test_unsafe_methods_invalidate_the_target_and_location(self):
        p, other = self.path("target"), self.path("moved")
        self.serve(p)
        self.serve(other)
        self.get(p)
        self.get(other)
        self.up.files[p + "-post"] = (201, b"", f"Location: {other}\r\n")
        self.assertIn("hit", cache_status(self.get(p)))
        r = self.get(p, method="POST", body=b"x")
        self.assertIn("fwd=method", cache_status(r))
        self.assertNotIn("hit", cache_status(self.get(p)))
        self.assertIn("hit", cache_status(self.get(other)))
        self.up.files[p] = (201, b"", f"Cache-Control: max-age=60\r\nLocation: http://test.local{other}\r\n")
        self.get(p, method="PUT", body=b"y")
        self.assertNotIn("hit", cache_status(self.get(other)))

    def test_failed_unsafe_request_invalidates_nothing(self):
        p = self.path("keep")
        self.serve(p)
        self.get(p)
        self.up.script = ["503"]
        self.get(p, method="DELETE")
        self.assertIn("hit", cache_status(self.get(p)))

    # ---- streaming, size and memory ----

    def test_a_miss_streams_while_it_is_stored(self):
        gate_name = "cache-stream-%d" % self.n
        p = f"/stream?gate={gate_name}"
        s = connect(self.gw.port)
        s.sendall(f"GET {p} HTTP/1.1\r\nHost: test.local\r\n\r\n".encode())
        f = s.makefile("rb")
        first = b""
        while b"data: one" not in first:  # the first event arrives while the origin still holds the rest
            first += f.readline()
        self.up.gates.setdefault(gate_name, threading.Event()).set()
        rest = b""
        while not rest.endswith(b"0\r\n\r\n"):  # the rest, to its end: only a whole body is stored
            line = f.readline()
            self.assertTrue(line)
            rest += line
        self.assertIn(b"data: two", rest)
        s.close()
        self.assertTrue(self.wait_admin(lambda j: j["entries"] >= 1, "/cache"))
        r = self.get(p)
        self.assertIn("hit", cache_status(r))
        self.assertEqual(r.body, b"data: one\n\ndata: two\n\n")

    def test_a_response_over_max_entry_bytes_streams_but_is_not_stored(self):
        p = "/download?bytes=2000000&n=%d" % self.n  # max_entry_bytes is 1MiB here
        self.n += 1
        self.assertEqual(len(self.get(p).body), 2000000)
        r = self.get(p)
        self.assertEqual(len(r.body), 2000000)
        self.assertNotIn("hit", cache_status(r))
        self.assertNotIn("stored", cache_status(r))


class LargeAndEviction(unittest.TestCase):
    def test_100mib_through_a_caching_route_at_flat_memory(self):
        up = upstream("u")
        self.addCleanup(up.stop)
        with Gatehouse("""
            routes:
              - name: big
                upstream: u
                middleware: [ { cache: { default_ttl: 60s } } ]
        """, upstreams={"u": [up]}) as gw:
            # With a Content-Length over max_entry_bytes (never buffered), and chunked (buffered up
            # to max_entry_bytes, then dropped while the rest streams on).
            for target in (b"/download?bytes=104857600", b"/download?bytes=104857600&chunked=1"):
                s = connect(gw.port)
                s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                total = 0
                while True:
                    b = s.recv(1 << 20)
                    if not b:
                        break
                    total += len(b)
                s.close()
                self.assertGreater(total, 104857600)
            # Far below the body: nothing of it was kept (ASan's quarantine holds freed buffers for a while).
            self.assertLess(gw.rss_peak_kb(), (440 if SANITIZED else 40) * 1024)  # ASan's shadow and quarantine: a loose cap
            self.assertEqual(gw.admin("GET", "/cache")[1]["entries"], 0)

    def test_eviction_keeps_the_store_under_max_bytes(self):
        up = upstream("u")
        self.addCleanup(up.stop)
        with Gatehouse("""
            cache: { max_bytes: 1MiB, max_entry_bytes: 256KiB }
            routes:
              - name: small
                upstream: u
                middleware: [ { cache: {} } ]
        """, upstreams={"u": [up]}) as gw:
            for i in range(12):
                up.files[f"/e{i}"] = (200, b"z" * 200_000, "Cache-Control: max-age=600\r\n")
                request(gw.port, path=f"/e{i}")
            st, j = gw.admin("GET", "/cache")
            self.assertLessEqual(j["bytes"], 1 << 20)
            self.assertGreater(j["evictions"], 0)
            self.assertIn("hit", cache_status(request(gw.port, path="/e11")))  # the most recent stays
            self.assertNotIn("hit", cache_status(request(gw.port, path="/e0")))  # the least recent went
            st, text = gw.admin("GET", "/metrics")
            self.assertRegex(text, r"gatehouse_cache_evictions_total [1-9]")

    def test_reload_keeps_the_cache(self):
        up = upstream("u")
        self.addCleanup(up.stop)
        cfg = """
            routes:
              - name: r
                upstream: u
                timeout: %s
                middleware: [ { cache: {} } ]
        """
        with Gatehouse(cfg % "10s", upstreams={"u": [up]}) as gw:
            up.files["/k"] = (200, b"kept", "Cache-Control: max-age=600\r\n")
            request(gw.port, path="/k")
            gw.write_config(Gatehouse.render(cfg % "11s", upstreams={"u": [up]}))
            st, j = gw.reload()
            self.assertEqual(j["result"], "ok")
            r = request(gw.port, path="/k")
            self.assertIn("hit", cache_status(r))
            self.assertEqual(up.stats.paths.count("/k"), 1)

    def test_bad_cache_config_is_rejected_with_line_and_reason(self):
        import subprocess
        from harness import BIN
        bad = Gatehouse("""
            cache: { max_bytes: 10KiB, max_entry_byte: 1MiB }
            routes:
              - name: r
                upstream: u
                middleware:
                  - cache: { key: { query: some }, lock_timeout: soon, heuristc: true }
        """, upstreams={"u": ["127.0.0.1:1"]})
        out = subprocess.run([BIN, "check", bad.config_path], capture_output=True, text=True)
        self.assertNotEqual(out.returncode, 0)
        text = out.stdout + out.stderr
        for expected in ("max_bytes", "max_entry_byte", "query", "lock_timeout", "heuristc", "did you mean"):
            self.assertIn(expected, text)
        self.assertRegex(text, r"gatehouse\.yaml:\d+:\d+")


if __name__ == "__main__":
    unittest.main()
