"""The status page (GET /status on the admin listener) in a real browser: Debian's Chromium,
headless, driven through playwright-core (tests/integration/browser/driver.mjs) against the real
binary and real upstreams. Rows for listeners, routes, upstream endpoints, rate limits, the cache,
certificates and reloads; an endpoint that fails its health checks turns failing within two
refreshes; a rejected reload shows its file:line:col; route names made of markup stay text; the
strict Content-Security-Policy is sent and nothing on the page breaks it; with admin.auth the
data needs the token typed into the page. Screenshots go to $GATEHOUSE_ARTIFACTS (CMake: the
build tree's test-artifacts/) as status-page.png and status-page-phone.png.

Nothing sleeps to synchronise: the page's state is awaited by polling the DOM with a deadline."""
import json
import os
import re
import select
import subprocess
import unittest

from harness import HERE, NET_TIMEOUT, Gatehouse, request, upstream, wait_until
from pki import Pki
from test_admin import TOKEN, token_file

DRIVER_DIR = os.path.join(HERE, "browser")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = os.environ.get("GATEHOUSE_ARTIFACTS", os.path.join(HERE, "..", "..", "build", "test-artifacts"))
REFRESH = 0.5  # seconds between the page's polls (?refresh=)
XSS_SCRIPT = "<script>window.__pwned='script'</script>"
XSS_IMG = "<img src=x onerror=\"window.__pwned='img';document.title='pwned'\">"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'none'")


