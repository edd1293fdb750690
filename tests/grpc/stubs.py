"""The test protos compiled at run time: protoc + grpc_python_plugin (Debian's
protobuf-compiler and protobuf-compiler-grpc) into a temporary directory; nothing generated is
committed. `load()` returns a namespace with the modules test_pb2, test_pb2_grpc, control_pb2,
control_pb2_grpc, health_pb2, health_pb2_grpc (and `grpc` itself)."""
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import types

sys.path.append("/usr/lib/python3/dist-packages")  # Debian's python3-grpcio and python3-protobuf

PROTOS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "protos")
NAMES = ("test", "control", "health")
_loaded = None


def compile_to(out_dir):
    plugin = shutil.which("grpc_python_plugin")
    if not plugin or not shutil.which("protoc"):
        raise RuntimeError("protoc and grpc_python_plugin are needed (Debian: protobuf-compiler, protobuf-compiler-grpc; .ci/install-deps)")
    subprocess.run(["protoc", f"-I{PROTOS}", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}",
                    f"--plugin=protoc-gen-grpc_python={plugin}", *(f"{n}.proto" for n in NAMES)],
                   check=True, capture_output=True)


def load():
    global _loaded
    if _loaded is None:
        out = tempfile.mkdtemp(prefix="gatehouse-grpc-stubs-")
        compile_to(out)
        sys.path.insert(0, out)
        import grpc
        ns = types.SimpleNamespace(grpc=grpc)
        for n in NAMES:
            setattr(ns, f"{n}_pb2", importlib.import_module(f"{n}_pb2"))
            setattr(ns, f"{n}_pb2_grpc", importlib.import_module(f"{n}_pb2_grpc"))
        shutil.rmtree(out, ignore_errors=True)  # imported: the files are no longer needed
        _loaded = ns
    return _loaded


def available():
    """None when the gRPC stack can run here, else why not."""
    try:
        load()
        return None
    except Exception as e:  # noqa: BLE001 - any failure means the stack is missing
        return f"{type(e).__name__}: {e}"
