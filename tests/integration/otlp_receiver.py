"""A real OTLP/HTTP trace receiver for the tests: POST /v1/traces in binary protobuf (decoded
with python3-protobuf from Debian, through tests/integration/otlp/otlp_trace.proto compiled by
protoc at test time) or OTLP/JSON (hex ids, integers as strings). Every span it decodes is kept
as a plain dict in `spans`; tests poll them with `wait_for`, never sleep."""
import binascii
import gzip
import importlib
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.append("/usr/lib/python3/dist-packages")  # Debian's python3-protobuf when python3 is another build

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(HERE, "otlp")
_pb2 = None


def pb2():
    """The generated module, compiled once per process with protoc."""
    global _pb2
    if _pb2 is None:
        out = tempfile.mkdtemp(prefix="otlp-proto-")
        subprocess.run(["protoc", f"--python_out={out}", "-I", PROTO_DIR, os.path.join(PROTO_DIR, "otlp_trace.proto")], check=True)
        sys.path.insert(0, out)
        _pb2 = importlib.import_module("otlp_trace_pb2")
    return _pb2


def _any_value(v):
    kind = v.WhichOneof("value")
    return None if kind is None else getattr(v, kind)


def _spans_from_protobuf(body):
    req = pb2().ExportTraceServiceRequest()
    req.ParseFromString(body)
    out = []
    for rs in req.resource_spans:
        resource = {kv.key: _any_value(kv.value) for kv in rs.resource.attributes}
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append({
                    "trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(), "parent_span_id": s.parent_span_id.hex(),
                    "name": s.name, "kind": int(s.kind), "start": s.start_time_unix_nano, "end": s.end_time_unix_nano,
                    "attributes": {kv.key: _any_value(kv.value) for kv in s.attributes},
                    "status_code": int(s.status.code), "status_message": s.status.message, "flags": s.flags,
                    "resource": resource, "scope": ss.scope.name,
                })
    return out


def _json_value(v):
    for k in ("stringValue", "boolValue", "doubleValue"):
        if k in v:
            return v[k]
    if "intValue" in v:
        return int(v["intValue"])  # OTLP/JSON: int64 as a decimal string (a number is accepted too)
    return None


def _hex_id(v, size):
    """OTLP/JSON ids are hex strings; reject anything else (a base64 id would be a bug)."""
    if v in (None, ""):
        return ""
    if len(v) != 2 * size:
        raise ValueError(f"id {v!r} is not {2 * size} hex digits")
    binascii.unhexlify(v)
    return v.lower()


def _spans_from_json(body):
    req = json.loads(body)
    out = []
    for rs in req.get("resourceSpans", []):
        resource = {a["key"]: _json_value(a["value"]) for a in rs.get("resource", {}).get("attributes", [])}
        for ss in rs.get("scopeSpans", []):
            for s in ss.get("spans", []):
                status = s.get("status", {})
                out.append({
                    "trace_id": _hex_id(s["traceId"], 16), "span_id": _hex_id(s["spanId"], 8),
                    "parent_span_id": _hex_id(s.get("parentSpanId"), 8), "name": s["name"], "kind": int(s.get("kind", 0)),
                    "start": int(s["startTimeUnixNano"]), "end": int(s["endTimeUnixNano"]),
                    "attributes": {a["key"]: _json_value(a["value"]) for a in s.get("attributes", [])},
                    "status_code": int(status.get("code", 0)), "status_message": status.get("message", ""),
                    "flags": int(s.get("flags", 0)), "resource": resource, "scope": ss.get("scope", {}).get("name", ""),
                })
    return out


class Receiver:
    """`tls=(cert, key)`: served over HTTPS (the endpoint then names the host `tls_host`)."""

    def __init__(self, status=200, tls=None, tls_host="localhost"):
        self.spans = []
        self.requests = []  # (path, headers, content type)
        self.errors = []
        self.status = status
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def read_body(self):
                """Content-Length or chunked (what the OpenTelemetry JS exporter sends), maybe gzip."""
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    body = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            break
                        body += self.rfile.read(size)
                        self.rfile.readline()
                else:
                    body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding", "").lower() == "gzip":
                    body = gzip.decompress(body)
                return body

            def do_POST(self):
                body = self.read_body()
                ctype = self.headers.get("Content-Type", "")
                try:
                    spans = _spans_from_json(body) if ctype.startswith("application/json") else _spans_from_protobuf(body)
                    error = None
                except Exception as e:  # a decoding failure fails the test that looks
                    spans, error = [], f"{type(e).__name__}: {e}"
                with receiver.cond:
                    receiver.requests.append((self.path, dict(self.headers.items()), ctype))
                    if error:
                        receiver.errors.append(error)
                    receiver.spans.extend(spans)
                    receiver.cond.notify_all()
                if ctype.startswith("application/json"):
                    reply, rtype = b"{}", "application/json"
                else:
                    reply, rtype = pb2().ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf"
                self.send_response(receiver.status if not error else 400)
                self.send_header("Content-Type", rtype)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        pb2()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}/v1/traces"
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            # A failed handshake (a client that refuses the certificate) raises an OSError in
            # accept, which socketserver ignores: the receiver serves on.
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            self.endpoint = f"https://{tls_host}:{self.port}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def of_trace(self, trace_id):
        with self.cond:
            return [s for s in self.spans if s["trace_id"] == trace_id]

    def wait_for(self, predicate, timeout=20):
        """Waits until predicate(spans) is truthy (notified by each export); returns its value."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                v = predicate(list(self.spans))
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for spans; have {len(self.spans)}: {self.spans[-4:]}, errors {self.errors}")
                self.cond.wait(left)

    def wait_for_trace(self, trace_id, count, timeout=20):
        return self.wait_for(lambda spans: (lambda t: t if len(t) >= count else None)([s for s in spans if s["trace_id"] == trace_id]),
                             timeout)
