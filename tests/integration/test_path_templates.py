"""Path templates end to end: match.path_template captures path variables, and the real binary
uses them in rewrite.path (the path the upstream receives), in a header rule (the field the
upstream receives) and in a rate-limit key (one budget per captured value)."""
import unittest

from harness import Gatehouse, request, upstream


class PathTemplates(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = upstream("u")
        cls.addClassCleanup(cls.up.stop)
        cls.gw = Gatehouse("""
            routes:
              - name: order
                match: { path_template: "/users/{id}/orders/{order}", methods: [GET] }
                rewrite: { path: "/v2/orders/{path.order}/of/{path.id}" }
                upstream: u
                middleware:
                  - headers:
                      request: { set: { x-user-id: "user-{path.id}" } }
                      response: { set: { x-order: "{path.order}" } }
              - name: files
                match: { path_template: "/files/{bucket}/{key=**}" }
                rewrite: { path: "/store/{path.bucket}/{path.key}" }
                upstream: u
              - name: limited
                match: { path_template: "/limited/{tenant}" }
                upstream: u
                middleware:
                  - rate_limit: { limits: [{ name: per-tenant, rate: 1/m, burst: 0, key: { path: tenant } }] }
              - name: fallthrough
                match: { path_prefix: / }
                upstream: u
        """, upstreams={"u": [cls.up]}).start()
        cls.addClassCleanup(cls.gw.stop)

    def get(self, path, **kw):
        return request(self.gw.port, path=path, **kw)

    def test_captures_rewrite_the_upstream_path_and_keep_the_query(self):
        r = self.get("/users/42/orders/7?expand=items")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["target"], "/v2/orders/7/of/42?expand=items")

    def test_captures_are_taken_from_the_normalised_path(self):
        # %34%32 is "42" (unreserved, decoded); "/./" and "//" are normalised away before matching.
        r = self.get("/users/%34%32/./orders//7")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["target"], "/v2/orders/7/of/42")

    def test_a_header_rule_uses_a_capture_both_ways(self):
        r = self.get("/users/42/orders/7", headers={"X-User-Id": "spoofed"})
        sent = [v for k, v in r.json()["headers"] if k.lower() == "x-user-id"]
        self.assertEqual(sent, ["user-42"])
        self.assertEqual(r.headers["x-order"], "7")

    def test_the_rest_variable_carries_slashes(self):
        r = self.get("/files/photos/2024/june/cat.jpg")
        self.assertEqual(r.json()["target"], "/store/photos/2024/june/cat.jpg")
        r = self.get("/files/photos")
        self.assertEqual(r.json()["target"], "/store/photos/")

    def test_a_path_that_does_not_fit_goes_to_the_next_route(self):
        for path in ("/users/42/orders", "/users/42/orders/7/extra", "/users//orders/7"):
            with self.subTest(path=path):
                r = self.get(path)
                self.assertEqual(r.status, 200)
                self.assertEqual(r.json()["target"], path.replace("//", "/"))  # fallthrough: not rewritten
        self.assertEqual(self.get("/users/42/orders/7", method="POST", body=b"").json()["target"], "/users/42/orders/7")

    def test_the_rate_limit_key_is_the_captured_value(self):
        self.assertEqual(self.get("/limited/acme").status, 200)
        refused = self.get("/limited/acme")
        self.assertEqual(refused.status, 429)
        self.assertEqual(self.get("/limited/globex").status, 200)  # another tenant, its own budget
        self.assertEqual(self.get("/limited/globex").status, 429)


if __name__ == "__main__":
    unittest.main()
