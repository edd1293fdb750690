#!/usr/bin/env python3
"""Writes the seed corpus (tests/fuzz/corpus/<target>/): a few valid and a few broken inputs per
target, so the fuzzers start from the shapes gatehouse really sees. Run once; the output is
checked in (small). Needs python3-cryptography for the JWT/JWKS seeds.
    python3 tests/fuzz/make_seeds.py [TARGET...]   (only those targets' seeds; default all)"""
import base64, hashlib, hmac, json, os, pathlib, struct, sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

here = pathlib.Path(__file__).resolve().parent
root = here.parent.parent


only = set(sys.argv[1:])  # the JWT/JWKS keys are random: regenerate only what changed


def write(target, name, data):
    if only and target not in only:
        return
    d = here / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def uint_b64(n):
    return b64u(n.to_bytes((n.bit_length() + 7) // 8, "big"))


requests = {
    "get": "GET /api/v1/items?id=3&x=%41 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n",
    "post_cl": "POST /upload HTTP/1.1\r\nHost: a:8080\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\n",
    "chunked": "PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
    "absolute": "GET http://Example.COM:80/a/../b/./c HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "asterisk": "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "http10": "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "upgrade": "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "smuggle_te_cl": "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
    "obs_fold": "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n",
    "dup_host": "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "te_list": "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    "cookies": "GET /c HTTP/1.1\r\nHost: [::1]:8080\r\nCookie: a=1; b=2\r\nCookie: c=3\r\nAuthorization: Bearer x.y.z\r\n\r\n",
}
for name, r in requests.items():
    write("request_head", name, r)

responses = {
    "ok_cl": "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nCache-Control: max-age=60\r\n\r\n",
    "chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nVary: Accept-Encoding\r\n\r\n",
    "close": "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n",
    "no_content": "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
    "not_modified": "HTTP/1.1 304 Not Modified\r\nETag: W/\"x\"\r\n\r\n",
    "continue": "HTTP/1.1 100 Continue\r\n\r\n",
    "switching": "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
    "two_cl": "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    "cached": "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nLast-Modified: Sunday, 06-Nov-94 08:49:37 GMT\r\n"
              "Expires: Sun Nov  6 08:49:37 1994\r\nAge: 30\r\nCache-Control: public, s-maxage=10, stale-while-revalidate=5\r\n"
              "Surrogate-Key: a b\r\nCache-Tag: c,d\r\nVary: Accept, Accept-Language\r\nContent-Length: 0\r\n\r\n",
}
for name, r in responses.items():
    write("response_head", name, "\x00" + r)
    write("response_head", name + "_head", "\x01" + r)
    write("cache_control", name, "\x01" + r)
    write("cache_control", name + "_h", "\x29" + r)

bodies = {
    "simple": "5\r\nhello\r\n0\r\n\r\n",
    "ext": "5;name=value;q=\"quoted\"\r\nhello\r\nA\r\n0123456789\r\n0\r\n\r\n",
    "trailer": "3\r\nabc\r\n0\r\nX-Checksum: 1\r\nX-More: 2\r\n\r\n",
    "trailer_mixed": "1\r\na\r\n0\r\nGrpc-Status: 0\r\nContent-Type: x\r\nBad_Name: y\r\n\r\n",
    "trailer_folded": "1\r\na\r\n0\r\nX-A: a\r\n b\r\nX-B:\r\n  c\r\n\r\n",
    "upper": "1F\r\n" + "x" * 31 + "\r\n0\r\n\r\n",
    "bad_size": "fffffffffffffffff\r\nx\r\n",
    "bare_lf": "5\nhello\n0\n\n",
    "truncated": "10\r\nshort",
}
for name, b in bodies.items():
    write("chunked", name, "\x00\x03\x01\x05\x07" + b)
    write("chunked", name + "_req", "\x01\x00" + b)

for i, p in enumerate(["/a/b/../c/./d", "//x///y/", "/%41%2f", "/%7e%7E/%20%zz", "/..", "/a/%2E%2E/b", "/a\\b", "/%00", "/caf%C3%A9?x"]):
    write("path", f"p{i}", "\x00" + p)
for i, h in enumerate(["API.Example.com.:8080", "[::1]:80", "[fe80::1%25eth0]", "a..", "xn--bcher-kva.example"]):
    write("path", f"h{i}", "\x01" + h)

for i, v in enumerate(["max-age=60, s-maxage=\"30\", no-transform", "no-cache=\"Set-Cookie, X\", private, must-revalidate",
                       "max-stale, min-fresh=5, only-if-cached, no-store", "max-age=99999999999999999999", "max-age=-1, max-age=3",
                       "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
                       "W/\"abc\", \"def\"", "*"]):
    write("cache_control", f"v{i}", "\x00" + v)

# JWT: real keys of every kind; tokens signed with them; JWKS documents holding them.
rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ec_keys = {c: ec.generate_private_key(k) for c, k in (("P-256", ec.SECP256R1()), ("P-384", ec.SECP384R1()), ("P-521", ec.SECP521R1()))}
ed_key = ed25519.Ed25519PrivateKey.generate()
jwks = {"keys": [
    {"kty": "RSA", "kid": "r1", "alg": "RS256", "use": "sig", "n": uint_b64(rsa_key.public_key().public_numbers().n), "e": uint_b64(65537)},
    *[{"kty": "EC", "kid": c, "crv": c, "x": uint_b64(k.public_key().public_numbers().x), "y": uint_b64(k.public_key().public_numbers().y)}
      for c, k in ec_keys.items()],
    {"kty": "OKP", "crv": "Ed25519", "kid": "e1",
     "x": b64u(ed_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))},
    {"kty": "oct", "kid": "h1", "k": b64u(b"fuzz-secret")},
]}
write("jwks", "all", "\x00" + json.dumps(jwks))
write("jwks", "empty", "\x00" + '{"keys": []}')
write("jwks", "bad", "\x00" + '{"keys": [{"kty": "RSA", "n": "AA", "e": "AQAB"}, {"kty": "EC", "crv": "P-256", "x": "AA"}, 1]}')
write("jwks", "pem_rsa", b"\x01" + rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
write("jwks", "pem_ec", b"\x01" + ec_keys["P-256"].public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

claims = {"iss": "https://issuer.example", "aud": ["api"], "sub": "user-1", "exp": 1700003600, "iat": 1700000000, "nbf": 1699999990,
          "scope": "read write", "role": "admin", "n": 5, "tenant": "t1", "groups": ["a", "b"]}
header = {"alg": "HS256", "typ": "JWT", "kid": "h1"}
signing_input = b64u(json.dumps(header).encode()) + "." + b64u(json.dumps(claims).encode())
sig = hmac.new(b"fuzz-secret", signing_input.encode(), hashlib.sha256).digest()
write("jwt", "hs256", "\x00" + signing_input + "." + b64u(sig))
for a in ("RS256", "PS384", "ES256", "ES512", "EdDSA", "none", "HS512"):
    h = {"alg": a, "kid": "k", "crit": ["b64"]} if a == "HS512" else {"alg": a}
    write("jwt", a, "\x00" + b64u(json.dumps(h).encode()) + "." + b64u(json.dumps(claims).encode()) + "." + b64u(b"\x01" * 64))
write("jwt", "claims", "\x01" + json.dumps(claims))
write("jwt", "claims_odd", "\x01" + '{"exp": 1e300, "nbf": -1e300, "iat": 1.5, "aud": "web", "scp": ["read"], "role": ["x", "admin"], "n": 5, "sub": "a\\r\\nb"}')
write("jwt", "claims_dup", "\x01" + '{"exp": 1, "exp": 2}')

write("resp", "simple", "\x03+OK\r\n")
write("resp", "error", "\x05-ERR wrong type\r\n")
write("resp", "int", "\x01:-42\r\n")
write("resp", "bulk", "\x02$5\r\nhello\r\n")
write("resp", "null", "\x00$-1\r\n")
write("resp", "array", "\x07*3\r\n:1\r\n$3\r\nabc\r\n*2\r\n+a\r\n*-1\r\n")
write("resp", "evalsha", "\x09*2\r\n:1\r\n:59\r\n")

watch = [{"result": {"header": {"revision": "5"}, "created": True}},
         {"result": {"header": {"revision": "6"}, "events": [
             {"kv": {"key": b64u(b"/svc/api/1"), "value": base64.b64encode(b'{"address": "10.0.0.1:8080", "weight": 3}').decode()}},
             {"type": "DELETE", "kv": {"key": base64.b64encode(b"/svc/api/2").decode()}}]}},
         {"result": {"header": {"revision": "7"}, "canceled": True, "cancel_reason": "x"}},
         {"result": {"compact_revision": "3"}},
         {"error": {"grpc_code": 14, "message": "unavailable"}}]
write("etcd", "watch", "\x00" + "\n".join(json.dumps(w) for w in watch))
write("etcd", "range", "\x01" + json.dumps({"header": {"revision": "9"}, "kvs": [
    {"key": base64.b64encode(b"/svc/api/1").decode(), "value": base64.b64encode(b"127.0.0.1:80").decode()},
    {"key": base64.b64encode(b"/svc/api/3").decode(), "value": base64.b64encode(b"nonsense").decode()}]}))
write("etcd", "value_json", "\x02" + '{"address": "[::1]:9000", "priority": 1, "zone": "a"}')
write("etcd", "value_plain", "\x02" + " 10.1.2.3:443\n")

for f in sorted((root / "config" / "examples").glob("*.yaml")) + [root / "config" / "gatehouse.yaml"]:
    write("config", f.name, f.read_bytes())
write("config", "broken", "listeners:\n  - address: 127.0.0.1:0\nroutes:\n  - match: {path_prefix: /}\n    upstream: nope\n")

# HTTP/2 (fuzz_h2_connection): whole client byte streams, frames and HPACK written by hand
# (literal fields without Huffman, a few static-table indexes) so nothing else is needed.
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def h2_frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def hpack_literal(name, value, prefix=0x00):  # 0x00 without indexing, 0x40 with incremental indexing
    name, value = name.encode(), value.encode()
    return bytes([prefix, len(name)]) + name + bytes([len(value)]) + value


def h2_head(method, path, extra=(), authority="test.local"):
    block = {"GET": b"\x82", "POST": b"\x83"}.get(method) or hpack_literal(":method", method)
    block += b"\x86" + hpack_literal(":authority", authority, 0x40) + hpack_literal(":path", path)
    return block + b"".join(hpack_literal(k, v) for k, v in extra)


def h2_settings(**kv):
    ids = {"push": 2, "streams": 3, "window": 4, "frame": 5, "connect": 8}
    return h2_frame(4, 0, 0, b"".join(struct.pack(">HI", ids[k], v) for k, v in kv.items()))


END_STREAM, END_HEADERS = 0x1, 0x4
start = PREFACE + h2_settings() + h2_frame(4, 1, 0)
body = b"hello world"
write("h2_connection", "get_local", start + h2_frame(1, END_STREAM | END_HEADERS, 1, h2_head("GET", "/local")))
write("h2_connection", "post_body", start + h2_frame(1, END_HEADERS, 1, h2_head("POST", "/echo", [("content-length", "11")]))
      + h2_frame(0, 0, 1, body[:5]) + h2_frame(0, END_STREAM, 1, body[5:]))
write("h2_connection", "post_hang_reset", start + h2_frame(1, END_HEADERS, 1, h2_head("POST", "/hang"))
      + b"".join(h2_frame(0, 0, 1, b"x" * 1000) for _ in range(5)) + h2_frame(3, 0, 1, struct.pack(">I", 8)))
write("h2_connection", "streams", start + h2_frame(1, END_STREAM | END_HEADERS, 1, h2_head("GET", "/local"))
      + h2_frame(1, END_STREAM | END_HEADERS, 3, h2_head("GET", "/x?q=1", [("cookie", "a=1"), ("cookie", "b=2"), ("accept", "*/*")]))
      + h2_frame(1, END_HEADERS, 5, h2_head("POST", "/small")) + h2_frame(0, END_STREAM, 5, b"y" * 200))
write("h2_connection", "trailers", start + h2_frame(1, END_HEADERS, 1, h2_head("POST", "/echo", [("te", "trailers")]))
      + h2_frame(0, 0, 1, body) + h2_frame(1, END_STREAM | END_HEADERS, 1, hpack_literal("x-checksum", "abc")))
block = h2_head("GET", "/continued", [("x-a", "1"), ("x-b", "2")])
write("h2_connection", "continuation", start + h2_frame(1, END_STREAM, 1, block[:5]) + h2_frame(9, 0, 1, block[5:12])
      + h2_frame(9, END_HEADERS, 1, block[12:]))
write("h2_connection", "control", PREFACE + h2_settings(window=1, frame=16384, push=0, streams=10) + h2_frame(6, 0, 0, b"12345678")
      + h2_frame(8, 0, 0, struct.pack(">I", 1000)) + h2_frame(1, END_STREAM | END_HEADERS, 1, h2_head("GET", "/local"))
      + h2_frame(2, 0, 3, struct.pack(">IB", 1, 15)) + h2_frame(8, 0, 1, struct.pack(">I", 100))
      + h2_frame(0x20, 0, 0, b"unknown") + h2_frame(7, 0, 0, struct.pack(">II", 1, 0)))
write("h2_connection", "bad_fields", start
      + h2_frame(1, END_STREAM | END_HEADERS, 1, h2_head("GET", "/a", [("X-Upper", "1")]))
      + h2_frame(1, END_STREAM | END_HEADERS, 3, b"\x82\x86" + hpack_literal("x-a", "1") + hpack_literal(":path", "/b"))
      + h2_frame(1, END_STREAM | END_HEADERS, 5, h2_head("GET", "/c", [("transfer-encoding", "chunked")]))
      + h2_frame(1, END_STREAM | END_HEADERS, 7, h2_head("GET", "/d", [("host", "other.example")]))
      + h2_frame(1, END_STREAM | END_HEADERS, 9, h2_head("GET", "")))
write("h2_connection", "hpack_dynamic", start + h2_frame(1, END_STREAM | END_HEADERS, 1, b"\x3f\xe1\x1f" + h2_head("GET", "/a", [("x-t", "v")]))
      + h2_frame(1, END_STREAM | END_HEADERS, 3, b"\x82\x86\xbe\x04\x02/b"))  # :authority from the dynamic table
write("h2_connection", "length_mismatch", start + h2_frame(1, END_HEADERS, 1, h2_head("POST", "/echo", [("content-length", "3")]))
      + h2_frame(0, END_STREAM, 1, b"abcdef"))
write("h2_connection", "extended_connect", start + h2_frame(1, END_HEADERS, 1, hpack_literal(":method", "CONNECT")
      + hpack_literal(":protocol", "websocket") + b"\x86" + hpack_literal(":authority", "test.local") + hpack_literal(":path", "/ws")))
write("h2_connection", "no_preface", h2_settings() + h2_frame(1, END_STREAM | END_HEADERS, 1, h2_head("GET", "/local")))

# grpc_web: [mode][steering length / 4][steering bytes][body]; mode 0 decodes a text body, 1
# encodes and decodes, 2 tracks message boundaries.
grpc_msg = b"\x00" + struct.pack(">I", 5) + b"hello"
write("grpc_web", "decode_text", b"\x00\x01" + b"\x03\x01\x07\x02" + base64.b64encode(grpc_msg) + base64.b64encode(b"\x80\x00\x00\x00\x00"))
write("grpc_web", "decode_bad", b"\x00\x00" + b"AAAA=AAA")
write("grpc_web", "encode", b"\x01\x01" + b"\x02\x05\x01\x00" + grpc_msg * 3)
write("grpc_web", "boundaries", b"\x02\x02" + b"\x00\x04\x01\x08\x02\x02\x00\x01" + grpc_msg + b"\x00\x00\x00\x00\x00" + grpc_msg[:7])
