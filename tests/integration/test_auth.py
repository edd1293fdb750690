"""The middleware chain with api_key and basic_auth, end to end: credentials from the places
they are configured, hashes made by independent tools (htpasswd for bcrypt, openssl for
SHA-crypt), identity headers sanitised and forwarded, listener defaults extended or replaced."""
import base64
import hashlib
import os
import re
import subprocess
import tempfile
import threading
import time
import unittest

from harness import Gatehouse, request, upstream


def sha256(s):
    return hashlib.sha256(s.encode()).hexdigest()


def bcrypt(password, cost=5):
    out = subprocess.run(["htpasswd", "-nbB", "-C", str(cost), "u", password], capture_output=True, text=True, check=True).stdout
    return out.strip().split(":", 1)[1]


def sha512_crypt(password):
    return subprocess.run(["openssl", "passwd", "-6", password], capture_output=True, text=True, check=True).stdout.strip()


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class ApiKeys(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = upstream("u")
        cls.dir = tempfile.mkdtemp(prefix="gatehouse-keys-")
        cls.keys_file = os.path.join(cls.dir, "keys.yaml")
        with open(cls.keys_file, "w") as f:
            f.write(f"- {{ consumer: carol, sha256: {sha256('carol-key')} }}\n")
        cls.gw = Gatehouse(f"""
            routes:
              - name: header
                match: {{ path_prefix: /h }}
                upstream: u
                middleware:
                  - api_key:
                      keys: [{{ consumer: alice, sha256: {sha256('alice-key')} }}, {{ consumer: bob, sha256: {sha256('bob-key').upper()} }}]
                      keys_file: {cls.keys_file}
              - name: query
                match: {{ path_prefix: /q }}
                upstream: u
                middleware:
                  - api_key:
                      sources: [{{ query: apikey }}]
                      keys: [{{ consumer: alice, sha256: {sha256('alice-key')} }}]
                      consumer_header: X-Api-Consumer
        """, upstreams={"u": [cls.up]}).start()

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.up.stop()

    def test_valid_key_forwards_the_consumer_and_not_the_key(self):
        r = request(self.gw.port, path="/h/echo", headers={"X-API-Key": "alice-key", "X-Consumer": "mallory"})
        self.assertEqual(r.status, 200)
        h = dict(r.json()["headers"])
        self.assertEqual(h["x-consumer"], "alice")
        self.assertNotIn("X-API-Key", h)
        self.assertNotIn("X-Consumer", h)  # the client's own copy is gone
        self.assertEqual(dict(request(self.gw.port, path="/h/x", headers={"X-API-Key": "bob-key"}).json()["headers"])["x-consumer"], "bob")
        self.assertEqual(dict(request(self.gw.port, path="/h/x", headers={"X-API-Key": "carol-key"}).json()["headers"])["x-consumer"], "carol")

    def test_missing_or_wrong_key_is_401(self):
        r = request(self.gw.port, path="/h/echo")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json()["error"], "missing API key")
        r = request(self.gw.port, path="/h/echo", headers={"X-API-Key": "nope"})
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json()["error"], "invalid API key")
        self.assertEqual(set(r.json()), {"error", "status", "request_id"})

    def test_query_source_and_consumer_header_name(self):
        r = request(self.gw.port, path="/q/echo?apikey=alice-key")
        self.assertEqual(dict(r.json()["headers"])["x-api-consumer"], "alice")
        self.assertEqual(r.json()["target"], "/q/echo")  # the key is not sent upstream, nor a bare "?"
        r = request(self.gw.port, path="/q/echo?a=1&apikey=alice-key&b=2&apikey=x")
        self.assertEqual(r.json()["target"], "/q/echo?a=1&b=2")  # the other parameters stay, in order
        self.assertEqual(request(self.gw.port, path="/q/echo?apikey=wrong").status, 401)
        self.assertEqual(request(self.gw.port, path="/q/echo", headers={"X-API-Key": "alice-key"}).status, 401)


