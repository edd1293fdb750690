#!/usr/bin/env python3
"""The python3-grpcio client of the gRPC proxying tests: the cases of gRPC's interop test
descriptions (doc/interop-test-descriptions.md) against a target, and a load mode.

    python3 tests/grpc/client.py --target 127.0.0.1:PORT [--ca CA.pem --server-name NAME] [--cases a,b]
    python3 tests/grpc/client.py --target ... --load CALLS --concurrency N [--method unary|sleep] [--sleep-ms M] [--load-size B]

Prints one JSON object: {case: {"ok": bool, "detail": str}} (cases), or
{"calls": N, "failed": K, "errors": {status: count}} (load). Exit status 0 when everything passed.
"""
import argparse
import json
import os
import queue
import sys
import threading
from concurrent import futures

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stubs  # noqa: E402

pb = stubs.load()
grpc = pb.grpc
t_pb2, t_grpc = pb.test_pb2, pb.test_pb2_grpc
c_pb2, c_grpc = pb.control_pb2, pb.control_pb2_grpc
h_pb2, h_grpc = pb.health_pb2, pb.health_pb2_grpc

MAX_MESSAGE = 16 * 1024 * 1024
LARGE = 4 * 1024 * 1024  # the large unary case: 4 MiB each way
DEADLINE = 30  # seconds, a safety net per call
ECHO_INITIAL = "x-grpc-test-echo-initial"
ECHO_TRAILING = "x-grpc-test-echo-trailing-bin"
SPECIAL_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
# (request payload, response size) of the streaming cases, as the interop descriptions give them
SIZES = ((27182, 31415), (8, 9), (1828, 2653), (45904, 58979))
CASES = ("empty_unary", "large_unary", "client_streaming", "server_streaming", "ping_pong", "empty_stream",
         "custom_metadata", "status_code_and_message", "special_status_message", "unimplemented_method",
         "unimplemented_service", "timeout_on_sleeping_server", "cancel_after_begin", "cancel_after_first_response",
         "health_check")


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


def payload(size):
    return t_pb2.Payload(body=b"\0" * size)


