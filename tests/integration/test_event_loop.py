"""event_loop.batch_wait through the real binary: under load a worker naps before blocking
(counted), every request is still answered, a trickle of requests makes it block at once
again, and 0 turns it off. A build on Asio's stock reactor cannot nap: it says so at startup
and in `gatehouse check`."""
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import BIN, Gatehouse, request
from test_observability import parse_metrics, sample

ROUTES = """
routes:
  - name: hello
    respond: { status: 200, body: "hello" }
"""


def naps(gw):
    status, text = gw.admin("GET", "/metrics")
    assert status == 200
    return sample(parse_metrics(text), "gatehouse_worker_batched_waits_total", worker="0")


def load(gw, n=20000):
    """ab: n keep-alive requests, 16 at a time; (complete, failed, non-2xx)."""
    r = subprocess.run(["ab", "-q", "-k", "-c", "16", "-n", str(n), f"http://127.0.0.1:{gw.port}/"], capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    num = lambda label: int(m.group(1)) if (m := re.search(label + r":\s+(\d+)", out)) else 0
    return num("Complete requests"), num("Failed requests"), num("Non-2xx responses"), out


# --version names the event loop the binary was built with (CMakeLists.txt, GATEHOUSE_ASIO_PATCHED).
PATCHED = "event loop: patched" in subprocess.run([BIN, "--version"], capture_output=True, text=True, timeout=30).stdout
UNUSED = "event_loop.batch_wait: warning: has no effect in this build"


class StockReactorSaysSo(unittest.TestCase):
    def test_check_warns_about_batch_wait_only_on_a_stock_reactor_and_still_passes(self):
        fd, path = tempfile.mkstemp(suffix=".yaml")
        with os.fdopen(fd, "w") as f:
            f.write("listeners: [{ name: p, listen: 127.0.0.1:8080 }]\nevent_loop: { batch_wait: 1ms }\n" + ROUTES)
        self.addCleanup(os.unlink, path)
        r = subprocess.run([BIN, "check", path], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("OK", r.stdout)
        if PATCHED:
            self.assertEqual(r.stderr, "")
        else:
            self.assertIn(f"{path}:2:27: {UNUSED}", r.stderr)

    def test_startup_warns_about_batch_wait_only_on_a_stock_reactor(self):
        with Gatehouse("event_loop: { batch_wait: 1ms }\n" + ROUTES) as gw:
            self.assertEqual(gw.has_log(re.escape(UNUSED)), not PATCHED, gw.log())
            self.assertEqual(request(gw.port).status, 200)


@unittest.skipUnless(shutil.which("ab"), "ab (apache2-utils) is not installed")
@unittest.skipUnless(PATCHED, "Asio's stock reactor: no naps (gatehouse --version)")
class BatchedIdleWaits(unittest.TestCase):
    def test_a_busy_worker_naps_and_answers_everything_and_a_trickle_blocks_at_once(self):
        # 1ms: a nap pays from two events per millisecond, which ab exceeds on any machine.
        with Gatehouse("event_loop: { batch_wait: 1ms }\n" + ROUTES) as gw:
            self.assertEqual(naps(gw), 0)
            complete, failed, non2xx, out = load(gw)
            self.assertEqual((complete, failed, non2xx), (20000, 0, 0), out)
            self.assertGreater(naps(gw), 0)
            # When the load stops, the worker naps on for about ten naps' worth of time while
            # the rate it measures decays, then blocks: wait for the count to settle (bounded).
            busy, deadline = naps(gw), time.monotonic() + 10
            while time.monotonic() < deadline:
                time.sleep(0.1)
                now = naps(gw)
                if now == busy:
                    break
                busy = now
            # A trickle: one request every 20 ms (pacing, not synchronisation: longer gaps on a
            # slow machine only make the rate lower). Each request passes three or more idle
            # points (accept, request, close); if every idle point napped there would be 120 or
            # more naps.
            for _ in range(40):
                self.assertEqual(request(gw.port).status, 200)
                time.sleep(0.02)
            self.assertLess(naps(gw) - busy, 10)

    def test_a_sequential_client_is_not_napped(self):
        # One connection, one request at a time: a high event rate, yet a nap would only delay
        # the one exchange in flight (each nap finds one event). After the first naps find too
        # little, only a probe per 256 idle points naps (3,000 requests pass 6,000 or more).
        with Gatehouse("event_loop: { batch_wait: 1ms }\n" + ROUTES) as gw:
            r = subprocess.run(["ab", "-q", "-k", "-c", "1", "-n", "3000", f"http://127.0.0.1:{gw.port}/"], capture_output=True, text=True, timeout=300)
            self.assertIn("Complete requests:      3000", r.stdout, r.stdout + r.stderr)
            self.assertLess(naps(gw), 100)

    def test_zero_turns_it_off(self):
        with Gatehouse("event_loop: { batch_wait: 0s }\n" + ROUTES) as gw:
            complete, failed, non2xx, out = load(gw)
            self.assertEqual((complete, failed, non2xx), (20000, 0, 0), out)
            self.assertEqual(naps(gw), 0)

    def test_a_reload_changes_it(self):
        with Gatehouse("event_loop: { batch_wait: 0s }\n" + ROUTES) as gw:
            load(gw, 5000)
            self.assertEqual(naps(gw), 0)
            gw.write_config(gw.render("event_loop: { batch_wait: 1ms }\n" + ROUTES))
            status, body = gw.reload()  # answers once every worker uses the new snapshot
            self.assertEqual(status, 200, body)
            complete, failed, non2xx, out = load(gw)
            self.assertEqual((complete, failed, non2xx), (20000, 0, 0), out)
            self.assertGreater(naps(gw), 0)


if __name__ == "__main__":
    unittest.main()
