"""JWT validation end to end. Every token and key comes from an independent implementation
(the `jose` npm package under Node.js, tests/integration/node/tokens.mjs), never from
gatehouse's code."""
import base64
import json
import os
import subprocess
import tempfile
import time
import unittest

from harness import Gatehouse, request, upstream

HERE = os.path.dirname(os.path.abspath(__file__))
ALGS = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


class Tokens:
    def __init__(self):
        node_dir = os.path.join(HERE, "node")
        if not os.path.isdir(os.path.join(node_dir, "node_modules", "jose")):
            subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=node_dir, check=True, timeout=300)
        self.proc = subprocess.Popen(["node", os.path.join(node_dir, "tokens.mjs")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def call(self, **req):
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        out = json.loads(self.proc.stdout.readline())
        if "error" in out:
            raise RuntimeError(out["error"])
        return out

    def keypair(self, alg, kid, **kw):
        if alg.startswith("HS"):
            return self.call(op="secret", kid=kid, bytes=64)
        return self.call(op="keypair", alg=alg, kid=kid, **kw)

    def sign(self, alg, key, claims, header=None):
        return self.call(op="sign", alg=alg, key=key, claims=claims, header=header or {})["token"]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(10)


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def now():
    return int(time.time())


class Jwt(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = Tokens()
        cls.keys = {alg: cls.t.keypair(alg, f"kid-{alg}") for alg in ALGS}
        cls.dir = tempfile.mkdtemp(prefix="gatehouse-jwt-")
        cls.jwks_file = os.path.join(cls.dir, "jwks.json")
        with open(cls.jwks_file, "w") as f:
            json.dump({"keys": [k["public"] for k in cls.keys.values()]}, f)
        # a remote provider, served by the test upstream
        cls.rot1 = cls.t.keypair("ES256", "rot-1")
        cls.rot2 = cls.t.keypair("ES256", "rot-2")
        cls.up = upstream("u")
        cls.idp = upstream("idp")
        cls.serve_jwks([cls.rot1["public"]])
        cls.gw = Gatehouse(f"""
            jwt_providers:
              - name: main
                issuer: https://id.example.com
                audiences: [api, other]
                jwks: {{ file: {cls.jwks_file} }}
              - name: rs-only
                algorithms: [RS256]
                jwks: {{ file: {cls.jwks_file} }}
              - name: remote
                jwks: {{ url: "http://127.0.0.1:{cls.idp.port}/jwks.json", refetch_interval: 100ms, kid_wait: 10s }}
            routes:
              - name: main
                match: {{ path_prefix: /main }}
                upstream: u
                middleware:
                  - jwt:
                      provider: main
                      sources: [bearer, {{ query: access_token }}, {{ cookie: token }}]
                      claims_to_headers: {{ sub: X-User, email: X-Email }}
              - name: scoped
                match: {{ path_prefix: /scoped }}
                upstream: u
                middleware: [{{ jwt: {{ provider: main, require: {{ scopes: [users:read], claims: {{ role: admin }} }} }} }}]
              - name: forward
                match: {{ path_prefix: /forward }}
                upstream: u
                middleware: [{{ jwt: {{ provider: main, forward_authorization: true }} }}]
              - name: rs
                match: {{ path_prefix: /rs }}
                upstream: u
                middleware: [{{ jwt: {{ provider: rs-only }} }}]
              - name: remote
                match: {{ path_prefix: /remote }}
                upstream: u
                middleware: [{{ jwt: {{ provider: remote }} }}]
        """, upstreams={"u": [cls.up]}).start()
        # the remote provider's first fetch happens in the background at start
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and cls.idp.stats.requests == 0:
            cls.idp.wait_for(lambda st: st.requests > 0, 1)

    @classmethod
    def serve_jwks(cls, keys, status=200):
        cls.idp.files["/jwks.json"] = (status, json.dumps({"keys": keys}).encode(), "Content-Type: application/json\r\nCache-Control: max-age=300\r\n")

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.up.stop()
        cls.idp.stop()
        cls.t.close()

    def claims(self, **extra):
        c = {"iss": "https://id.example.com", "aud": "api", "sub": "user-1", "exp": now() + 300, "iat": now()}
        c.update(extra)
        return {k: v for k, v in c.items() if v is not None}

    def token(self, alg="ES256", header=None, **claims):
        return self.t.sign(alg, self.keys[alg]["private"], self.claims(**claims), header)

    def call(self, path, token=None, headers=None):
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        return request(self.gw.port, path=path, headers=h)

    def assert_401(self, r, error=None):
        self.assertEqual(r.status, 401, r.body)
        self.assertTrue(r.headers["www-authenticate"].startswith('Bearer realm="gatehouse"'))
        if error:
            self.assertEqual(r.json()["error"], error)

    def test_every_algorithm(self):
        for alg in ALGS:
            with self.subTest(alg):
                r = self.call("/main/echo", self.token(alg, email="a@example.com"))
                self.assertEqual(r.status, 200, r.body)
                h = dict(r.json()["headers"])
                self.assertEqual(h["x-user"], "user-1")
                self.assertEqual(h["x-email"], "a@example.com")
                self.assertNotIn("Authorization", h)  # stripped by default

    def test_tampering(self):
        tok = self.token("RS256")
        h, p, s = tok.split(".")
        forged = json.loads(base64.urlsafe_b64decode(p + "=="))
        forged["sub"] = "admin"
        self.assert_401(self.call("/main/x", f"{h}.{b64(json.dumps(forged).encode())}.{s}"), "invalid signature")
        sig = bytearray(base64.urlsafe_b64decode(s + "=="))
        sig[5] ^= 1
        self.assert_401(self.call("/main/x", f"{h}.{p}.{b64(bytes(sig))}"), "invalid signature")
        es = self.token("ES256").split(".")
        self.assert_401(self.call("/main/x", f"{es[0]}.{es[1]}.{b64(bytes(64))}"))  # r = s = 0

    def test_time_claims_with_skew(self):
        # skew 60 s, probed at skew ± 1 s. Claims are whole seconds and the gateway reads its
        # clock a little after the test: exp - 59 / - 61 and nbf + 59 hold whatever that delay;
        # nbf + 61 would fail if a second boundary fell in between, so it is probed at + 62.
        self.assertEqual(self.call("/main/x", self.token(exp=now() - 59)).status, 200)
        self.assert_401(self.call("/main/x", self.token(exp=now() - 61)), "token expired")
        self.assertEqual(self.call("/main/x", self.token(nbf=now() + 59)).status, 200)
        self.assert_401(self.call("/main/x", self.token(nbf=now() + 62)), "token not yet valid")
        self.assert_401(self.call("/main/x", self.token(iat=now() + 62)), "token not yet valid")
        self.assert_401(self.call("/main/x", self.token(exp=None)), "token expired")  # exp is required

    def test_issuer_and_audience(self):
        self.assert_401(self.call("/main/x", self.token(iss="https://evil.example.com")), "wrong issuer")
        self.assert_401(self.call("/main/x", self.token(aud="someone-else")), "wrong audience")
        self.assertEqual(self.call("/main/x", self.token(aud=["x", "other"])).status, 200)

    def test_alg_none_in_any_case(self):
        payload = b64(json.dumps(self.claims()).encode())
        for alg in ("none", "None", "NONE", "nOnE"):
            header = b64(json.dumps({"alg": alg, "kid": "kid-ES256"}).encode())
            self.assert_401(self.call("/main/x", f"{header}.{payload}."))
            self.assert_401(self.call("/main/x", f"{header}.{payload}.{b64(b'sig')}"))

    def test_hmac_with_the_rsa_public_key_is_refused(self):
        pem = self.t.call(op="spki", alg="RS256", key=self.keys["RS256"]["public"])["pem"]
        confused = {"kty": "oct", "k": b64(pem.encode()), "kid": "kid-RS256"}  # HMAC keyed with the PEM's bytes
        tok = self.t.sign("HS256", confused, self.claims(), {"kid": "kid-RS256"})
        self.assert_401(self.call("/rs/x", tok), "algorithm not allowed")  # the provider allows RS256 only
        self.assert_401(self.call("/main/x", tok))  # and the RSA key never verifies an HMAC

    def test_unknown_or_hostile_kid(self):
        for kid in ("nope", "../../dev/null", "' OR 1=1 --", "k" * 5000):
            with self.subTest(kid=kid[:20]):
                self.assert_401(self.call("/main/x", self.token(header={"kid": kid})))
        self.assert_401(self.call("/main/x", self.token(header={"kid": 7})), "malformed token")

    def test_attacker_supplied_keys_in_the_header_are_ignored(self):
        attacker = self.t.keypair("ES256", "kid-ES256")
        tok = self.t.sign("ES256", attacker["private"], self.claims(), {"jwk": attacker["public"], "jku": "http://evil/jwks"})
        self.assert_401(self.call("/main/x", tok), "invalid signature")

    def hs256(self, header, claims):
        # jose refuses to sign what it does not understand (crit): sign by hand with Python's hmac
        import hashlib
        import hmac
        secret = base64.urlsafe_b64decode(self.keys["HS256"]["private"]["k"] + "==")
        signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
        return signing_input + "." + b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())

    def test_crit_and_malformed(self):
        ok = self.hs256({"alg": "HS256", "kid": "kid-HS256"}, self.claims())
        self.assertEqual(self.call("/main/x", ok).status, 200)  # the hand-made signature is right...
        crit = self.hs256({"alg": "HS256", "kid": "kid-HS256", "crit": ["x-ext"], "x-ext": 1}, self.claims())
        self.assert_401(self.call("/main/x", crit), "unsupported critical header")  # ...and crit is refused
        tok = self.token()
        h, p, s = tok.split(".")
        for bad in (f"{h}.{p}", f"{h}.{p}.{s}.{s}", f"{h}..{s}", f"{h}.{p}.{s}=", f"{h}.{p}!.{s}", "x" * 9000):
            with self.subTest(bad=bad[:30]):
                self.assert_401(self.call("/main/x", bad))
        dup = b64(b'{"alg":"ES256","alg":"none","kid":"kid-ES256"}')
        self.assert_401(self.call("/main/x", f"{dup}.{p}.{s}"), "malformed token")

    def test_missing_token_and_sources(self):
        r = self.call("/main/x")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.headers["www-authenticate"], 'Bearer realm="gatehouse"')
        tok = self.token()
        self.assertEqual(request(self.gw.port, path=f"/main/x?access_token={tok}").status, 200)
        r = request(self.gw.port, path=f"/main/echo?q=1&access_token={tok}")
        self.assertEqual(r.json()["target"], "/main/echo?q=1")  # the token is not sent upstream
        self.assertEqual(request(self.gw.port, path="/main/x", headers={"Cookie": f"a=b; token={tok}"}).status, 200)
        # the same token in two places is fine; two different ones are not
        self.assertEqual(request(self.gw.port, path=f"/main/x?access_token={tok}", headers={"Authorization": f"Bearer {tok}"}).status, 200)
        self.assert_401(request(self.gw.port, path=f"/main/x?access_token={self.token(sub='other')}", headers={"Authorization": f"Bearer {tok}"}), "more than one token")

    def test_claim_headers_are_sanitised(self):
        r = self.call("/main/echo", self.token(), headers={"X-User": "forged", "X-Email": "forged"})
        h = r.json()["headers"]
        self.assertEqual([v for k, v in h if k.lower() == "x-user"], ["user-1"])
        self.assertEqual([v for k, v in h if k.lower() == "x-email"], [])
        self.assert_401(self.call("/main/x", self.token(sub="a\r\nX-Injected: 1")), "claim value not allowed in a header")
        self.assert_401(self.call("/main/x", self.token(email="a\nb")), "claim value not allowed in a header")

    def test_scopes_and_required_claims(self):
        r = self.call("/scoped/x", self.token(scope="users:write", role="admin"))
        self.assertEqual(r.status, 403)
        self.assertIn('error="insufficient_scope"', r.headers["www-authenticate"])
        self.assertIn('scope="users:read"', r.headers["www-authenticate"])
        self.assertEqual(self.call("/scoped/x", self.token(scope="openid users:read", role="admin")).status, 200)
        self.assertEqual(self.call("/scoped/x", self.token(scp=["users:read"], role="admin")).status, 200)
        self.assert_401(self.call("/scoped/x", self.token(scope="users:read", role="user")), "required claim missing or wrong")

    def test_forward_authorization(self):
        tok = self.token()
        h = {k.lower(): v for k, v in self.call("/forward/echo", tok).json()["headers"]}
        self.assertEqual(h["authorization"], f"Bearer {tok}")

    def test_remote_jwks_rotation_and_outage(self):
        tok1 = self.t.sign("ES256", self.rot1["private"], {"sub": "r", "exp": now() + 300})
        self.assertEqual(self.call("/remote/x", tok1).status, 200)
        # rotate: the IdP now publishes rot-2; a token with the new kid waits for the refetch
        self.serve_jwks([self.rot1["public"], self.rot2["public"]])
        tok2 = self.t.sign("ES256", self.rot2["private"], {"sub": "r", "exp": now() + 300})
        self.assertEqual(self.call("/remote/x", tok2).status, 200)
        # the key server goes down: cached keys keep working, an unknown kid fails after a refetch attempt
        self.serve_jwks([], status=500)
        fetches = self.idp.stats.requests
        stranger = self.t.keypair("ES256", "rot-3")
        started = time.monotonic()
        self.assert_401(self.call("/remote/x", self.t.sign("ES256", stranger["private"], {"sub": "r", "exp": now() + 300})))
        # Woken by the failed refetch, not held for all of kid_wait (10 s) as a polling wait was.
        self.assertLess(time.monotonic() - started, 5)
        self.assertGreater(self.idp.stats.requests, fetches)
        self.assertEqual(self.call("/remote/x", tok1).status, 200)
        self.assertEqual(self.call("/remote/x", self.t.sign("ES256", self.rot2["private"], {"sub": "z", "exp": now() + 300})).status, 200)
        _, providers = self.gw.admin("GET", "/jwt/providers")
        remote = next(p for p in providers if p["name"] == "remote")
        self.assertEqual(sorted(k["kid"] for k in remote["keys"]), ["rot-1", "rot-2"])
        self.assertTrue(remote["last_result"].startswith("failed"))
        self.serve_jwks([self.rot1["public"], self.rot2["public"]])

    def test_metrics_count_outcomes(self):
        self.call("/main/x", self.token())
        self.call("/main/x", "garbage")
        _, text = self.gw.admin("GET", "/metrics")
        self.assertRegex(text, r'gatehouse_jwt_validations_total\{provider="main",result="ok"\} [1-9]')
        self.assertRegex(text, r'gatehouse_jwt_validations_total\{provider="main",result="malformed"\} [1-9]')


if __name__ == "__main__":
    unittest.main()