def channel(target, ca=None, server_name=None):
    options = [("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE)]
    if ca is None:
        return grpc.insecure_channel(target, options=options)
    with open(ca, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    if server_name:
        options.append(("grpc.ssl_target_name_override", server_name))
    return grpc.secure_channel(target, creds, options=options)


class Requests:
    """A request stream the case feeds one message at a time (None ends it)."""

    def __init__(self):
        self.q = queue.Queue()

    def __iter__(self):
        return self

    def __next__(self):
        m = self.q.get()
        if m is None:
            raise StopIteration
        return m

    def put(self, m):
        self.q.put(m)


def expect_status(fn, code, message=None):
    try:
        fn()
    except grpc.RpcError as e:
        check(e.code() == code, f"status {e.code()} ({e.details()!r}), wanted {code}")
        check(message is None or e.details() == message, f"message {e.details()!r}, wanted {message!r}")
        return e
    raise Failed(f"no error, wanted {code}")


class Cases:
    def __init__(self, ch):
        self.test = t_grpc.TestServiceStub(ch)
        self.unimplemented = t_grpc.UnimplementedServiceStub(ch)
        self.control = c_grpc.ControlStub(ch)
        self.health = h_grpc.HealthStub(ch)

    def empty_unary(self):
        check(self.test.EmptyCall(t_pb2.Empty(), timeout=DEADLINE) == t_pb2.Empty(), "not an Empty")

    def large_unary(self):
        r = self.test.UnaryCall(t_pb2.SimpleRequest(response_size=LARGE, payload=payload(LARGE)), timeout=DEADLINE)
        check(r.payload.body == b"\0" * LARGE, f"response body of {len(r.payload.body)} bytes")

    def client_streaming(self):
        r = self.test.StreamingInputCall(iter([t_pb2.StreamingInputCallRequest(payload=payload(n)) for n, _ in SIZES]), timeout=DEADLINE)
        check(r.aggregated_payload_size == 74922, f"aggregated {r.aggregated_payload_size}")

    def server_streaming(self):
        req = t_pb2.StreamingOutputCallRequest(response_parameters=[t_pb2.ResponseParameters(size=n) for _, n in SIZES])
        got = [len(r.payload.body) for r in self.test.StreamingOutputCall(req, timeout=DEADLINE)]
        check(got == [n for _, n in SIZES], f"response sizes {got}")

    def ping_pong(self):
        reqs = Requests()
        call = self.test.FullDuplexCall(reqs, timeout=DEADLINE)
        for size, response_size in SIZES:
            reqs.put(t_pb2.StreamingOutputCallRequest(response_parameters=[t_pb2.ResponseParameters(size=response_size)], payload=payload(size)))
            r = next(call)
            check(len(r.payload.body) == response_size, f"response of {len(r.payload.body)} bytes, wanted {response_size}")
        reqs.put(None)
        check(next(call, None) is None, "a response after the last")
        check(call.code() == grpc.StatusCode.OK, f"status {call.code()}")

    def empty_stream(self):
        call = self.test.FullDuplexCall(iter(()), timeout=DEADLINE)
        check(list(call) == [], "responses to no request")
        check(call.code() == grpc.StatusCode.OK, f"status {call.code()}")

    def custom_metadata(self):
        md = ((ECHO_INITIAL, "test_initial_metadata_value"), (ECHO_TRAILING, b"\xab\xab\xab"))
        _, call = self.test.UnaryCall.with_call(t_pb2.SimpleRequest(response_size=314159, payload=payload(271828)), metadata=md, timeout=DEADLINE)
        self._check_echo(call)
        req = t_pb2.StreamingOutputCallRequest(response_parameters=[t_pb2.ResponseParameters(size=314159)], payload=payload(271828))
        call = self.test.FullDuplexCall(iter([req]), metadata=md, timeout=DEADLINE)
        check([len(r.payload.body) for r in call] == [314159], "full duplex response")
        self._check_echo(call)

    @staticmethod
    def _check_echo(call):
        initial, trailing = dict(call.initial_metadata()), dict(call.trailing_metadata())
        check(initial.get(ECHO_INITIAL) == "test_initial_metadata_value", f"initial metadata {initial}")
        check(trailing.get(ECHO_TRAILING) == b"\xab\xab\xab", f"trailing metadata {trailing}")

    def _status_case(self, message):
        status = t_pb2.EchoStatus(code=2, message=message)
        expect_status(lambda: self.test.UnaryCall(t_pb2.SimpleRequest(response_status=status), timeout=DEADLINE), grpc.StatusCode.UNKNOWN, message)
        expect_status(lambda: list(self.test.FullDuplexCall(iter([t_pb2.StreamingOutputCallRequest(response_status=status)]), timeout=DEADLINE)),
                      grpc.StatusCode.UNKNOWN, message)

    def status_code_and_message(self):
        self._status_case("test status message")

    def special_status_message(self):
        self._status_case(SPECIAL_MESSAGE)

    def unimplemented_method(self):
        expect_status(lambda: self.test.UnimplementedCall(t_pb2.Empty(), timeout=DEADLINE), grpc.StatusCode.UNIMPLEMENTED)

    def unimplemented_service(self):
        expect_status(lambda: self.unimplemented.UnimplementedCall(t_pb2.Empty(), timeout=DEADLINE), grpc.StatusCode.UNIMPLEMENTED)

    def timeout_on_sleeping_server(self):
        # the interop case (a duplex call whose deadline passes while the server waits for more)
        # and a unary call to a method that sleeps past its deadline
        reqs = Requests()
        call = self.test.FullDuplexCall(reqs, timeout=0.05)
        reqs.put(t_pb2.StreamingOutputCallRequest(payload=payload(27182)))
        expect_status(lambda: list(call), grpc.StatusCode.DEADLINE_EXCEEDED)
        reqs.put(None)
        expect_status(lambda: self.control.Sleep(c_pb2.SleepRequest(millis=5000), timeout=0.5), grpc.StatusCode.DEADLINE_EXCEEDED)

    def cancel_after_begin(self):
        reqs = Requests()
        call = self.test.StreamingInputCall.future(reqs, timeout=DEADLINE)
        call.cancel()
        reqs.put(None)
        check(call.cancelled(), "not cancelled")
        check(call.code() == grpc.StatusCode.CANCELLED, f"status {call.code()}")

    def cancel_after_first_response(self):
        reqs = Requests()
        call = self.test.FullDuplexCall(reqs, timeout=DEADLINE)
        reqs.put(t_pb2.StreamingOutputCallRequest(response_parameters=[t_pb2.ResponseParameters(size=31415)], payload=payload(27182)))
        check(len(next(call).payload.body) == 31415, "first response")
        call.cancel()
        reqs.put(None)
        check(call.code() == grpc.StatusCode.CANCELLED, f"status {call.code()}")

    def health_check(self):
        r = self.health.Check(h_pb2.HealthCheckRequest(service="grpc.testing.TestService"), timeout=DEADLINE)
        check(r.status == h_pb2.HealthCheckResponse.SERVING, f"health status {r.status}")
        expect_status(lambda: self.health.Check(h_pb2.HealthCheckRequest(service="no.such.Service"), timeout=DEADLINE), grpc.StatusCode.NOT_FOUND)


def run_cases(ch, names):
    cases, out = Cases(ch), {}
    for name in names:
        try:
            getattr(cases, name)()
            out[name] = {"ok": True, "detail": ""}
        except Failed as e:
            out[name] = {"ok": False, "detail": str(e)}
        except grpc.RpcError as e:
            out[name] = {"ok": False, "detail": f"unexpected status {e.code()}: {e.details()!r}"}
        except Exception as e:  # noqa: BLE001 - report, the other cases still run
            out[name] = {"ok": False, "detail": f"{type(e).__name__}: {e}"}
    return out


def run_load(ch, calls, concurrency, method="unary", sleep_ms=0, size=64):
    """`calls` calls, `concurrency` in flight at once, over the one channel; counts the failures by
    status. Unary calls ask for and check a `size`-byte payload."""
    test, control = t_grpc.TestServiceStub(ch), c_grpc.ControlStub(ch)
    errors, lock = {}, threading.Lock()

    def one(_):
        try:
            if method == "sleep":
                control.Sleep(c_pb2.SleepRequest(millis=sleep_ms), timeout=DEADLINE)
            else:
                r = test.UnaryCall(t_pb2.SimpleRequest(response_size=size, payload=payload(size)), timeout=DEADLINE)
                check(len(r.payload.body) == size, f"a response of {len(r.payload.body)} bytes")
        except (grpc.RpcError, Failed) as e:
            key = str(e.code()) if isinstance(e, grpc.RpcError) else str(e)
            with lock:
                errors[key] = errors.get(key, 0) + 1

    with futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(calls)))
    return {"calls": calls, "failed": sum(errors.values()), "errors": errors}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", required=True)
    ap.add_argument("--ca")
    ap.add_argument("--server-name")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--load", type=int, default=0)
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--method", choices=("unary", "sleep"), default="unary")
    ap.add_argument("--sleep-ms", type=int, default=100)
    ap.add_argument("--load-size", type=int, default=64, help="the unary load's payload bytes each way")
    a = ap.parse_args()
    with channel(a.target, a.ca, a.server_name) as ch:
        if a.load:
            out = run_load(ch, a.load, a.concurrency, a.method, a.sleep_ms, a.load_size)
            ok = out["failed"] == 0
        else:
            out = run_cases(ch, [c for c in a.cases.split(",") if c])
            ok = all(v["ok"] for v in out.values())
    print(json.dumps(out, indent=1))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
