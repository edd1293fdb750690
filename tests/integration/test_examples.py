"""Every example under config/examples/ passes `gatehouse check`; the ones that need no outside
service (marked below) also serve: started on free ports, ready, and answering. Files an example
reads at load (FILES) are written to a temporary directory and the example pointed there."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

from harness import BIN, Gatehouse, request

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "config", "examples")
SERVES = {"static-upstream.yaml": ("/healthz", 200), "rate-limit.yaml": ("/hello", 200), "edge-middleware.yaml": ("/api/x", 502), "compress.yaml": ("/api/x", 502),
          "fault-tolerance.yaml": ("/api/x", 503), "cache.yaml": ("/catalog/items", 502), "hardening.yaml": ("/healthz", 200),
          "event-loop.yaml": ("/healthz", 200), "admin-auth.yaml": ("/healthz", 200), "tracing-otlp.yaml": ("/healthz", 200),
          "path-templates.yaml": ("/users/42/orders/7", 502), "openapi.yaml": ("/v1/pets?limit=0", 400),
          "composition.yaml": ("/dashboard/42", 502), "ext-authz.yaml": ("/api/x", 503),
          "grpc-transcode.yaml": ("/v1/shelves/1", 502)}
# Examples that need a feature still on its way: left out of every test until it lands.
# What the files an example names hold here.
FILES = {"/etc/gatehouse/admin-token": "example-admin-token-0123456789abcdef\n",
         "/etc/gatehouse/introspection-secret": "example-introspection-secret\n"}
# Files of config/examples/ an example names by their installed path (the openapi spec and the
# file its $ref names beside it), copied to the temporary directory under the same relative path.
EXAMPLE_FILES = {"/etc/gatehouse/openapi/": "openapi"}
# Files an example names that are made at test time: grpc-transcode.yaml's descriptor set, compiled
# by protoc from the bookstore test service's proto (tests/grpc/protos/bookstore.proto).
GENERATED = {"/etc/gatehouse/bookstore.pb": "bookstore_descriptor_set"}
# What the environment variables an example names hold here (tracing-otlp.yaml's ${OTLP_TOKEN}).
os.environ.setdefault("OTLP_TOKEN", "example-otlp-token")


def bookstore_descriptor_set(out_path):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "grpc"))
    import bookstore
    bookstore.compile_descriptor_set(out_path)


def example_text(name):
    """The example, with the files of FILES it names written to a temporary directory."""
    with open(os.path.join(EXAMPLES, name)) as f:
        text = f.read()
    d = tempfile.mkdtemp(prefix="gatehouse-example-")
    for path, content in FILES.items():
        if path in text:
            local = os.path.join(d, os.path.basename(path))
            with open(local, "w") as f:
                f.write(content)
            text = text.replace(path, local)
    for path, how in GENERATED.items():
        if path in text:
            local = os.path.join(d, os.path.basename(path))
            globals()[how](local)
            text = text.replace(path, local)
    for path, folder in EXAMPLE_FILES.items():
        if path in text:
            local = os.path.join(d, folder)
            shutil.copytree(os.path.join(EXAMPLES, folder), local)
            text = text.replace(path, local + "/")
    return d, text


class Examples(unittest.TestCase):
    def test_every_example_passes_check(self):
        names = sorted(n for n in os.listdir(EXAMPLES) if n.endswith(".yaml"))
        self.assertIn("discovery.yaml", names)
        self.assertIn("admin-auth.yaml", names)
        for name in names:
            with self.subTest(example=name):
                d, text = example_text(name)
                path = os.path.join(d, name)
                with open(path, "w") as f:
                    f.write(text)
                r = subprocess.run([BIN, "check", path], capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_examples_that_need_no_service_serve(self):
        for name, (path, status) in SERVES.items():
            with self.subTest(example=name):
                _, text = example_text(name)
                text = re.sub(r"listen: [0-9.]+:\d+", "listen: 127.0.0.1:0", text)  # free ports
                with Gatehouse(text) as gw:
                    self.assertEqual(gw.admin("GET", "/-/ready")[0], 200)
                    self.assertEqual(request(gw.port, path=path).status, status)

    def test_the_admin_auth_example_wants_its_token(self):
        _, text = example_text("admin-auth.yaml")
        text = re.sub(r"listen: [0-9.]+:\d+", "listen: 127.0.0.1:0", text)
        token = FILES["/etc/gatehouse/admin-token"].strip()
        with Gatehouse(text) as gw:
            self.assertEqual(gw.admin("GET", "/config")[0], 401)
            self.assertEqual(gw.admin("GET", "/config", token=token)[0], 200)
            self.assertEqual(request(gw.probes_port, path="/-/ready").status, 200)
            self.assertEqual(request(gw.probes_port, path="/metrics").status, 404)


if __name__ == "__main__":
    unittest.main()
