#!/usr/bin/env bash
# REST to gRPC (routes[].grpc_transcode, issue 30, Performance: the translation adds at most 30 %
# proxy CPU per call): one gatehouse, one worker pinned to core 0, two routes to the same h2c
# upstream (bench/grpc_responder.cpp, on the load core, answering every call with one fixed
# SimpleResponse of 32 bytes):
#   native     h2load sends gRPC (POST /grpc.testing.TestService/UnaryCall, a length-prefixed
#              SimpleRequest with a 32-byte payload): proxied as is
#   transcode  h2load sends REST (POST /v1/unary, the same request as JSON): gatehouse matches the
#              google.api.http rule (bench/grpc_transcode.proto), converts the JSON to protobuf,
#              makes the gRPC call on the exchange's upstream call and converts the answer back to JSON
# The figure compared is gatehouse's CPU per call (user+sys from /proc/PID/stat over the calls
# h2load completed): transcode/native, which the issue wants at most 1.3. The figures, and where
# the extra instructions go (TRANSCODE=1 bench/callgrind.sh): docs/benchmarks.md, "REST to gRPC
# translation".
#
#   bash bench/grpc_transcode.sh              # 10 s runs, 3 rounds
#   DURATION=5 ROUNDS=1 bash bench/grpc_transcode.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
command -v h2load >/dev/null && command -v grpc_python_plugin >/dev/null || .ci/install-deps
bench_setup
[ -x "$(dirname "$GATEHOUSE")/gatehouse_grpc_responder" ] || .ci/build build
UP=19711
PORT=19790
GOOGLEAPIS=${GATEHOUSE_GOOGLEAPIS_DIR:-/usr/share/gocode/src/github.com/grpc-ecosystem/grpc-gateway/third_party/googleapis}

start_grpc_server upstream "$(dirname "$GATEHOUSE")/gatehouse_grpc_responder" $UP 32

protoc --include_imports --descriptor_set_out="$work/bench.pb" -I bench -I tests/grpc/protos -I "$GOOGLEAPIS" grpc_transcode.proto
# The two request bodies: the gRPC message and the same request as JSON.
python3 - "$work/unary.bin" "$work/unary.json" <<'PY'
import base64, json, struct, sys
sys.path.insert(0, "tests/grpc")
import stubs
pb = stubs.load().test_pb2
msg = pb.SimpleRequest(response_size=32, payload=pb.Payload(body=b"\0" * 32)).SerializeToString()
open(sys.argv[1], "wb").write(b"\0" + struct.pack(">I", len(msg)) + msg)
json.dump({"responseSize": 32, "payload": {"body": base64.b64encode(b"\0" * 32).decode()}}, open(sys.argv[2], "w"))
PY

cat > "$work/gatehouse.yaml" <<CONF
workers: 1
admin: { enabled: false }
listeners: [{ name: bench, listen: 127.0.0.1:$PORT, protocols: [h2, http1] }]
routes:
  - { name: native, match: { path_prefix: /grpc.testing. }, upstream: up }
  - name: transcode
    match: { path_prefix: /v1/ }
    upstream: up
    grpc_transcode: { descriptor_set: $work/bench.pb, services: [gatehouse.bench.Unary] }
upstreams: [{ name: up, protocol: h2c, discovery: { static: [127.0.0.1:$UP] } }]
CONF
"$GATEHOUSE" check "$work/gatehouse.yaml"
taskset -c "$PROXY_CORE" "$GATEHOUSE" --config "$work/gatehouse.yaml" --log-level warn &
pids+=($!)
pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
# Both answer before any load: the REST answer is the SimpleResponse as JSON.
curl -sf --http2-prior-knowledge -H 'content-type: application/json' --data-binary @"$work/unary.json" \
  "http://127.0.0.1:$PORT/v1/unary" | grep -q '"payload"' || { echo "the translated call fails" >&2; exit 1; }

native=(-d "$work/unary.bin" -H content-type:application/grpc -H te:trailers)
rest=(-d "$work/unary.json" -H content-type:application/json)
export LOAD=h2load
H2LOAD_EXTRA="${native[*]}" DURATION=2 h2load_run $PORT /grpc.testing.TestService/UnaryCall >/dev/null  # warm-up: the pool
for round in $(seq "$ROUNDS"); do
  H2LOAD_EXTRA="${native[*]}" LABEL=unary measure native "$pid" $PORT /grpc.testing.TestService/UnaryCall "$round"
  H2LOAD_EXTRA="${rest[*]}" LABEL=unary measure transcode "$pid" $PORT /v1/unary "$round"
done

echo
echo "summary: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); h2load -c$CONNECTIONS -m${H2LOAD_STREAMS:-10} unary, ${DURATION} s runs, $ROUNDS rounds (medians)"
echo "us/req is gatehouse's CPU per call; the issue wants transcode at most 1.3x native"
summarize native transcode