class KeysFileReload(unittest.TestCase):
    def test_a_changed_keys_file_is_picked_up(self):
        up = upstream("u")
        d = tempfile.mkdtemp(prefix="gatehouse-keys-")
        keys = os.path.join(d, "keys.yaml")
        with open(keys, "w") as f:
            f.write(f"- {{ consumer: old, sha256: {sha256('old-key')} }}\n")
        with Gatehouse(f"""
            reload: {{ watch: true, debounce: 50ms }}
            routes: [{{ name: r, upstream: u, middleware: [{{ api_key: {{ keys_file: {keys} }} }}] }}]
        """, upstreams={"u": [up]}) as gw:
            self.assertEqual(request(gw.port, path="/x", headers={"X-API-Key": "old-key"}).status, 200)
            with open(keys + ".tmp", "w") as f:
                f.write(f"- {{ consumer: new, sha256: {sha256('new-key')} }}\n")
            os.rename(keys + ".tmp", keys)
            self.assertTrue(gw.wait_for_log(r"config generation 2 loaded \(file\)"))
            self.assertEqual(request(gw.port, path="/x", headers={"X-API-Key": "new-key"}).status, 200)
            self.assertEqual(request(gw.port, path="/x", headers={"X-API-Key": "old-key"}).status, 401)
        up.stop()


class BasicAuth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = upstream("u")
        d = tempfile.mkdtemp(prefix="gatehouse-htpasswd-")
        cls.htpasswd = os.path.join(d, "htpasswd")
        with open(cls.htpasswd, "w") as f:
            f.write("# users\n" + f"dave:{bcrypt('dave-pw')}\n")
        cls.slow_hash = bcrypt("slow-pw", cost=14)
        cls.gw = Gatehouse(f"""
            workers: 1
            routes:
              - {{ name: health, match: {{ path: /health }}, respond: {{ status: 200, body: ok }} }}
              - name: private
                upstream: u
                middleware:
                  - basic_auth:
                      realm: private area
                      users:
                        - {{ user: alice, hash: "{bcrypt('alice-pw')}" }}
                        - {{ user: bob, hash: "{sha512_crypt('bob-pw')}" }}
                        - {{ user: slow, hash: "{cls.slow_hash}" }}
                      users_file: {cls.htpasswd}
        """, upstreams={"u": [cls.up]}).start()

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.up.stop()

    def test_bcrypt_sha_crypt_and_htpasswd_users(self):
        for user, pw in (("alice", "alice-pw"), ("bob", "bob-pw"), ("dave", "dave-pw")):
            with self.subTest(user):
                r = request(self.gw.port, path="/echo", headers={"Authorization": basic(user, pw), "X-Consumer": "forged"})
                self.assertEqual(r.status, 200)
                h = dict(r.json()["headers"])
                self.assertEqual(h["x-consumer"], user)
                self.assertNotIn("Authorization", h)
                self.assertNotIn("X-Consumer", h)
                # a second request is answered from the per-worker cache, same result
                self.assertEqual(request(self.gw.port, path="/echo", headers={"Authorization": basic(user, pw)}).status, 200)

    def test_rejections_carry_the_challenge(self):
        for headers in ({}, {"Authorization": basic("alice", "wrong")}, {"Authorization": basic("nobody", "x")},
                        {"Authorization": "Basic !!!"}, {"Authorization": "Bearer abc"}):
            with self.subTest(headers=headers):
                r = request(self.gw.port, path="/echo", headers=headers)
                self.assertEqual(r.status, 401)
                self.assertEqual(r.headers["www-authenticate"], 'Basic realm="private area", charset="UTF-8"')

    def hash_queue(self):
        status, text = self.gw.admin("GET", "/metrics")
        m = re.search(r"^gatehouse_basic_auth_hash_queue (\S+)", text, re.M)
        return float(m.group(1)) if m else -1

    def wait_for_queue(self, n):
        deadline = time.monotonic() + 30
        while self.hash_queue() != n:
            self.assertLess(time.monotonic(), deadline, f"hash queue never reached {n}")
            time.sleep(0.01)  # polling a gauge for a state change, not timing

    def test_a_slow_hash_does_not_block_the_worker(self):
        result = {}
        def slow():
            result["status"] = request(self.gw.port, path="/echo", headers={"Authorization": basic("slow", "slow-pw")}).status
        t = threading.Thread(target=slow)
        t.start()
        # The check (bcrypt cost 14, seconds) is on the hash pool: the gauge says so ...
        self.wait_for_queue(1)
        # ... and while it still runs there, the only worker serves another request. Were the
        # hash computed on the worker, /health would wait for it and the queue would be empty.
        health = request(self.gw.port, path="/health")
        self.assertEqual(health.status, 200)
        self.assertEqual(self.hash_queue(), 1)
        t.join(60)
        self.assertEqual(result["status"], 200)
        self.assertEqual(self.hash_queue(), 0)


