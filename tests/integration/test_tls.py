"""TLS termination: certificates chosen by SNI (exact, wildcard, default), the version floor,
ALPN, mTLS with forwarded identity, certificate rotation while connections stay open, and what
`gatehouse check` says about bad certificate files. Certificates are made with the openssl CLI."""
import os
import re
import socket
import ssl
import subprocess
import tempfile
import textwrap
import time
import unittest

from harness import BIN, Gatehouse, read_response, upstream
from pki import Pki


def tls_connect(port, server_name=None, cafile=None, cert=None, key=None, versions=None):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    if versions:
        ctx.minimum_version, ctx.maximum_version = versions
    if cert:
        ctx.load_cert_chain(cert, key)
    raw = socket.create_connection(("127.0.0.1", port), timeout=20)
    return ctx.wrap_socket(raw, server_hostname=server_name)


def tls_upstream(pki, name, cert="ab", client_ca=False):
    """A test upstream serving HTTPS with one of the Pki's certificates (requiring a client
    certificate from the Pki's CA when client_ca)."""
    from upstream import Upstream
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=pki.path("ca.pem") if client_ca else None)
    ctx.load_cert_chain(pki.path(f"{cert}.pem"), pki.path(f"{cert}.key"))
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
    return Upstream(name=name, ssl_context=ctx).start_in_thread()


def peer_cn(s):
    return dict(x[0] for x in s.getpeercert()["subject"])["commonName"]


def get(s, path="/echo", host="a.example.com", headers=""):
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n".encode())
    return read_response(s.makefile("rb"))