class Browser:
    """One headless Chromium, commanded a JSON line at a time (driver.mjs)."""

    def __init__(self):
        if not os.path.exists(CHROMIUM) or not os.path.isdir(os.path.join(DRIVER_DIR, "node_modules", "playwright-core")):
            raise RuntimeError(f"needs {CHROMIUM} and playwright-core in {DRIVER_DIR}/node_modules: run .ci/install-deps")
        self.proc = subprocess.Popen(["node", "driver.mjs"], cwd=DRIVER_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

    def call(self, op, timeout=NET_TIMEOUT + 10, **args):
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError(f"the browser driver did not answer {op} in {timeout} s")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the browser driver exited:\n" + self.proc.stderr.read())
        return json.loads(line)

    def open(self, url, width=1280, height=900):
        return self.call("open", url=url, width=width, height=height)

    def eval(self, js):
        r = self.call("eval", js=js)
        if not r["ok"]:
            raise AssertionError(r["error"])
        return r["value"]

    def wait(self, js, timeout=NET_TIMEOUT):
        """True once the predicate holds in the page (polled every 50 ms), False at the deadline."""
        return self.call("wait", js=js, timeout=int(timeout * 1000))["ok"]

    def screenshot(self, name):
        os.makedirs(ARTIFACTS, exist_ok=True)
        path = os.path.join(os.path.abspath(ARTIFACTS), name)
        r = self.call("screenshot", path=path)
        if not r["ok"]:
            raise AssertionError(r["error"])
        return path

    def close(self):
        try:
            self.call("close", timeout=10)
        except (OSError, TimeoutError, RuntimeError, ValueError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def text_of(selector):
    """A JS expression: the text of every element that matches, as a list."""
    return f"[...document.querySelectorAll({json.dumps(selector)})].map(e => e.textContent)"


def attr(value):
    """A CSS attribute-selector value: the name as a JSON string is a valid CSS string for these."""
    return json.dumps(value)


class StatusPage(unittest.TestCase):
    """One gateway with a TLS listener, two upstreams under active health checks, a rate limit,
    a cache and two routes whose names are markup; one browser for every test."""

    @classmethod
    def setUpClass(cls):
        cls.browser = Browser()
        cls.addClassCleanup(cls.browser.close)
        cls.api_up = upstream("api")
        cls.addClassCleanup(cls.api_up.stop)
        cls.flaky_up = upstream("flaky")
        cls.addClassCleanup(cls.flaky_up.stop)
        cls.pki = Pki()
        checks = "health_check: { path: /healthz, interval: 100ms, timeout: 1s, healthy_threshold: 1, unhealthy_threshold: 1 }"
        cls.config = f"""
            listeners:
              - {{ name: public, listen: 127.0.0.1:0 }}
              - name: secure
                listen: 127.0.0.2:0   # not 127.0.0.1:0 too: the daemon keys listeners by configured address
                tls: {{ certificates: [{{ cert: {cls.pki.path('local.pem')}, key: {cls.pki.path('local.key')} }}] }}
            cache: {{ max_bytes: 1MiB }}
            routes:
              - name: api
                match: {{ path_prefix: /api }}
                upstream: api
                middleware:
                  - rate_limit: {{ limits: [{{ name: per-client, key: client_ip, rate: 1000/s, burst: 100 }}] }}
              - name: catalog
                match: {{ path_prefix: /catalog }}
                upstream: api
                middleware: [{{ cache: {{ default_ttl: 60s }} }}]
              - {{ name: flaky, match: {{ path_prefix: /flaky }}, upstream: flaky }}
              - {{ name: {json.dumps(XSS_SCRIPT)}, match: {{ path: /s }}, respond: {{ status: 200 }} }}
              - {{ name: {json.dumps(XSS_IMG)}, match: {{ path: /i }}, respond: {{ status: 503 }} }}
        """
        api_extra = checks + "\ncircuit_breaker: { failure_rate: 50%, window: 10s, min_requests: 20 }\noutlier_detection: { consecutive_5xx: 5 }"
        cls.gw = Gatehouse(cls.config, upstreams={"api": ([cls.api_up], api_extra), "flaky": ([cls.flaky_up], checks)}).start()
        cls.addClassCleanup(cls.gw.stop)
        cls.url = f"http://127.0.0.1:{cls.gw.admin_port}/status?refresh={REFRESH}"

    def open_page(self, **size):
        r = self.browser.open(self.url, **size)
        self.assertEqual(r["status"], 200)
        self.assertTrue(self.browser.wait("document.body.dataset.state === 'ok'"), self.browser.call("events"))
        return r

    def refreshes(self):
        return int(self.browser.eval("document.body.dataset.refreshes"))

    def test_rows_for_everything_the_admin_api_knows(self):
        self.open_page()
        for _ in range(5):
            self.assertEqual(request(self.gw.port, path="/api/x").status, 200)
        self.assertEqual(request(self.gw.port, path="/catalog/1").status, 200)
        b = self.browser
        self.assertTrue(b.wait("document.querySelector('tr[data-listener=\"secure\"]')"))
        self.assertEqual(b.eval(text_of("tr[data-listener] td:first-child")), ["public", "secure"])
        self.assertEqual(b.eval(text_of("tr[data-listener] td:nth-child(2)")), [f"127.0.0.1:{self.gw.port}", f"127.0.0.2:{self.gw.ports['secure']}"])
        self.assertEqual(b.eval(text_of("tr[data-route] td:first-child")), ["api", "catalog", "flaky", XSS_SCRIPT, XSS_IMG])
        # the counters reach the page: the api route's total (last column) counts the five requests
        self.assertTrue(b.wait("document.querySelector('tr[data-route=\"api\"] td:last-child').textContent === '5'"),
                        b.eval(text_of("tr[data-route='api'] td")))
        for name, up in (("api", self.api_up), ("flaky", self.flaky_up)):
            selector = f"article[data-upstream={attr(name)}] tr[data-endpoint={attr(f'127.0.0.1:{up.port}')}]"
            self.assertTrue(b.wait(f"document.querySelector({json.dumps(selector)})?.dataset.health === 'healthy'"),
                            b.eval(text_of("article[data-upstream]")))
        self.assertIn("closed", b.eval(text_of("article[data-upstream='api'] .facts dd"))[1])  # the breaker
        api_endpoint = b.eval(text_of("article[data-upstream='api'] tr[data-endpoint] td"))
        self.assertEqual(api_endpoint[2], "0")  # ejections (outlier detection is on)
        self.assertRegex(api_endpoint[3], r"^\d+ of \d+ \(\d+ idle\)$")  # pool use
        self.assertEqual(b.eval(text_of("tr[data-limit] td"))[:3], ["api", "per-client", "1000/1s"])
        self.assertTrue(b.wait("document.querySelector('tr[data-cache-route=\"catalog\"]')"))
        certificate = b.eval(text_of("tr[data-certificate] td"))
        self.assertEqual(certificate[:2], ["secure", "localhost"])
        self.assertRegex(certificate[3], r"^(29|30) days$")
        self.assertTrue(b.wait("document.querySelector('tr[data-result=\"ok\"]')"))  # the start counts as a reload
        self.assertEqual(b.call("events")["errors"], [])
        print("screenshot:", b.screenshot("status-page.png"))

    def test_route_names_made_of_markup_are_text_and_nothing_runs(self):
        self.open_page()
        b = self.browser
        self.assertTrue(b.wait(f"document.querySelector({json.dumps(f'tr[data-route={attr(XSS_IMG)}]')})"))
        names = b.eval(text_of("tr[data-route] td:first-child"))
        self.assertIn(XSS_SCRIPT, names)
        self.assertIn(XSS_IMG, names)
        self.assertEqual(b.eval("document.querySelectorAll('img, main script').length"), 0)
        self.assertEqual(b.eval("typeof window.__pwned"), "undefined")
        self.assertEqual(b.eval("document.title"), "gatehouse status")
        events = b.call("events")
        self.assertEqual(events["dialogs"], [])
        self.assertEqual(events["errors"], [])

    def test_the_strict_policy_is_sent_and_the_page_keeps_to_it(self):
        r = self.open_page()
        self.assertEqual(r["headers"].get("content-security-policy"), CSP)
        self.assertEqual(r["headers"].get("x-content-type-options"), "nosniff")
        for path, kind in (("/status", "text/html"), ("/status.js", "text/javascript"), ("/status.css", "text/css")):
            with self.subTest(path=path):
                got = request(self.gw.admin_port, path=path, host="admin")
                self.assertEqual(got.status, 200)
                self.assertTrue(got.headers["content-type"].startswith(kind))
                self.assertEqual(got.headers.get("content-security-policy"), CSP)
                self.assertEqual(got.headers.get("x-content-type-options"), "nosniff")
        self.assertEqual(request(self.gw.admin_port, method="POST", path="/status", host="admin").status, 405)
        stats = request(self.gw.admin_port, path="/stats", host="admin")  # JSON with markup in names: never sniffed as HTML
        self.assertEqual((stats.headers["content-type"], stats.headers.get("x-content-type-options")), ("application/json", "nosniff"))
        # every table filled under the policy: no inline script or style was needed, nothing was refused
        self.assertTrue(self.browser.wait("document.querySelectorAll('section > .body > *').length >= 7"))
        self.assertEqual(self.browser.call("events")["violations"], [])
        self.assertFalse(any("Content Security Policy" in line for line in self.browser.call("events")["console"]))

    def test_readable_on_a_phone(self):
        self.open_page(width=390, height=844)
        b = self.browser
        self.assertTrue(b.wait("document.querySelector('article[data-upstream] tr[data-endpoint]')"))
        self.assertIn("width=device-width", b.eval("document.querySelector('meta[name=viewport]').content"))
        # wide tables scroll inside their own box; the page itself is no wider than the screen
        self.assertLessEqual(b.eval("document.documentElement.scrollWidth"), 390)
        print("screenshot:", b.screenshot("status-page-phone.png"))

    def test_an_endpoint_failing_its_health_checks_turns_failing_within_two_refreshes(self):
        self.open_page()
        b = self.browser
        selector = json.dumps(f"tr[data-endpoint={attr(f'127.0.0.1:{self.flaky_up.port}')}]")
        self.assertTrue(b.wait(f"document.querySelector({selector})?.dataset.health === 'healthy'"))
        self.flaky_up.refuse()
        refused = [True]

        def accept_again():
            if refused.pop():
                self.flaky_up.accept_again()

        self.addCleanup(lambda: refused and accept_again())

        def failing_in_admin_api():
            _, body = self.gw.admin("GET", "/upstreams")
            flaky = next(u for u in body["upstreams"] if u["name"] == "flaky")
            return flaky["endpoints"][0]["health"].get("healthy") is False

        self.assertTrue(wait_until(failing_in_admin_api), self.gw.log()[-3000:])
        seen_at = self.refreshes()
        self.assertTrue(b.wait(f"document.querySelector({selector})?.dataset.health === 'failing'"),
                        b.eval(text_of("article[data-upstream='flaky']")))
        # the poll under way when the check failed may still draw the old state; the next one not
        self.assertLessEqual(self.refreshes(), seen_at + 2)
        self.assertIn("failing", b.eval(f"document.querySelector({selector}).textContent"))
        accept_again()
        self.assertTrue(b.wait(f"document.querySelector({selector})?.dataset.health === 'healthy'"))

    def test_a_rejected_reload_shows_its_diagnostic_with_file_line_and_column(self):
        self.open_page()
        with open(self.gw.config_path) as f:
            good = f.read()
        self.addCleanup(self.restore_config, good)
        bad = good.replace("listeners:", "listeners:\n  - { name: broken, listen: 127.0.0.1:0, max_connectionz: 5 }", 1)
        line = bad.splitlines().index("  - { name: broken, listen: 127.0.0.1:0, max_connectionz: 5 }") + 1
        column = bad.splitlines()[line - 1].index("max_connectionz") + 1
        self.gw.write_config(bad)
        status, body = self.gw.reload()
        self.assertEqual(status, 400, body)
        where = f"{self.gw.config_path}:{line}:{column}"
        self.assertIn(where, body["error"])
        b = self.browser
        self.assertTrue(b.wait("document.querySelector('tr[data-result=\"rejected\"] pre.diagnostic')"), b.eval(text_of("#reloads")))
        diagnostic = b.eval("document.querySelector('tr[data-result=\"rejected\"] pre.diagnostic').textContent")
        self.assertIn(where, diagnostic)
        self.assertIn("max_connectionz", diagnostic)
        self.assertIn("max_connections", diagnostic)  # the "did you mean" of the loader
        print("screenshot:", b.screenshot("status-page-rejected-reload.png"))

    def restore_config(self, text):
        self.gw.write_config(text)
        self.assertEqual(self.gw.reload()[0], 200)


class StatusPageWithAdminAuth(unittest.TestCase):
    """admin.auth: the page (it holds no data) loads without the token, its data does not."""

    @classmethod
    def setUpClass(cls):
        cls.browser = Browser()
        cls.addClassCleanup(cls.browser.close)
        cls.gw = Gatehouse(f"""
            admin: {{ listen: 127.0.0.1:0, auth: {{ token_file: {token_file()} }} }}
            routes: [{{ name: secret-route-name, match: {{ path: /hello }}, respond: {{ status: 200, body: hi }} }}]
        """).start()
        cls.addClassCleanup(cls.gw.stop)
        cls.url = f"http://127.0.0.1:{cls.gw.admin_port}/status?refresh={REFRESH}"

    def test_without_the_token_the_data_fetches_are_refused_and_nothing_shows(self):
        b = self.browser
        r = b.open(self.url)
        self.assertEqual(r["status"], 200)
        self.assertEqual(r["headers"].get("content-security-policy"), CSP)
        self.assertTrue(b.wait("document.body.dataset.state === 'unauthorized'"))
        self.assertFalse(b.eval("document.getElementById('token-form').hidden"))
        data = [x for x in b.call("events")["responses"] if re.search(r"/(stats|upstreams|reloads|rate_limits|cache)$", x["url"])]
        self.assertGreaterEqual(len(data), 5)
        self.assertTrue(all(x["status"] == 401 and not x["authorization"] for x in data), data)
        self.assertNotIn("secret-route-name", b.eval("document.body.textContent"))
        # the shell itself holds nothing of the config
        shell = request(self.gw.admin_port, path="/status", host="admin")
        self.assertEqual(shell.status, 200)
        self.assertNotIn(b"secret-route-name", shell.body)
        self.assertEqual(request(self.gw.admin_port, path="/stats", host="admin").status, 401)

    def test_the_token_typed_into_the_page_opens_the_data_for_this_tab(self):
        b = self.browser
        b.open(self.url)
        self.assertTrue(b.wait("document.body.dataset.state === 'unauthorized'"))
        before = int(b.eval("document.body.dataset.refreshes"))
        b.call("fill", selector="#token", value="not-the-token")
        b.call("press", selector="#token", key="Enter")
        self.assertTrue(b.wait("sessionStorage.getItem('gatehouse-admin-token') === 'not-the-token'"))
        self.assertTrue(b.wait(f"+document.body.dataset.refreshes >= {before + 2}"))
        self.assertEqual(b.eval("document.body.dataset.state"), "unauthorized")
        b.call("fill", selector="#token", value=TOKEN)
        b.call("press", selector="#token", key="Enter")
        self.assertTrue(b.wait("document.querySelector('tr[data-route=\"secret-route-name\"]')"), b.call("events"))
        self.assertEqual(b.eval("document.body.dataset.state"), "ok")
        self.assertEqual(b.eval("localStorage.length"), 0)  # kept for this tab only
        self.assertEqual(b.eval("document.getElementById('token').value"), "")
        stats = [x for x in b.call("events")["responses"] if x["url"].endswith("/stats")]
        self.assertEqual(stats[-1]["status"], 200)
        self.assertTrue(stats[-1]["authorization"])
        b.call("click", selector="#forget-token")
        self.assertTrue(b.wait("document.body.dataset.state === 'unauthorized'"))
        self.assertTrue(b.wait("!document.querySelector('tr[data-route]')"))


if __name__ == "__main__":
    unittest.main()
