"""routes[].grpc_transcode (issue 30): REST/JSON clients reach a real gRPC service
(tests/grpc/bookstore.py on python3-grpcio, h2c on loopback) through gatehouse, which reads the
google.api.http rules from a descriptor set protoc compiled at test time. Every rule form
(path variables, {name=shelves/*/books/*}, **, body "*" and a field, response_body,
additional_bindings, custom verbs and custom methods), query parameters into nested and repeated
fields, well-known types, server streaming as a JSON array, errors with grpc-status-details-bin,
400s for bad JSON and unknown fields, 404 or passthrough for a request no rule matches (a native
gRPC call on the same route), and a descriptor file replaced while serving. A server stream is
relayed as it comes: its first message reaches the client while the server holds the rest, a
client that leaves resets the upstream's stream, the route's timeout before the first message is
a 504, and an error after messages is the array's last element."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

from harness import Gatehouse, NET_TIMEOUT, request, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
GRPC_DIR = os.path.join(HERE, "..", "grpc")
sys.path.insert(0, GRPC_DIR)
import bookstore  # noqa: E402
import stubs  # noqa: E402

MISSING = stubs.available() or (None if os.path.isfile(os.path.join(bookstore.GOOGLEAPIS, "google/api/annotations.proto")) else
                                "google/api/annotations.proto is not installed (golang-github-grpc-ecosystem-grpc-gateway-dev)")

CONFIG = """
access_log: {{ path: {log}, format: json }}
cache: {{ max_bytes: 16MiB }}
listeners: [{{ name: public, listen: 127.0.0.1:0, protocols: [h2, http1] }}]
routes:
  - name: strict
    match: {{ path_prefix: /v2/ }}
    upstream: bookstore
    grpc_transcode:
      descriptor_set: {pb}
      services: [bookstore.Bookstore]
  - name: cached
    match: {{ path_prefix: /v1/files/ }}
    upstream: bookstore
    grpc_transcode:
      descriptor_set: {pb}
      services: [bookstore.Bookstore]
    middleware:
      - cache: {{ default_ttl: 60s }}
  - name: cached-stream
    match: {{ path_prefix: /v1/shelves/88/ }}
    upstream: bookstore
    grpc_transcode:
      descriptor_set: {pb}
      services: [bookstore.Bookstore]
    middleware:
      - cache: {{ default_ttl: 60s }}
  - name: compressed
    match: {{ path_prefix: /v1/shelves/66/ }}
    upstream: bookstore
    grpc_transcode:
      descriptor_set: {pb}
      services: [bookstore.Bookstore]
    middleware:
      - compress: {{ min_bytes: 1, algorithms: [gzip] }}
  - name: slow
    match: {{ path_prefix: /v1/shelves/77/ }}
    upstream: bookstore
    timeout: 1s
    grpc_transcode:
      descriptor_set: {pb}
      services: [bookstore.Bookstore]
  - name: patient
    match: {{ path_prefix: /v1/shelves/55/ }}
    upstream: bookstore
    timeout: 120s
    grpc_transcode:
      descriptor_set: {pb}
      services: [bookstore.Bookstore]
  - name: bookstore
    upstream: bookstore
    grpc_transcode:
      descriptor_set: {pb}
      services: [bookstore.Bookstore]
      passthrough_unmatched: true
  {extra}
upstreams:
  - name: bookstore
    discovery: {{ static: [127.0.0.1:{port}] }}
    protocol: h2c