class Tls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = Pki()
        cls.up = upstream("u")
        p = cls.pki.path
        cls.gw = Gatehouse(f"""
            reload: {{ watch: true, debounce: 50ms }}
            listeners:
              - name: public
                listen: 127.0.0.1:0
                tls:
                  certificates: [{{ cert: {p('ab.pem')}, key: {p('ab.key')} }}, {{ cert: {p('wild.pem')}, key: {p('wild.key')} }}]
              - name: modern
                listen: 127.0.0.1:0
                tls: {{ certificates: [{{ cert: {p('ab.pem')}, key: {p('ab.key')} }}], min_version: "1.3" }}
              - name: mtls
                listen: 127.0.0.1:0
                tls:
                  certificates: [{{ cert: {p('ab.pem')}, key: {p('ab.key')} }}]
                  client_ca: {p('ca.pem')}
                  identity_headers: {{ subject: X-Client-Subject, sans: X-Client-SANs, fingerprint: X-Client-Cert-SHA256 }}
              - name: mtls-optional
                listen: 127.0.0.1:0
                tls:
                  certificates: [{{ cert: {p('ab.pem')}, key: {p('ab.key')} }}]
                  client_ca: {p('ca.pem')}
                  client_auth: optional
                  identity_headers: {{ subject: X-Client-Subject }}
              - name: stall
                listen: 127.0.0.1:0
                tls: {{ certificates: [{{ cert: {p('ab.pem')}, key: {p('ab.key')} }}], handshake_timeout: 500ms }}
            routes: [{{ name: all, upstream: u }}]
        """, upstreams={"u": [cls.up]}).start()

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.up.stop()

    def assert_metric_soon(self, pattern):
        """Workers count just after the connection ends: poll the scrape (bounded) for the line."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            m = self.gw.admin("GET", "/metrics")[1]
            if re.search(pattern, m):
                break
        self.assertRegex(m, pattern)

    def test_sni_picks_the_certificate(self):
        ca = self.pki.path("ca.pem")
        port = self.gw.ports["public"]
        for name, cn in (("a.example.com", "a.example.com"), ("B.Example.com", "a.example.com"), ("x.wild.example.com", "*.wild.example.com"),
                         ("unknown.example.org", "a.example.com"), (None, "a.example.com"), ("deep.x.wild.example.com", "a.example.com")):
            with self.subTest(name=name):
                s = tls_connect(port, name, ca)
                self.assertEqual(peer_cn(s), cn)
                r = get(s)
                self.assertEqual(r.status, 200)
                self.assertEqual(dict(r.json()["headers"])["X-Forwarded-Proto"], "https")
                s.close()

    def test_curl_with_resolve_and_cacert(self):
        port = self.gw.ports["public"]
        out = subprocess.run(["curl", "-s", "--resolve", f"b.example.com:{port}:127.0.0.1", "--cacert", self.pki.path("ca.pem"),
                              f"https://b.example.com:{port}/echo"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn('"path": "/echo"', out.stdout)

    def test_version_floor_and_alpn(self):
        port = self.gw.ports["modern"]
        with self.assertRaises(ssl.SSLError):
            tls_connect(port, "a.example.com", self.pki.path("ca.pem"), versions=(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2))
        s = tls_connect(port, "a.example.com", self.pki.path("ca.pem"))
        self.assertEqual(s.version(), "TLSv1.3")
        s.close()
        out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.gw.ports['public']}", "-servername", "a.example.com", "-alpn", "h2,http/1.1"],
                             input="", capture_output=True, text=True, timeout=30).stdout
        self.assertIn("ALPN protocol: h2", out)  # protocols: [h2, http1], the default (test_http2 has the rest)
        out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.gw.ports['public']}", "-servername", "a.example.com", "-alpn", "http/1.1"],
                             input="", capture_output=True, text=True, timeout=30).stdout
        self.assertIn("ALPN protocol: http/1.1", out)
        out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.gw.ports['public']}", "-servername", "a.example.com", "-alpn", "spdy/3"],
                             input="", capture_output=True, text=True, timeout=30).stdout
        self.assertIn("No ALPN negotiated", out)

    def test_mtls_required(self):
        port = self.gw.ports["mtls"]
        ca = self.pki.path("ca.pem")
        with self.assertRaisesRegex(ssl.SSLError, "CERTIFICATE_REQUIRED|certificate required"):  # the alert
            s = tls_connect(port, "a.example.com", ca)
            try:
                get(s)  # TLS 1.3 reports the missing certificate on the first read
            finally:
                s.close()
        # the refused handshake is counted
        self.assert_metric_soon(r'gatehouse_tls_handshake_failures_total\{listener="mtls"\} [1-9]')
        s = tls_connect(port, "a.example.com", ca, cert=self.pki.path("client1.pem"), key=self.pki.path("client1.key"))
        r = get(s, headers="X-Client-Subject: forged\r\nX-Client-Cert-SHA256: forged\r\n")
        s.close()
        h = r.json()["headers"]
        subjects = [v for k, v in h if k.lower() == "x-client-subject"]
        self.assertEqual(subjects, ["/CN=alice"])
        self.assertEqual([v for k, v in h if k.lower() == "x-client-sans"], ["alice.clients.example.com"])
        fp = subprocess.run(["openssl", "x509", "-in", self.pki.path("client1.pem"), "-noout", "-fingerprint", "-sha256"], capture_output=True, text=True).stdout
        expected = fp.strip().split("=", 1)[1].replace(":", "").lower()
        self.assertEqual([v for k, v in h if k.lower() == "x-client-cert-sha256"], [expected])

    def test_mtls_optional(self):
        port = self.gw.ports["mtls-optional"]
        s = tls_connect(port, "a.example.com", self.pki.path("ca.pem"))
        r = get(s, headers="X-Client-Subject: forged\r\n")
        s.close()
        self.assertEqual(r.status, 200)
        self.assertNotIn("x-client-subject", {k.lower() for k, _ in r.json()["headers"]})

    def test_handshake_garbage_does_not_affect_others(self):
        port = self.gw.ports["public"]
        junk = socket.create_connection(("127.0.0.1", port))
        junk.sendall(b"GET / HTTP/1.1\r\nHost: plain\r\n\r\n")  # plaintext on a TLS port
        junk.recv(100)
        junk.close()
        s = tls_connect(port, "a.example.com", self.pki.path("ca.pem"))
        self.assertEqual(get(s).status, 200)
        s.close()


    def test_stalled_handshake_times_out_alone(self):
        port = self.gw.ports["stall"]
        stalled = socket.create_connection(("127.0.0.1", port), timeout=30)
        stalled.sendall(b"\x16\x03\x01\x00\x50\x01")  # a ClientHello that never finishes
        s = tls_connect(port, "a.example.com", self.pki.path("ca.pem"))  # served meanwhile
        self.assertEqual(get(s).status, 200)
        s.close()
        t0 = time.monotonic()
        try:
            self.assertEqual(stalled.recv(100), b"")  # closed by the gateway at handshake_timeout
        except ConnectionResetError:
            pass
        # 500 ms configured; the default (10 s) would take far longer than this generous bound
        self.assertLess(time.monotonic() - t0, 8)
        stalled.close()
        self.assert_metric_soon(r'gatehouse_tls_handshake_failures_total\{listener="stall"\} 1\b')


class Resumption(unittest.TestCase):
    def test_sessions_resume_on_any_worker_and_across_reloads(self):
        pki = Pki()
        gw = Gatehouse(f"""
            workers: 2
            reload: {{ watch: false }}
            listeners: [{{ name: public, listen: 127.0.0.1:0, tls: {{ certificates: [{{ cert: {pki.path('ab.pem')}, key: {pki.path('ab.key')} }}] }} }}]
            routes: [{{ name: ok, respond: {{ status: 200 }} }}]
        """).start()
        try:
            for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
                with self.subTest(version=version):
                    ctx = ssl.create_default_context(cafile=pki.path("ca.pem"))
                    ctx.check_hostname = False
                    ctx.minimum_version = ctx.maximum_version = version
                    def connect(session=None):
                        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", gw.port), timeout=20), server_hostname="a.example.com", session=session)
                        self.assertEqual(get(s, "/", headers="Connection: close\r\n").status, 200)  # TLS 1.3 tickets arrive after the handshake
                        return s
                    first = connect()
                    session = first.session
                    first.close()
                    reused = 0
                    for _ in range(6):  # SO_REUSEPORT spreads these over both workers
                        s = connect(session)
                        reused += s.session_reused
                        s.close()
                    self.assertEqual(reused, 6)
                    self.assertEqual(gw.reload()[0], 200)  # new SSL contexts, same ticket keys
                    s = connect(session)
                    self.assertTrue(s.session_reused)
                    s.close()
                    # Clients that use each ticket once (as RFC 8446 advises; wrk, h2load and
                    # browsers do): a resumed TLS 1.3 connection must hand out a fresh ticket,
                    # or every other connection is a full handshake.
                    session = connect().session
                    for i in range(4):
                        s = connect(session)
                        self.assertTrue(s.session_reused, f"chained resumption {i}")
                        if version == ssl.TLSVersion.TLSv1_3:  # a new ticket: a new session id (its hash)
                            self.assertNotEqual(s.session.id, session.id, f"no new ticket on resumption {i}")
                        session = s.session
                        s.close()
        finally:
            gw.stop()


class UpstreamTls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = Pki()
        p = cls.pki.path
        cls.up = tls_upstream(cls.pki, "tls-up")
        cls.mtls_up = tls_upstream(cls.pki, "mtls-up", client_ca=True)
        ep = f"127.0.0.1:{cls.up.port}"
        mep = f"127.0.0.1:{cls.mtls_up.port}"
        cls.gw = Gatehouse(f"""
            routes:
              - {{ name: good, match: {{ path_prefix: /good }}, upstream: good }}
              - {{ name: wrong-name, match: {{ path_prefix: /wrong-name }}, upstream: wrong-name }}
              - {{ name: untrusted, match: {{ path_prefix: /untrusted }}, upstream: untrusted }}
              - {{ name: noverify, match: {{ path_prefix: /noverify }}, upstream: noverify }}
              - {{ name: mtls, match: {{ path_prefix: /mtls }}, upstream: mtls }}
              - {{ name: mtls-nocert, match: {{ path_prefix: /nocert }}, upstream: mtls-nocert }}
            upstreams:
              - {{ name: good, discovery: {{ static: [{ep}] }}, tls: {{ sni: a.example.com, ca: {p('ca.pem')} }} }}
              - {{ name: wrong-name, discovery: {{ static: [{ep}] }}, tls: {{ sni: wrong.example.com, ca: {p('ca.pem')} }} }}
              - {{ name: untrusted, discovery: {{ static: [{ep}] }}, tls: {{ sni: a.example.com }} }}
              - {{ name: noverify, discovery: {{ static: [{ep}] }}, tls: {{ verify: false }} }}
              - {{ name: mtls, discovery: {{ static: [{mep}] }}, tls: {{ sni: b.example.com, ca: {p('ca.pem')}, client_cert: {p('client1.pem')}, client_key: {p('client1.key')} }} }}
              - {{ name: mtls-nocert, discovery: {{ static: [{mep}] }}, tls: {{ sni: b.example.com, ca: {p('ca.pem')} }} }}
        """).start()

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.up.stop()
        cls.mtls_up.stop()

    def test_verified_and_pooled(self):
        from harness import request
        before = self.up.stats.connections
        for _ in range(5):
            r = request(self.gw.port, path="/good/echo")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json()["upstream"], "tls-up")
        self.assertEqual(self.up.stats.connections - before, 1)  # one TLS connection, reused

    def test_new_connections_resume_the_last_session(self):
        from harness import request
        before_conns, before_resumed = self.up.stats.connections, self.up.stats.tls_resumed
        for _ in range(4):  # close_after: every request needs a new upstream TLS connection
            r = request(self.gw.port, path="/good/echo?close_after=1")
            self.assertEqual(r.status, 200)
        self.assertTrue(self.up.wait_for(lambda st: st.connections - before_conns >= 4))
        # the first may need a full handshake; every later one offers the session it got before
        self.assertGreaterEqual(self.up.stats.tls_resumed - before_resumed, 3)

    def test_verification_failures_are_502(self):
        from harness import request
        for path in ("/wrong-name/x", "/untrusted/x", "/nocert/x"):
            with self.subTest(path):
                r = request(self.gw.port, path=path)
                self.assertEqual(r.status, 502)
        self.assertEqual(request(self.gw.port, path="/noverify/echo").status, 200)

    def test_client_certificate_to_the_upstream(self):
        from harness import request
        self.assertEqual(request(self.gw.port, path="/mtls/echo").status, 200)


class TlsBodies(unittest.TestCase):
    """Large bodies through TLS on both sides: the client's reads and the upstream's writes outpace
    each other, so records are split, writes wait for room, and nothing is lost or duplicated."""
    MIB64 = 64 << 20

    @classmethod
    def setUpClass(cls):
        cls.pki = Pki()
        p = cls.pki.path
        cls.up = tls_upstream(cls.pki, "tls-up")
        cls.gw = Gatehouse(f"""
            limits: {{ max_body_bytes: 1GiB, request_timeout: 60s, body_timeout: 60s }}
            listeners: [{{ name: public, listen: 127.0.0.1:0, tls: {{ certificates: [{{ cert: {p('ab.pem')}, key: {p('ab.key')} }}] }} }}]
            routes: [{{ name: all, upstream: up }}]
            upstreams: [{{ name: up, discovery: {{ static: [127.0.0.1:{cls.up.port}] }}, tls: {{ sni: a.example.com, ca: {p('ca.pem')} }} }}]
        """).start()

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()
        cls.up.stop()

    def connect(self):
        return tls_connect(self.gw.port, "a.example.com", self.pki.path("ca.pem"))

    def test_download_content_length_chunked_and_close_delimited(self):
        for query, framing in (("", "content-length"), ("&chunked=1", "chunked"), ("&close=1", None)):
            with self.subTest(framing or "close"):
                s = self.connect()
                s.sendall(f"GET /download?bytes={self.MIB64}{query} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
                r = read_response(s.makefile("rb", buffering=1 << 20))
                s.close()
                self.assertEqual(r.status, 200)
                self.assertEqual(len(r.body), self.MIB64)
                self.assertEqual(r.body.count(b"x"), self.MIB64)
                if framing == "content-length":
                    self.assertEqual(r.headers["content-length"], str(self.MIB64))
                elif framing == "chunked":
                    self.assertEqual(r.headers["transfer-encoding"], "chunked")

    def test_upload_content_length_and_chunked(self):
        block = b"u" * (1 << 20)
        for chunked in (False, True):
            with self.subTest(chunked=chunked):
                s = self.connect()
                if chunked:
                    s.sendall(b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
                    for _ in range(64):
                        s.sendall(b"%x\r\n" % len(block) + block + b"\r\n")
                    s.sendall(b"0\r\n\r\n")
                else:
                    s.sendall(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % self.MIB64)
                    for _ in range(64):
                        s.sendall(block)
                r = read_response(s.makefile("rb"))
                s.close()
                self.assertEqual(r.status, 200)
                self.assertEqual(r.json()["received"], self.MIB64)

    def test_connection_close_ends_with_close_notify(self):
        # suppress_ragged_eofs=False: a TCP close without close_notify raises SSLEOFError
        ctx = ssl.create_default_context(cafile=self.pki.path("ca.pem"))
        raw = socket.create_connection(("127.0.0.1", self.gw.port), timeout=20)
        s = ctx.wrap_socket(raw, server_hostname="a.example.com", suppress_ragged_eofs=False)
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):  # b"" only after the server's close_notify
            data += chunk
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "))


class HttpsJwks(unittest.TestCase):
    def test_jwks_fetched_over_https(self):
        import base64
        import hashlib
        import hmac
        import json as _json
        pki = Pki()
        idp = tls_upstream(pki, "idp", cert="local")
        b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
        secret = b"s" * 32
        idp.files["/jwks.json"] = (200, _json.dumps({"keys": [{"kty": "oct", "kid": "h", "k": b64(secret)}]}).encode(), "")
        signing_input = b64(b'{"alg":"HS256","kid":"h"}') + "." + b64(_json.dumps({"sub": "x", "exp": int(time.time()) + 300}).encode())
        token = signing_input + "." + b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())
        gw = Gatehouse(f"""
            jwt_providers: [{{ name: idp, jwks: {{ url: "https://localhost:{idp.port}/jwks.json", ca: {pki.path('ca.pem')}, kid_wait: 5s }} }}]
            routes: [{{ name: r, respond: {{ status: 200 }}, middleware: [{{ jwt: {{ provider: idp }} }}] }}]
        """).start()
        try:
            from harness import request
            # the first request may wait for the initial fetch (kid_wait), then passes
            self.assertEqual(request(gw.port, path="/", headers={"Authorization": f"Bearer {token}"}).status, 200)
            self.assertGreaterEqual(idp.stats.requests, 1)
        finally:
            gw.stop()
            idp.stop()


class HttpsRedirect(unittest.TestCase):
    def test_plain_listener_redirects_to_https(self):
        with Gatehouse("""
            listeners: [{ name: plain, listen: 127.0.0.1:0, redirect_https: { port: 8443 } }]
            routes: [{ name: ok, respond: { status: 200 } }]
        """) as gw:
            from harness import request
            r = request(gw.port, path="/a/../b?x=1", host="shop.example.com:8080")
            self.assertEqual(r.status, 308)
            self.assertEqual(r.headers["location"], "https://shop.example.com:8443/b?x=1")


class Rotation(unittest.TestCase):
    def test_certificate_replaced_and_symlink_swapped_while_a_connection_stays_open(self):
        pki = Pki()
        up = upstream("u")
        d = tempfile.mkdtemp(prefix="gatehouse-certs-")
        # the live files are symlinks, like a Kubernetes secret volume
        os.symlink(pki.path("ab.pem"), os.path.join(d, "tls.crt"))
        os.symlink(pki.path("ab.key"), os.path.join(d, "tls.key"))
        gw = Gatehouse(f"""
            reload: {{ watch: true, debounce: 50ms }}
            listeners: [{{ name: public, listen: 127.0.0.1:0, tls: {{ certificates: [{{ cert: {d}/tls.crt, key: {d}/tls.key }}] }} }}]
            routes: [{{ name: all, upstream: u }}]
        """, upstreams={"u": [up]}).start()
        try:
            ca = pki.path("ca.pem")
            old = tls_connect(gw.port, "a.example.com", ca)
            self.assertEqual(peer_cn(old), "a.example.com")
            self.assertEqual(get(old).status, 200)
            # swap both links at once (a new pair: the wildcard certificate)
            for name, target in (("tls.crt", pki.path("wild.pem")), ("tls.key", pki.path("wild.key"))):
                tmp = os.path.join(d, name + ".tmp")
                os.symlink(target, tmp)
                os.rename(tmp, os.path.join(d, name))
            # the two renames may arrive as one reload or two: wait until the new pair is in use
            self.assertTrue(gw.wait_for_log(r"config generation \d+ loaded \(file\)"))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                probe = tls_connect(gw.port, "x.wild.example.com", ca)
                cn = peer_cn(probe)
                probe.close()
                if cn == "*.wild.example.com":
                    break
            new = tls_connect(gw.port, "x.wild.example.com", ca)
            self.assertEqual(peer_cn(new), "*.wild.example.com")
            new.close()
            self.assertEqual(get(old).status, 200)  # the established connection is untouched
            old.close()
        finally:
            gw.stop()
            up.stop()


class Check(unittest.TestCase):
    def test_check_reports_certificate_problems(self):
        pki = Pki()
        path = os.path.join(pki.dir, "gatehouse.yaml")
        with open(path, "w") as f:
            f.write(textwrap.dedent(f"""\
                listeners:
                  - name: a
                    listen: 127.0.0.1:1
                    tls: {{ certificates: [{{ cert: {pki.path('missing.pem')}, key: {pki.path('ab.key')} }}] }}
                  - name: b
                    listen: 127.0.0.1:2
                    tls: {{ certificates: [{{ cert: {pki.path('ab.pem')}, key: {pki.path('wild.key')} }}] }}
                routes: [{{ name: r, respond: {{ status: 200 }} }}]
            """))
        r = subprocess.run([BIN, "check", path], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, re.escape(path) + r":4:\d+: listeners\[0\]\.tls\.certificates\[0\]\.cert: cannot load certificate")
        self.assertRegex(r.stderr, re.escape(path) + r":7:\d+: listeners\[1\]\.tls\.certificates\[0\]: the key .* does not match the certificate")
        with open(path, "w") as f:
            f.write(f"listeners: [{{ name: a, listen: 127.0.0.1:1, tls: {{ certificates: [{{ cert: {pki.path('old.pem')}, key: {pki.path('old.key')} }}] }} }}]\n"
                    "routes: [{ name: r, respond: { status: 200 } }]\n")
        r = subprocess.run([BIN, "check", path], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("warning: certificate", r.stderr)
        self.assertIn("has expired", r.stderr)


if __name__ == "__main__":
    unittest.main()