class BasicAuthQueue(unittest.TestCase):
    def test_a_full_check_queue_answers_503_at_once(self):
        up = upstream("u")
        self.addCleanup(up.stop)
        slow = bcrypt("slow-pw", cost=14)
        with Gatehouse(f"""
            workers: 1
            routes:
              - name: private
                upstream: u
                middleware:
                  - basic_auth:
                      users: [{{ user: slow, hash: "{slow}" }}]
                      max_pending_checks: 1
        """, upstreams={"u": [up]}) as gw:
            result = {}
            t = threading.Thread(target=lambda: result.update(r=request(gw.port, path="/echo", headers={"Authorization": basic("slow", "slow-pw")})))
            t.start()
            deadline = time.monotonic() + 30
            while not re.search(r"^gatehouse_basic_auth_hash_queue 1", gw.admin("GET", "/metrics")[1], re.M):
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.01)
            busy = request(gw.port, path="/echo", headers={"Authorization": basic("slow", "other-pw")})
            self.assertEqual(busy.status, 503)
            self.assertEqual(busy.headers["retry-after"], "1")
            self.assertRegex(gw.admin("GET", "/metrics")[1], r"(?m)^gatehouse_basic_auth_overload_total 1")
            t.join(60)
            self.assertEqual(result["r"].status, 200)  # the one in the queue was not disturbed


class Chains(unittest.TestCase):
    def test_listener_defaults_extend_or_replace(self):
        up = upstream("u")
        with Gatehouse(f"""
            listeners:
              - name: public
                listen: 127.0.0.1:0
                middleware: [{{ api_key: {{ keys: [{{ consumer: alice, sha256: {sha256('k')} }}] }} }}]
            routes:
              - {{ name: open, match: {{ path: /open }}, respond: {{ status: 200 }}, middleware_mode: replace }}
              - name: both
                match: {{ path: /both }}
                upstream: u
                middleware: [{{ basic_auth: {{ users: [{{ user: bob, hash: "{sha512_crypt('pw')}" }}] }} }}]
              - {{ name: default, upstream: u }}
        """, upstreams={"u": [up]}) as gw:
            self.assertEqual(request(gw.port, path="/open").status, 200)
            self.assertEqual(request(gw.port, path="/other").status, 401)
            self.assertEqual(request(gw.port, path="/other", headers={"X-API-Key": "k"}).status, 200)
            # extend: the listener's api_key first, then the route's basic_auth
            self.assertEqual(request(gw.port, path="/both", headers={"Authorization": basic("bob", "pw")}).json()["error"], "missing API key")
            self.assertEqual(request(gw.port, path="/both", headers={"X-API-Key": "k"}).status, 401)
            r = request(gw.port, path="/both", headers={"X-API-Key": "k", "Authorization": basic("bob", "pw")})
            self.assertEqual(r.status, 200)
        up.stop()

    def test_config_errors_point_at_the_middleware(self):
        path = os.path.join(tempfile.mkdtemp(), "bad.yaml")
        with open(path, "w") as f:
            f.write("listeners: [{ name: p, listen: 127.0.0.1:1 }]\nroutes:\n  - name: r\n    respond: { status: 200 }\n"
                    "    middleware:\n      - api_kee: {}\n      - api_key: { keys: [{ consumer: a, sha256: zz }], sauces: [] }\n"
                    "      - basic_auth: { users: [{ user: x, hash: plain }] }\n")
        from harness import BIN
        r = subprocess.run([BIN, "check", path], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"{path}:6:9: routes[0].middleware[0]: unknown middleware 'api_kee' (did you mean 'api_key'?)", r.stderr)
        self.assertIn("routes[0].middleware[1].api_key.keys[0].sha256: expected 64 hex digits", r.stderr)
        self.assertIn("routes[0].middleware[1].api_key.sauces: unknown key 'sauces' (did you mean 'sources'?)", r.stderr)
        self.assertIn("not a supported password hash", r.stderr)


if __name__ == "__main__":
    unittest.main()