"""


class BookstoreServer:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, os.path.join(GRPC_DIR, "bookstore.py")], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("READY "):
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("the bookstore gRPC server did not start: " + line)
        self.port = int(line.split()[1])

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


def call(port, method, path, body=None, headers=None):
    r = request(port, method, path, headers=dict({"Content-Type": "application/json"}, **(headers or {})),
                body=None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode()))
    return r.status, (json.loads(r.body) if r.body else None), r


class StreamingGet:
    """A GET over HTTP/1.1 whose chunked answer is read chunk by chunk, as it arrives."""

    def __init__(self, port, path):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=NET_TIMEOUT)
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        self.buf, self.body = b"", b""
        lines = self._until(b"\r\n\r\n").decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}

    def _fill(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the gateway closed the connection mid-answer")
            self.buf += data

    def _until(self, sep):
        while sep not in self.buf:
            self._fill(len(self.buf) + 1)
        out, self.buf = self.buf.split(sep, 1)
        return out

    def chunk(self):
        """The next chunk's data (b"" at the end)."""
        size = int(self._until(b"\r\n").split(b";")[0], 16)
        self._fill(size + 2)
        data, self.buf = self.buf[:size], self.buf[size + 2:]
        self.body += data
        return data

    def read_until(self, needle):
        while needle not in self.body:
            if not self.chunk():
                raise AssertionError(f"the answer ended without {needle!r}: {self.body!r}")

    def rest(self):
        while self.chunk():
            pass
        return self.body

    def close(self):
        self.sock.close()


