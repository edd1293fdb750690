"""The protected admin API (admin.auth.token_file) and the probes listener, through the real
binary: the bearer token is required everywhere but /-/healthy and /-/ready, mutating endpoints
are POST-only, a rotated token file counts without a restart, and the probes listener answers
only the probes. `workers: auto`'s log line says how many workers and why."""
import os
import re
import signal
import socket
import ssl
import tempfile
import unittest

from harness import NET_TIMEOUT, Gatehouse, connect, read_response, request, wait_until
from pki import Pki

TOKEN = "s3cr3t-admin-token-0123456789abcdef"
ROUTES = "routes: [{ name: hello, match: { path: /hello }, respond: { status: 200, body: hi } }]\n"


def write_token(path, token):
    """Replaces the file at once (write and rename), as a Kubernetes Secret update does."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(token)
    os.rename(tmp, path)


def token_file(token=TOKEN + "\n"):
    d = tempfile.mkdtemp(prefix="gatehouse-admin-token-")
    path = os.path.join(d, "admin-token")
    write_token(path, token)
    return path


def admin_get(gw, path, token=None, method="GET"):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return request(gw.admin_port, method=method, path=path, headers=headers, host="admin")


class AdminAuth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.token_path = token_file()
        cls.gw = Gatehouse(f"""
            admin: {{ listen: 127.0.0.1:0, auth: {{ token_file: {cls.token_path} }} }}
            {ROUTES}
        """).start()
        cls.addClassCleanup(cls.gw.stop)

    def test_without_a_token_every_endpoint_but_the_probes_is_401(self):
        for method, path in (("GET", "/config"), ("GET", "/metrics"), ("GET", "/routes"), ("GET", "/upstreams"), ("GET", "/reloads"),
                             ("GET", "/rate_limits"), ("GET", "/cache"), ("POST", "/cache/purge"), ("POST", "/-/reload"),
                             ("GET", "/-/reload"), ("GET", "/nothing-here")):
            with self.subTest(method=method, path=path):
                r = admin_get(self.gw, path, method=method)
                self.assertEqual(r.status, 401, r.body)
                self.assertEqual(r.headers.get("www-authenticate"), 'Bearer realm="gatehouse admin"')
                self.assertNotIn(b"routes", r.body)

    def test_a_wrong_token_is_401_with_invalid_token(self):
        for token in ("wrong", TOKEN[:-1], TOKEN + "x", TOKEN.upper()):
            with self.subTest(token=token):
                r = admin_get(self.gw, "/config", token=token)
                self.assertEqual(r.status, 401)
                self.assertEqual(r.headers.get("www-authenticate"), 'Bearer realm="gatehouse admin", error="invalid_token"')
        r = request(self.gw.admin_port, path="/config", headers={"Authorization": f"Basic {TOKEN}"}, host="admin")
        self.assertEqual(r.status, 401)

    def test_with_the_token_the_api_answers_and_shows_no_token(self):
        r = admin_get(self.gw, "/config", token=TOKEN)
        self.assertEqual(r.status, 200, r.body)
        cfg = r.json()["config"]
        self.assertEqual(cfg["admin"]["auth"], "bearer")
        self.assertNotIn(TOKEN, r.body.decode())
        self.assertEqual(admin_get(self.gw, "/metrics", token=TOKEN).status, 200)
        self.assertEqual(admin_get(self.gw, "/routes", token=TOKEN).json()[0]["name"], "hello")
        self.assertEqual(request(self.gw.admin_port, path="/routes", headers={"Authorization": f"bearer {TOKEN}"}, host="admin").status, 200)

    def test_probes_need_no_token(self):
        self.assertEqual(admin_get(self.gw, "/-/healthy").status, 200)
        self.assertEqual(admin_get(self.gw, "/-/ready").status, 200)
        self.assertEqual(admin_get(self.gw, "/-/ready", token="wrong").status, 200)
        r = admin_get(self.gw, "/-/ready", method="POST")
        self.assertEqual(r.status, 405)
        self.assertEqual(r.headers.get("allow"), "GET, HEAD")

    def test_mutating_endpoints_are_post_only(self):
        for path in ("/-/reload", "/cache/purge"):
            for method in ("GET", "PUT", "DELETE"):
                with self.subTest(method=method, path=path):
                    r = admin_get(self.gw, path, token=TOKEN, method=method)
                    self.assertEqual(r.status, 405)
                    self.assertEqual(r.headers.get("allow"), "POST")
        r = admin_get(self.gw, "/config", token=TOKEN, method="POST")
        self.assertEqual(r.status, 405)
        self.assertEqual(r.headers.get("allow"), "GET, HEAD")

    def test_post_reload_with_the_token_reloads_and_without_it_does_not(self):
        before = admin_get(self.gw, "/reloads", token=TOKEN).json()["generation"]
        self.assertEqual(admin_get(self.gw, "/-/reload", method="POST").status, 401)
        self.assertEqual(admin_get(self.gw, "/-/reload", token="wrong", method="POST").status, 401)
        self.assertEqual(admin_get(self.gw, "/reloads", token=TOKEN).json()["generation"], before)
        r = admin_get(self.gw, "/-/reload", token=TOKEN, method="POST")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json(), {"result": "ok", "generation": before + 1})
        attempts = admin_get(self.gw, "/reloads", token=TOKEN).json()
        self.assertEqual(attempts["generation"], before + 1)
        self.assertEqual(attempts["attempts"][0]["trigger"], "admin")


class TokenRotation(unittest.TestCase):
    def test_a_rotated_token_file_counts_without_a_restart(self):
        path = token_file()
        with Gatehouse(f"""
            admin: {{ listen: 127.0.0.1:0, auth: {{ token_file: {path} }} }}
            reload: {{ watch: true, debounce: 50ms }}
            {ROUTES}
        """) as gw:
            self.assertEqual(admin_get(gw, "/reloads", token=TOKEN).status, 200)
            # an empty file is refused like any broken config: the old token keeps working
            write_token(path, "\n")
            self.assertTrue(gw.wait_for_log(r"config reload \(file\) rejected"), gw.log())
            self.assertRegex(gw.log(), re.escape(path) + r"' is empty")
            self.assertEqual(admin_get(gw, "/reloads", token=TOKEN).status, 200)
            new = "n3w-admin-token-fedcba9876543210"
            write_token(path, new + "\n")
            self.assertTrue(wait_until(lambda: admin_get(gw, "/reloads", token=new).status == 200), gw.log())
            r = admin_get(gw, "/reloads", token=TOKEN)
            self.assertEqual(r.status, 401)
            self.assertIn("invalid_token", r.headers.get("www-authenticate"))
            self.assertEqual(admin_get(gw, "/reloads", token=new).json()["attempts"][0]["trigger"], "file")
            self.assertFalse(gw.has_log(r"takes effect at the next restart"))


class Probes(unittest.TestCase):
    def test_the_probes_listener_answers_only_the_probes(self):
        path = token_file()
        with Gatehouse(f"""
            admin: {{ listen: 127.0.0.1:0, auth: {{ token_file: {path} }} }}
            probes: {{ listen: 127.0.0.1:0 }}
            {ROUTES}
        """) as gw:
            self.assertIsNotNone(gw.probes_port)
            self.assertNotEqual(gw.probes_port, gw.admin_port)
            for p in ("/-/ready", "/-/healthy", "/-/ready?verbose=1"):
                r = request(gw.probes_port, path=p, host="probes")
                self.assertEqual(r.status, 200, p)
            self.assertEqual(request(gw.probes_port, path="/-/ready", host="probes").body, b"ready\n")
            for method, p in (("GET", "/metrics"), ("GET", "/config"), ("POST", "/-/reload"), ("GET", "/"), ("GET", "/hello")):
                with self.subTest(method=method, path=p):
                    headers = {"Authorization": f"Bearer {TOKEN}"}  # the token opens nothing here
                    self.assertEqual(request(gw.probes_port, method=method, path=p, headers=headers, host="probes").status, 404)
            r = request(gw.probes_port, method="POST", path="/-/ready", host="probes")
            self.assertEqual(r.status, 405)
            self.assertEqual(r.headers.get("allow"), "GET, HEAD")
            self.assertEqual(request(gw.port, path="/hello").status, 200)  # the public listener is not affected

    def test_probes_say_not_ready_while_draining(self):
        with Gatehouse(f"""
            probes: {{ listen: 127.0.0.1:0 }}
            drain: {{ delay: 30s, timeout: 1s }}
            {ROUTES}
        """) as gw:
            self.assertEqual(request(gw.probes_port, path="/-/ready", host="probes").status, 200)
            gw.signal(signal.SIGTERM)
            self.assertTrue(wait_until(lambda: request(gw.probes_port, path="/-/ready", host="probes").status == 503))
            self.assertEqual(request(gw.probes_port, path="/-/healthy", host="probes").status, 200)
            self.assertEqual(gw.admin("GET", "/-/ready")[0], 503)
            gw.signal(signal.SIGTERM)  # a second signal stops at once
            self.assertEqual(gw.wait(), 0)


def https_get(port, path, ca, cert=None, token=None):
    """A request over TLS (a client certificate when `cert` names one of the PKI's pairs)."""
    ctx = ssl.create_default_context(cafile=ca)
    if cert:
        ctx.load_cert_chain(cert + ".pem", cert + ".key")
    raw = socket.create_connection(("127.0.0.1", port), timeout=NET_TIMEOUT)
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n{auth}\r\n".encode())
        return read_response(s.makefile("rb"))


class Head(unittest.TestCase):
    def test_head_gets_the_length_and_no_body_on_a_kept_alive_connection(self):
        with Gatehouse(f"""
            probes: {{ listen: 127.0.0.1:0 }}
            {ROUTES}
        """) as gw:
            for port in (gw.admin_port, gw.probes_port):
                with self.subTest(port=port):
                    s = connect(port)
                    try:
                        s.sendall(b"HEAD /-/ready HTTP/1.1\r\nHost: a\r\n\r\nGET /-/ready HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                        f = s.makefile("rb")
                        head = read_response(f, head_request=True)
                        self.assertEqual(head.status, 200)
                        self.assertEqual(head.headers["content-length"], "6")
                        self.assertEqual(head.body, b"")
                        get = read_response(f)
                        self.assertEqual((get.status, get.body), (200, b"ready\n"))
                    finally:
                        s.close()


class AdminMutualTls(unittest.TestCase):
    def test_a_verified_client_certificate_authorises_and_nothing_else_does(self):
        pki = Pki()
        with Gatehouse(f"""
            admin:
              listen: 127.0.0.1:0
              tls:
                certificates: [{{ cert: {pki.path('local.pem')}, key: {pki.path('local.key')} }}]
                client_ca: {pki.path('ca.pem')}
            {ROUTES}
        """) as gw:
            self.assertTrue(gw.has_log(r"admin listening on 127\.0\.0\.1:\d+ \(HTTPS\)"))
            ca = pki.path("ca.pem")
            r = https_get(gw.admin_port, "/config", ca, cert=pki.path("client1"))
            self.assertEqual(r.status, 200, r.body)
            self.assertTrue(r.json()["config"]["admin"]["tls"])
            self.assertEqual(https_get(gw.admin_port, "/-/ready", ca, cert=pki.path("client1")).status, 200)
            # without a client certificate the handshake is refused (TLS 1.3: seen at the first read)
            with self.assertRaises((ssl.SSLError, ConnectionError, AttributeError, ValueError)):
                r = https_get(gw.admin_port, "/config", ca)
                if r is None:
                    raise ConnectionError("closed without a response")
            # a certificate from another CA is refused too
            other = Pki()
            with self.assertRaises((ssl.SSLError, ConnectionError, AttributeError, ValueError)):
                r = https_get(gw.admin_port, "/config", ca, cert=other.path("client1"))
                if r is None:
                    raise ConnectionError("closed without a response")
            # plain HTTP gets no answer
            self.assertIsNone(request_or_none(gw.admin_port, "/config"))

    def test_optional_client_certificates_leave_the_token_as_the_other_way_in(self):
        pki = Pki()
        with Gatehouse(f"""
            admin:
              listen: 127.0.0.1:0
              auth: {{ token_file: {token_file()} }}
              tls:
                certificates: [{{ cert: {pki.path('local.pem')}, key: {pki.path('local.key')} }}]
                client_ca: {pki.path('ca.pem')}
                client_auth: optional
            {ROUTES}
        """) as gw:
            ca = pki.path("ca.pem")
            self.assertEqual(https_get(gw.admin_port, "/config", ca, cert=pki.path("client1")).status, 200)
            self.assertEqual(https_get(gw.admin_port, "/config", ca, token=TOKEN).status, 200)
            self.assertEqual(https_get(gw.admin_port, "/config", ca).status, 401)
            self.assertEqual(https_get(gw.admin_port, "/config", ca, token="wrong").status, 401)
            self.assertEqual(https_get(gw.admin_port, "/-/healthy", ca).status, 200)


def request_or_none(port, path):
    try:
        return request(port, path=path, host="admin")
    except (ConnectionError, ValueError, IndexError):
        return None


class Workers(unittest.TestCase):
    def test_auto_logs_the_count_and_why(self):
        with Gatehouse("workers: auto\n" + ROUTES) as gw:
            m = re.search(r"workers: (\d+) \((.*)\)", gw.log())
            self.assertIsNotNone(m, gw.log())
            n = int(m.group(1))
            self.assertIn(f"{len(os.sched_getaffinity(0))} in the affinity mask", m.group(2))
            self.assertLessEqual(n, len(os.sched_getaffinity(0)))
            self.assertTrue(gw.has_log(rf"ready: {n} worker\(s\)"))
        with Gatehouse("workers: 1\n" + ROUTES) as gw:
            self.assertTrue(gw.has_log(r"workers: 1 \(configured\)"))


if __name__ == "__main__":
    unittest.main()
