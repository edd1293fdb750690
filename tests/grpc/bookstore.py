#!/usr/bin/env python3
"""The REST-to-gRPC translation tests' gRPC service (tests/grpc/protos/bookstore.proto), served by
python3-grpcio on 127.0.0.1 (h2c). Every method answers from what it was sent, so a test sees
what the translated request carried; SearchBooks returns its request as JSON in `query` and
as the name of its last book.

    python3 tests/grpc/bookstore.py [--port N] [--descriptor-set OUT.pb]

Prints "READY <port>" once it listens. With --descriptor-set it also writes the descriptor set
gatehouse loads (protoc --include_imports), compiled from the same proto. The google/api and
google/rpc protos come from Debian's golang-github-grpc-ecosystem-grpc-gateway-dev.
"""
import argparse
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent import futures

sys.path.append("/usr/lib/python3/dist-packages")  # Debian's python3-grpcio and python3-protobuf

PROTOS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "protos")
GOOGLEAPIS = os.environ.get("GATEHOUSE_GOOGLEAPIS_DIR",
                            "/usr/share/gocode/src/github.com/grpc-ecosystem/grpc-gateway/third_party/googleapis")
DEPS = ("google/api/annotations.proto", "google/api/http.proto", "google/rpc/status.proto", "google/rpc/error_details.proto")


def compile_descriptor_set(out_path, proto_dir=PROTOS, proto="bookstore.proto"):
    """protoc --include_imports --descriptor_set_out: what grpc_transcode.descriptor_set names."""
    subprocess.run(["protoc", "--include_imports", f"--descriptor_set_out={out_path}", f"-I{proto_dir}", f"-I{GOOGLEAPIS}", proto],
                   check=True, capture_output=True)


def load_modules():
    out = tempfile.mkdtemp(prefix="gatehouse-bookstore-stubs-")
    plugin = shutil.which("grpc_python_plugin")
    subprocess.run(["protoc", f"-I{PROTOS}", f"-I{GOOGLEAPIS}", f"--python_out={out}", f"--grpc_python_out={out}",
                    f"--plugin=protoc-gen-grpc_python={plugin}", "bookstore.proto", *DEPS], check=True, capture_output=True)
    sys.path.insert(0, out)
    mods = {n: importlib.import_module(n) for n in ("bookstore_pb2", "bookstore_pb2_grpc", "google.rpc.status_pb2",
                                                     "google.rpc.error_details_pb2")}
    shutil.rmtree(out, ignore_errors=True)
    return mods


def serve(port):
    import grpc
    from google.protobuf import any_pb2, empty_pb2, json_format

    m = load_modules()
    pb, pb_grpc = m["bookstore_pb2"], m["bookstore_pb2_grpc"]
    status_pb2, details_pb2 = m["google.rpc.status_pb2"], m["google.rpc.error_details_pb2"]
    lock = threading.Lock()
    calls = {"n": 0, "abandoned": 0}
    holds = {}  # StreamBooksRequest.hold -> the event Release sets

    def hold_event(key):
        with lock:
            return holds.setdefault(key, threading.Event())

    def watch_hold(request, context):
        """A held stream's end: counted as abandoned unless it ran to its end (done()); the hold's
        wait ends with it. grpcio runs the callbacks when the call ends, also when it was
        cancelled while the generator was not running (which then never resumes)."""
        state = {"done": False}

        def ended():
            hold_event(request.hold).set()
            if not state["done"]:
                with lock:
                    calls["abandoned"] += 1
        if not context.add_callback(ended):  # over already
            ended()
        return lambda: state.update(done=True)

    def count():
        with lock:
            calls["n"] += 1

    class Bookstore(pb_grpc.BookstoreServicer):
        def ListShelves(self, request, context):
            count()
            return pb.ListShelvesResponse(shelves=[pb.Shelf(id=1, theme="fiction"), pb.Shelf(id=2, theme="science")])

        def CreateShelf(self, request, context):
            count()
            shelf = pb.Shelf()
            shelf.CopyFrom(request.shelf)
            shelf.id = 3
            return shelf

        def GetShelf(self, request, context):
            count()
            if request.shelf == 404:
                context.abort(grpc.StatusCode.NOT_FOUND, "no shelf 404")
            return pb.Shelf(id=request.shelf, theme=f"theme {request.shelf}")

        def GetBook(self, request, context):
            count()
            return pb.Book(id=request.book, shelf=request.shelf, title=f"book {request.book}")

        def GetBookByName(self, request, context):
            count()
            return pb.Book(name=request.name)

        def GetFile(self, request, context):
            count()
            return pb.File(path=request.path)

        def CreateBook(self, request, context):
            count()
            book = pb.Book()
            book.CopyFrom(request.book)
            book.shelf = request.shelf
            return book

        UpdateBook = CreateBook

        def PublishBook(self, request, context):
            count()
            return pb.Book(id=request.book, shelf=request.shelf, title=f"published notify={request.notify} channel={request.channel_name}")

        def DeleteBook(self, request, context):
            count()
            return empty_pb2.Empty()

        def SearchBooks(self, request, context):
            count()
            query = json_format.MessageToJson(request, preserving_proto_field_name=True, indent=None, sort_keys=True)
            # A book per tag, and last one whose name is the request as the server saw it (JSON).
            return pb.SearchBooksResponse(books=[pb.Book(title=t) for t in request.tags] + [pb.Book(name=query)], query=query)

        def StreamBooks(self, request, context):
            count()
            done = watch_hold(request, context) if request.hold else (lambda: None)
            for i in range(request.count):
                if request.hold and i == request.hold_after:
                    hold_event(request.hold).wait(60)  # Release, or the call's end
                    if not context.is_active():
                        return
                yield pb.Book(id=i + 1, shelf=request.shelf, title=f"stream {i + 1}")
            done()
            if request.fail_code:
                context.set_code(next(c for c in grpc.StatusCode if c.value[0] == request.fail_code))
                context.set_details(f"failed after {request.count}")

        def Release(self, request, context):
            hold_event(request.hold).set()
            return empty_pb2.Empty()

        def EchoTypes(self, request, context):
            count()
            return request

        def Fail(self, request, context):
            count()
            status = status_pb2.Status(code=request.code, message=request.message)
            if request.field:
                detail = any_pb2.Any()
                detail.Pack(details_pb2.BadRequest(field_violations=[
                    details_pb2.BadRequest.FieldViolation(field=request.field, description=f"{request.field} is wrong")]))
                status.details.append(detail)
            context.set_trailing_metadata([("grpc-status-details-bin", status.SerializeToString())])
            context.set_code(next(c for c in grpc.StatusCode if c.value[0] == request.code))
            context.set_details(request.message)
            return empty_pb2.Empty()

        def Stats(self, request, context):
            with lock:
                return pb.StatsResponse(calls=calls["n"], abandoned=calls["abandoned"])

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    pb_grpc.add_BookstoreServicer_to_server(Bookstore(), server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print(f"READY {bound}", flush=True)
    server.wait_for_termination()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--descriptor-set")
    a = ap.parse_args()
    if a.descriptor_set:
        compile_descriptor_set(a.descriptor_set)
    serve(a.port)


if __name__ == "__main__":
    main()
