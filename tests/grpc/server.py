#!/usr/bin/env python3
"""The gRPC test server of the proxying tests: grpc.testing.TestService as gRPC's interop
descriptions (doc/interop-test-descriptions.md) want it, grpc.health.v1.Health, and
gatehouse.testing.Control (a sleeping method; the server's view of its connections).

    python3 tests/grpc/server.py [--port N] [--tls-cert F --tls-key F] [--tap]
                                 [--max-connection-age-ms N [--max-connection-age-grace-ms N]]
                                 [--max-concurrent-streams N]

Prints "READY <port>" once it listens on 127.0.0.1 (h2c, or TLS with ALPN h2 given a
certificate). Keepalive enforcement stays at grpcio's defaults (pings without calls: at most one
per 2 h, 2 strikes; then a GOAWAY ENHANCE_YOUR_CALM "too_many_pings"). --tap puts a frame tap on
the public port in front of grpcio (plaintext only): it counts the connections accepted, the
PINGs clients send and the GOAWAYs the server sends, which Control/GetStats reports.
--max-connection-age-ms makes grpcio send GOAWAY on every connection that old (mid-load GOAWAY).
SIGUSR1 (with --tap) cuts every open connection at once without a GOAWAY (a connection failure).
"""
import argparse
import os
import signal
import socket
import struct
import sys
import threading
import time
from concurrent import futures

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stubs  # noqa: E402

pb = stubs.load()
grpc = pb.grpc
t_pb2, t_grpc = pb.test_pb2, pb.test_pb2_grpc
c_pb2, c_grpc = pb.control_pb2, pb.control_pb2_grpc
h_pb2, h_grpc = pb.health_pb2, pb.health_pb2_grpc

ECHO_INITIAL = "x-grpc-test-echo-initial"
ECHO_TRAILING = "x-grpc-test-echo-trailing-bin"
STATUS_BY_CODE = {s.value[0]: s for s in grpc.StatusCode}
MAX_MESSAGE = 16 * 1024 * 1024


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.peers, self.accepted, self.pings, self.goaways, self.calm, self.calls, self.abandoned, self.refused = set(), 0, 0, 0, 0, 0, 0, 0

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)

    def call(self, context):
        with self.lock:
            self.peers.add(context.peer())
            self.calls += 1

    def message(self):
        with self.lock:
            return c_pb2.Stats(peers=len(self.peers), connections_accepted=self.accepted, pings_received=self.pings,
                               goaways_sent=self.goaways, too_many_pings_goaways=self.calm, calls=self.calls,
                               abandoned_sleeps=self.abandoned, refused_streams=self.refused)


STATS = Stats()


def payload(size):
    return t_pb2.Payload(body=b"\0" * size)


def echo_metadata(context):
    """The custom_metadata case: the initial value back as initial metadata, the -bin value
    back as trailing metadata."""
    md = dict(context.invocation_metadata())
    if ECHO_INITIAL in md:
        context.send_initial_metadata(((ECHO_INITIAL, md[ECHO_INITIAL]),))
    if ECHO_TRAILING in md:
        context.set_trailing_metadata(((ECHO_TRAILING, md[ECHO_TRAILING]),))


def apply_status(context, status):
    """True when the request asked for a status other than OK (set on the context)."""
    if status.code == 0:
        return False
    context.set_code(STATUS_BY_CODE[status.code])
    context.set_details(status.message)
    return True


def wait_us(context, us):
    """Sleeps `us` microseconds, or less when the call ends (cancelled, deadline)."""
    end = time.monotonic() + us / 1e6
    while context.is_active() and time.monotonic() < end:
        time.sleep(min(0.05, max(0.0, end - time.monotonic())))


class TestService(t_grpc.TestServiceServicer):
    def EmptyCall(self, request, context):
        STATS.call(context)
        return t_pb2.Empty()

    def UnaryCall(self, request, context):
        STATS.call(context)
        echo_metadata(context)
        if apply_status(context, request.response_status):
            return t_pb2.SimpleResponse()
        return t_pb2.SimpleResponse(payload=payload(request.response_size))

    def StreamingOutputCall(self, request, context):
        STATS.call(context)
        for p in request.response_parameters:
            wait_us(context, p.interval_us)
            if not context.is_active():  # cancelled or reset while it waited: the server saw the call end
                STATS.add(abandoned=1)
                return
            yield t_pb2.StreamingOutputCallResponse(payload=payload(p.size))
        apply_status(context, request.response_status)

    def StreamingInputCall(self, request_iterator, context):
        STATS.call(context)
        total = sum(len(r.payload.body) for r in request_iterator)
        return t_pb2.StreamingInputCallResponse(aggregated_payload_size=total)

    def FullDuplexCall(self, request_iterator, context):
        STATS.call(context)
        echo_metadata(context)
        for r in request_iterator:
            if apply_status(context, r.response_status):
                return
            for p in r.response_parameters:
                wait_us(context, p.interval_us)
                yield t_pb2.StreamingOutputCallResponse(payload=payload(p.size))

    def HalfDuplexCall(self, request_iterator, context):
        STATS.call(context)
        requests = list(request_iterator)
        for r in requests:
            for p in r.response_parameters:
                yield t_pb2.StreamingOutputCallResponse(payload=payload(p.size))