@unittest.skipIf(MISSING, f"the gRPC test stack is missing: {MISSING}")
class TranscodeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="gatehouse-transcode-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.pb = os.path.join(cls.dir, "bookstore.pb")
        bookstore.compile_descriptor_set(cls.pb)
        cls.server = BookstoreServer()
        cls.addClassCleanup(cls.server.stop)
        cls.log = os.path.join(cls.dir, "access.log")
        cls.gw = Gatehouse(CONFIG.format(pb=cls.pb, port=cls.server.port, log=cls.log, extra="")).start()
        cls.addClassCleanup(cls.gw.stop)
        cls.port = cls.gw.port
        cls.modules = bookstore.load_modules()

    def test_get_with_path_variables_and_an_additional_binding(self):
        status, body, r = call(self.port, "GET", "/v1/shelves/3/books/7")
        self.assertEqual(status, 200, body)
        self.assertEqual(r.headers["content-type"], "application/json")
        self.assertEqual(body, {"id": "7", "shelf": "3", "title": "book 7"})
        status, body, _ = call(self.port, "GET", "/v1/books/9")
        self.assertEqual((status, body), (200, {"id": "9", "title": "book 9"}))

    def test_multi_segment_variable_and_double_wildcard(self):
        status, body, _ = call(self.port, "GET", "/v2/shelves/3/books/7")
        self.assertEqual((status, body), (200, {"name": "shelves/3/books/7"}))
        status, body, _ = call(self.port, "GET", "/v1/files/a/b/c%20d.txt")
        self.assertEqual((status, body), (200, {"path": "a/b/c d.txt"}))

    def test_post_with_a_body_field_and_with_the_whole_body(self):
        status, body, _ = call(self.port, "POST", "/v1/shelves", {"theme": "poetry"})
        self.assertEqual((status, body), (200, {"id": "3", "theme": "poetry"}))
        status, body, _ = call(self.port, "POST", "/v1/shelves/4/books", {"title": "Dune", "author": {"name": "Herbert"}, "tags": ["sf"]})
        self.assertEqual((status, body), (200, {"shelf": "4", "title": "Dune", "author": {"name": "Herbert"}, "tags": ["sf"]}))
        status, body, _ = call(self.port, "PATCH", "/v1/shelves/4/books/8", {"id": "1", "title": "New"})
        self.assertEqual((status, body), (200, {"id": "8", "shelf": "4", "title": "New"}))

    def test_custom_verb_and_custom_method(self):
        status, body, _ = call(self.port, "POST", "/v1/shelves/2/books/5:publish", {"notify": True, "channelName": "news"})
        self.assertEqual((status, body), (200, {"id": "5", "shelf": "2", "title": "published notify=True channel=news"}))
        status, body, _ = call(self.port, "POST", "/v1/fail", {"code": 7, "message": "no"})
        self.assertEqual(status, 403)
        self.assertEqual(body, {"code": 7, "message": "no", "details": []})

    def test_delete_and_an_empty_answer(self):
        status, body, _ = call(self.port, "DELETE", "/v1/shelves/1/books/2")
        self.assertEqual((status, body), (200, {}))

    def test_query_parameters_into_nested_and_repeated_fields_and_response_body(self):
        status, body, _ = call(self.port, "GET", "/v1/search?tags=a&tags=b&filter.author.name=Le+Guin&filter.minYear=1960&kind=SCIENCE"
                                                 "&limit=5&exact=true&ids=1&ids=2")
        self.assertEqual(status, 200, body)
        # response_body: "books": the array itself; its last book's name is the request as the
        # server decoded it.
        self.assertEqual(body[:2], [{"title": "a"}, {"title": "b"}])
        self.assertEqual(json.loads(body[2]["name"]),
                         {"tags": ["a", "b"], "filter": {"author": {"name": "Le Guin"}, "min_year": 1960}, "kind": "SCIENCE",
                          "limit": 5, "exact": True, "ids": ["1", "2"]})
        status, body, _ = call(self.port, "GET", "/v1/search?nope=1")
        self.assertEqual(status, 400)
        self.assertEqual(body["code"], 3)
        self.assertIn("nope", body["message"])

    def test_a_method_without_a_request_message(self):
        status, body, _ = call(self.port, "GET", "/v1/shelves")
        self.assertEqual((status, body), (200, {"shelves": [{"id": "1", "theme": "fiction"}, {"id": "2", "theme": "science"}]}))

    def test_well_known_types(self):
        sent = {"at": "2024-05-01T10:00:00Z", "took": "1.500s", "note": "n", "count": "12", "extra": {"a": [1, "x", None], "b": True},
                "flag": False, "ratio": 0.5}
        status, body, _ = call(self.port, "POST", "/v1/types", sent)
        self.assertEqual((status, body), (200, sent))

    def test_server_streaming_as_a_json_array(self):
        status, body, _ = call(self.port, "GET", "/v1/shelves/6/books:stream?count=3")
        self.assertEqual(status, 200, body)
        self.assertEqual([b["title"] for b in body], ["stream 1", "stream 2", "stream 3"])
        status, body, _ = call(self.port, "GET", "/v1/shelves/6/books:stream?count=0")
        self.assertEqual((status, body), (200, []))

    def test_a_compress_middleware_compresses_translated_answers(self):
        # Unary and streamed: Content-Encoding and the body agree (the body filter ran on it).
        import gzip
        for path in ("/v1/shelves/66/books/1", "/v1/shelves/66/books:stream?count=3"):
            r = request(self.port, "GET", path, headers={"Accept-Encoding": "gzip"})
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.headers.get("content-encoding"), "gzip", path)
            doc = json.loads(gzip.decompress(r.body))
            self.assertTrue(doc, path)

    def test_grpc_errors_with_details(self):
        status, body, _ = call(self.port, "POST", "/v1/fail", {"code": 3, "message": "bad title", "field": "title"})
        self.assertEqual(status, 400)
        self.assertEqual(body["code"], 3)
        self.assertEqual(body["message"], "bad title")
        self.assertEqual(body["details"], [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                                            "fieldViolations": [{"field": "title", "description": "title is wrong"}]}])
        status, body, _ = call(self.port, "GET", "/v1/shelves/404")
        self.assertEqual((status, body["code"], body["message"]), (404, 5, "no shelf 404"))
        for code, http in ((5, 404), (8, 429), (12, 501), (14, 503), (16, 401), (13, 500)):
            status, body, _ = call(self.port, "POST", "/v1/fail", {"code": code, "message": "m"})
            self.assertEqual((status, body["code"]), (http, code))

    def test_bad_json_and_unknown_fields_are_400(self):
        status, body, _ = call(self.port, "POST", "/v1/types", b"{not json")
        self.assertEqual((status, body["code"]), (400, 3))
        status, body, _ = call(self.port, "POST", "/v1/types", {"nope": 1})
        self.assertEqual((status, body["code"]), (400, 3))
        status, body, _ = call(self.port, "POST", "/v1/shelves/1/books", b"[")
        self.assertEqual(status, 400)

    def test_no_rule_is_404_on_a_strict_route(self):
        status, body, _ = call(self.port, "GET", "/v2/nothing/here")
        self.assertEqual(status, 404)
        self.assertEqual(body["code"], 5)

    def server_calls(self):
        """The server's call count, asked natively (gRPC through the passthrough route)."""
        import grpc
        from google.protobuf import empty_pb2
        with grpc.insecure_channel(f"127.0.0.1:{self.port}") as ch:
            stub = self.modules["bookstore_pb2_grpc"].BookstoreStub(ch)
            return stub.Stats(empty_pb2.Empty(), timeout=NET_TIMEOUT).calls

    def server_stub(self):
        """The bookstore server itself, not through gatehouse: the tests' hand on a held stream."""
        import grpc
        ch = grpc.insecure_channel(f"127.0.0.1:{self.server.port}")
        self.addCleanup(ch.close)
        return self.modules["bookstore_pb2_grpc"].BookstoreStub(ch)

    def abandoned(self):
        from google.protobuf import empty_pb2
        return self.server_stub().Stats(empty_pb2.Empty(), timeout=NET_TIMEOUT).abandoned

    def release(self, hold):
        self.server_stub().Release(self.modules["bookstore_pb2"].ReleaseRequest(hold=hold), timeout=NET_TIMEOUT)

    def test_a_stream_s_first_message_arrives_while_the_server_holds_the_rest(self):
        r = StreamingGet(self.port, "/v1/shelves/6/books:stream?count=3&hold=early&hold_after=1")
        self.addCleanup(r.close)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["content-type"], "application/json")
        self.assertEqual(r.headers.get("transfer-encoding"), "chunked")
        r.read_until(b"stream 1")  # the server sends nothing more until it is released
        self.assertTrue(r.body.startswith(b"[{"), r.body)
        self.assertNotIn(b"stream 2", r.body)
        self.release("early")
        body = json.loads(r.rest())
        self.assertEqual([b["title"] for b in body], ["stream 1", "stream 2", "stream 3"])

    def test_a_client_that_leaves_mid_stream_cancels_the_upstream_call(self):
        before = self.abandoned()
        r = StreamingGet(self.port, "/v1/shelves/6/books:stream?count=3&hold=gone&hold_after=1")
        r.read_until(b"stream 1")
        r.close()
        self.assertTrue(wait_until(lambda: self.abandoned() == before + 1), "the server never saw the call cancelled")
        status, body, _ = call(self.port, "GET", "/v1/shelves/6/books:stream?count=1")
        self.assertEqual((status, len(body)), (200, 1))

    def test_a_client_that_leaves_before_the_answer_s_head_cancels_the_upstream_call(self):
        # The server sends nothing, not even its head, until released; the route waits 120 s: the
        # server sees the call cancelled because the HTTP/1.1 client closed, not by a timeout.
        from google.protobuf import empty_pb2
        stats = lambda: self.server_stub().Stats(empty_pb2.Empty(), timeout=NET_TIMEOUT)
        before = stats()
        s = socket.create_connection(("127.0.0.1", self.port), timeout=NET_TIMEOUT)
        s.sendall(b"GET /v1/shelves/55/books:stream?count=2&hold=head-gone&hold_after=0 HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertTrue(wait_until(lambda: stats().calls > before.calls), "the call never reached the server")
        s.close()
        self.assertTrue(wait_until(lambda: stats().abandoned == before.abandoned + 1), "the server never saw the call cancelled")
        self.assertTrue(wait_until(lambda: '"status":499' in open(self.log).read().replace(" ", "")), "no 499 in the access log")

    def test_a_stream_past_the_route_s_timeout_before_its_first_message_is_504(self):
        before = self.abandoned()
        status, body, _ = call(self.port, "GET", "/v1/shelves/77/books:stream?count=2&hold=late&hold_after=0")
        self.assertEqual(status, 504, body)
        self.assertEqual(body["code"], 4)  # DEADLINE_EXCEEDED
        self.assertTrue(wait_until(lambda: self.abandoned() == before + 1), "the server never saw the call cancelled")

    def test_a_stream_s_error_after_messages_is_its_last_element_and_before_them_the_answer(self):
        status, body, _ = call(self.port, "GET", "/v1/shelves/6/books:stream?count=2&fail_code=5")
        self.assertEqual(status, 200, body)
        self.assertEqual([b.get("title") for b in body[:2]], ["stream 1", "stream 2"])
        self.assertEqual(body[2], {"error": {"code": 5, "message": "failed after 2", "details": []}})
        status, body, _ = call(self.port, "GET", "/v1/shelves/6/books:stream?count=0&fail_code=5")
        self.assertEqual((status, body["code"], body["message"]), (404, 5, "failed after 0"))

    def test_passthrough_serves_native_grpc_on_the_same_route(self):
        before = self.server_calls()
        self.assertEqual(call(self.port, "GET", "/v1/shelves/1")[0], 200)
        self.assertEqual(self.server_calls(), before + 1)

    def test_a_translated_get_is_cached(self):
        status, body, first = call(self.port, "GET", "/v1/files/cached.txt")
        self.assertEqual((status, body), (200, {"path": "cached.txt"}))
        before = self.server_calls()
        status, body, second = call(self.port, "GET", "/v1/files/cached.txt")
        self.assertEqual((status, body), (200, {"path": "cached.txt"}))
        self.assertIn("hit", second.headers.get("cache-status", ""), second.headers)
        self.assertEqual(self.server_calls(), before)

    def test_a_streamed_answer_is_cached_whole_and_a_failed_one_not(self):
        path = "/v1/shelves/88/books:stream?count=3"
        status, body, first = call(self.port, "GET", path)
        self.assertEqual((status, [b["title"] for b in body]), (200, ["stream 1", "stream 2", "stream 3"]))
        before = self.server_calls()
        status, again, second = call(self.port, "GET", path)
        self.assertIn("hit", second.headers.get("cache-status", ""), second.headers)
        self.assertEqual((status, again), (200, body))
        self.assertEqual(self.server_calls(), before)
        failed = "/v1/shelves/88/books:stream?count=1&fail_code=14"
        self.assertEqual(call(self.port, "GET", failed)[1][-1]["error"]["code"], 14)
        status, body, r = call(self.port, "GET", failed)
        self.assertNotIn("hit", r.headers.get("cache-status", ""), r.headers)
        self.assertEqual(self.server_calls(), before + 2)

    def test_metrics_count_translated_calls_by_grpc_status(self):
        self.assertEqual(call(self.port, "POST", "/v1/fail", {"code": 6, "message": "exists"})[0], 409)
        counted = r'gatehouse_grpc_responses_total\{(?=[^}]*route="bookstore")(?=[^}]*grpc_status="already_exists")[^}]*\} [1-9]'

        def metrics():
            status, text = self.gw.admin("GET", "/metrics")
            self.assertEqual(status, 200)
            return text.decode() if isinstance(text, bytes) else text
        # The exchange counts once its answer went out: the scrape may come first.
        self.assertTrue(wait_until(lambda: re.search(counted, metrics())), "the call was counted")
        text = metrics()
        # A cache hit made no call: no gRPC status counted for it.
        self.assertNotRegex(text, r'gatehouse_grpc_responses_total\{(?=[^}]*route="cached")(?=[^}]*grpc_status="unknown")')

    def test_access_log_names_the_route_and_the_grpc_method(self):
        self.assertEqual(call(self.port, "GET", "/v1/shelves/12")[0], 200)

        def logged():
            if not os.path.exists(self.log):
                return None
            with open(self.log) as f:
                for line in f:
                    if not line.endswith("\n"):
                        break  # a line being written (the log is read while the gateway writes it)
                    e = json.loads(line)
                    if e["path"] == "/v1/shelves/12":
                        return e
            return None
        self.assertTrue(wait_until(lambda: logged() is not None), "no access log line (lines reach the file within a second)")
        e = logged()
        self.assertEqual((e["route"], e["upstream"], e["grpc_method"], e["grpc_status"], e["status"]),
                         ("bookstore", "bookstore", "/bookstore.Bookstore/GetShelf", 0, 200))


@unittest.skipIf(MISSING, f"the gRPC test stack is missing: {MISSING}")
class DescriptorReloadTest(unittest.TestCase):
    """The descriptor file is watched like a certificate: a new set's rules apply without a
    restart; a broken one is rejected (logged) and the old rules keep serving."""

    def test_a_replaced_descriptor_set_reloads_and_a_broken_one_is_rejected(self):
        d = tempfile.mkdtemp(prefix="gatehouse-transcode-reload-")
        self.addCleanup(shutil.rmtree, d, True)
        # A variant of the service: GetShelf at /v1/racks/{shelf} instead of /v1/shelves/{shelf}.
        with open(os.path.join(bookstore.PROTOS, "bookstore.proto")) as f:
            proto = f.read()
        self.assertIn('get: "/v1/shelves/{shelf}" }', proto)
        with open(os.path.join(d, "bookstore.proto"), "w") as f:
            f.write(proto.replace('get: "/v1/shelves/{shelf}" }', 'get: "/v1/racks/{shelf}" }'))
        racks, shelves = os.path.join(d, "racks.pb"), os.path.join(d, "shelves.pb")
        bookstore.compile_descriptor_set(racks, proto_dir=d)
        bookstore.compile_descriptor_set(shelves)
        served = os.path.join(d, "served.pb")
        shutil.copy(racks, served)
        server = BookstoreServer()
        self.addCleanup(server.stop)
        config = CONFIG.format(pb=served, port=server.port, log=os.path.join(d, "access.log"), extra="")
        with Gatehouse(config) as gw:
            self.assertEqual(call(gw.port, "GET", "/v2/racks/4")[0], 404)  # /v2/ is the strict route; no such rule there
            self.assertEqual(call(gw.port, "GET", "/v1/racks/4")[:2], (200, {"id": "4", "theme": "theme 4"}))
            # The file replaced (written beside it and renamed in, as deploy tools do).
            shutil.copy(shelves, served + ".new")
            os.rename(served + ".new", served)
            self.assertTrue(gw.wait_for_log(r"config generation \d+ loaded \(file\)"), gw.log()[-2000:])
            self.assertEqual(call(gw.port, "GET", "/v1/shelves/5")[:2], (200, {"id": "5", "theme": "theme 5"}))
            # A broken file: the reload is rejected, the rules of the last good set serve on.
            with open(served + ".new", "wb") as f:
                f.write(b"\xff\xffnot a descriptor set")
            os.rename(served + ".new", served)
            self.assertTrue(gw.wait_for_log(r"config reload \(file\) rejected"), gw.log()[-2000:])
            self.assertIn("FileDescriptorSet", gw.log())
            self.assertEqual(call(gw.port, "GET", "/v1/shelves/6")[:2], (200, {"id": "6", "theme": "theme 6"}))


@unittest.skipIf(MISSING, f"the gRPC test stack is missing: {MISSING}")
class ServerKilledTest(unittest.TestCase):
    """The gRPC server killed mid-traffic: a stream in flight ends at once with the array's last
    element saying UNAVAILABLE (nothing it had sent is lost), and the next translated call fails
    at once (502, UNAVAILABLE: the connection refused), well within the route's timeout."""

    def test_a_killed_server_ends_the_stream_and_fails_the_next_call_fast(self):
        import time
        d = tempfile.mkdtemp(prefix="gatehouse-transcode-kill-")
        self.addCleanup(shutil.rmtree, d, True)
        pb = os.path.join(d, "bookstore.pb")
        bookstore.compile_descriptor_set(pb)
        server = BookstoreServer()
        self.addCleanup(server.stop)
        config = CONFIG.format(pb=pb, port=server.port, log=os.path.join(d, "access.log"), extra="")
        config = config.replace("  - name: bookstore\n    upstream: bookstore\n", "  - name: bookstore\n    upstream: bookstore\n    timeout: 30s\n")
        with Gatehouse(config) as gw:
            self.assertEqual(call(gw.port, "GET", "/v1/shelves/6")[0], 200)
            r = StreamingGet(gw.port, "/v1/shelves/6/books:stream?count=3&hold=killed&hold_after=1")
            self.addCleanup(r.close)
            r.read_until(b"stream 1")
            server.proc.kill()  # mid-stream: the second message never comes
            server.proc.wait()
            body = json.loads(r.rest())
            self.assertEqual(body[0]["title"], "stream 1")
            self.assertEqual(body[-1]["error"]["code"], 14, body)  # UNAVAILABLE
            started = time.monotonic()
            status, answer, _ = call(gw.port, "GET", "/v1/shelves/7")
            self.assertEqual((status, answer["code"]), (502, 14), answer)  # the connect refused: 502, UNAVAILABLE
            self.assertLess(time.monotonic() - started, 15)  # refused at once, not the route's 30 s


if __name__ == "__main__":
    unittest.main()
