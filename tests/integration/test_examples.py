"""Every example under config/examples/ passes `gatehouse check`; the ones that need no outside
service (marked below) also serve: started on free ports, ready, and answering."""
import os
import re
import subprocess
import unittest

from harness import BIN, Gatehouse, request

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "config", "examples")
SERVES = {"static-upstream.yaml": ("/healthz", 200), "rate-limit.yaml": ("/hello", 200), "edge-middleware.yaml": ("/api/x", 502), "compress.yaml": ("/api/x", 502),
          "fault-tolerance.yaml": ("/api/x", 503), "cache.yaml": ("/catalog/items", 502), "hardening.yaml": ("/healthz", 200),
          "event-loop.yaml": ("/healthz", 200)}


class Examples(unittest.TestCase):
    def test_every_example_passes_check(self):
        names = sorted(n for n in os.listdir(EXAMPLES) if n.endswith(".yaml"))
        self.assertIn("discovery.yaml", names)
        for name in names:
            with self.subTest(example=name):
                r = subprocess.run([BIN, "check", os.path.join(EXAMPLES, name)], capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_examples_that_need_no_service_serve(self):
        for name, (path, status) in SERVES.items():
            with self.subTest(example=name):
                with open(os.path.join(EXAMPLES, name)) as f:
                    text = f.read()
                text = re.sub(r"listen: [0-9.]+:\d+", "listen: 127.0.0.1:0", text)  # free ports
                with Gatehouse(text) as gw:
                    self.assertEqual(gw.admin("GET", "/-/ready")[0], 200)
                    self.assertEqual(request(gw.port, path=path).status, status)


if __name__ == "__main__":
    unittest.main()