class Control(c_grpc.ControlServicer):
    def Sleep(self, request, context):
        STATS.call(context)
        wait_us(context, request.millis * 1000)
        if not context.is_active():  # cancelled or past its deadline: the server saw the call end
            STATS.add(abandoned=1)
        return c_pb2.SleepResponse()

    def GetStats(self, request, context):
        return STATS.message()

    def ResetStats(self, request, context):
        STATS.reset()
        return STATS.message()


class Health(h_grpc.HealthServicer):
    """SERVING for "" and the services this server has, NOT_FOUND for any other name (as grpcio's
    health servicer does for a service it was never told about)."""
    SERVICES = ("", "grpc.testing.TestService", "gatehouse.testing.Control")

    def Check(self, request, context):
        if request.service not in self.SERVICES:
            context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        return h_pb2.HealthCheckResponse(status=h_pb2.HealthCheckResponse.SERVING)

    def Watch(self, request, context):
        known = request.service in self.SERVICES
        yield h_pb2.HealthCheckResponse(status=h_pb2.HealthCheckResponse.SERVING if known else h_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
        wait_us(context, 3600 * 1e6)


class FrameTap:
    """A TCP relay in front of the gRPC server that reads the HTTP/2 frames going through: counts
    accepted connections, PINGs from clients (not ACKs), GOAWAYs from the server, among them
    ENHANCE_YOUR_CALM (0xb), grpc's answer to too many pings, and the server's RST_STREAM
    REFUSED_STREAM (streams over its SETTINGS_MAX_CONCURRENT_STREAMS)."""

    def __init__(self, public_port, backend_port):
        self.backend_port = backend_port
        self.pairs, self.lock = set(), threading.Lock()  # the open (client, backend) socket pairs
        self.sock = socket.create_server(("127.0.0.1", public_port), backlog=1024)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            client, _ = self.sock.accept()
            STATS.add(accepted=1)
            try:
                backend = socket.create_connection(("127.0.0.1", self.backend_port))
            except OSError:
                client.close()
                continue
            for s in (client, backend):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.pairs.add((client, backend))
            threading.Thread(target=self.relay, args=(client, backend, True), daemon=True).start()
            threading.Thread(target=self.relay, args=(backend, client, False), daemon=True).start()

    def drop_all(self, *_):
        """Cuts every open connection at once, both ways, without a GOAWAY: a connection-level
        failure under the calls in flight on it (SIGUSR1)."""
        with self.lock:
            pairs = list(self.pairs)
        for pair in pairs:
            for s in pair:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def relay(self, src, dst, from_client):
        buf = bytearray()
        skip = 24 if from_client else 0  # the client's connection preface
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
                buf += data
                if skip:
                    n = min(skip, len(buf))
                    del buf[:n]
                    skip -= n
                while len(buf) >= 9:
                    length = int.from_bytes(buf[0:3], "big")
                    if len(buf) < 9 + length:
                        break
                    ftype, flags = buf[3], buf[4]
                    if from_client and ftype == 6 and not flags & 1:
                        STATS.add(pings=1)
                    elif not from_client and ftype == 7:
                        code = struct.unpack(">I", buf[13:17])[0]
                        STATS.add(goaways=1, calm=int(code == 0xB))
                    elif not from_client and ftype == 3 and struct.unpack(">I", buf[9:13])[0] == 0x7:
                        STATS.add(refused=1)  # RST_STREAM REFUSED_STREAM
                    del buf[:9 + length]
        except OSError:
            pass
        finally:
            for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
                try:
                    s.shutdown(how)
                except OSError:
                    pass
            with self.lock:
                self.pairs.discard((src, dst) if from_client else (dst, src))


def serve(args):
    options = [("grpc.max_send_message_length", MAX_MESSAGE), ("grpc.max_receive_message_length", MAX_MESSAGE)]
    if args.max_concurrent_streams:
        options.append(("grpc.max_concurrent_streams", args.max_concurrent_streams))
    if args.max_connection_age_ms:
        options += [("grpc.max_connection_age_ms", args.max_connection_age_ms),
                    ("grpc.max_connection_age_grace_ms", args.max_connection_age_grace_ms)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.threads), options=options)
    t_grpc.add_TestServiceServicer_to_server(TestService(), server)
    c_grpc.add_ControlServicer_to_server(Control(), server)
    h_grpc.add_HealthServicer_to_server(Health(), server)
    if args.tls_cert:
        with open(args.tls_cert, "rb") as c, open(args.tls_key, "rb") as k:
            creds = grpc.ssl_server_credentials(((k.read(), c.read()),))
        port = server.add_secure_port(f"127.0.0.1:{args.port}", creds)
    elif args.tap:
        backend = server.add_insecure_port("127.0.0.1:0")
        tap = FrameTap(args.port, backend)
        signal.signal(signal.SIGUSR1, tap.drop_all)
        port = tap.port
    else:
        port = server.add_insecure_port(f"127.0.0.1:{args.port}")
    if not port:
        sys.exit(f"cannot listen on 127.0.0.1:{args.port}")
    server.start()
    print(f"READY {port}", flush=True)
    while True:
        signal.pause()  # the main thread waits for signals (SIGUSR1: the tap's drop_all)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--tap", action="store_true")
    ap.add_argument("--threads", type=int, default=128)
    ap.add_argument("--max-concurrent-streams", type=int, default=0, help="SETTINGS_MAX_CONCURRENT_STREAMS (0: grpcio's default, no limit)")
    ap.add_argument("--max-connection-age-ms", type=int, default=0)
    ap.add_argument("--max-connection-age-grace-ms", type=int, default=30000)
    serve(ap.parse_args())


if __name__ == "__main__":
    main()
