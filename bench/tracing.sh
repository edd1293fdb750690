#!/usr/bin/env bash
# The cost of tracing: the same binary with tracing off (no tracing.otlp: nothing recorded) and
# with every request sampled (sample: 100%, a SERVER and a CLIENT span per request exported over
# OTLP/HTTP protobuf to a sink that answers 200 and reads nothing), side by side in one run.
# The whole gatehouse process is pinned to the proxy core, so the control thread's encoding and
# export are in its CPU per request too. Printed: the usual rows, the ratio sampled / off
# ("per-core" is the issue's figure, >= 0.95 wanted), and what the sink received.
#   bash bench/tracing.sh        (DURATION, ROUNDS, CONNECTIONS as in proxy.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
bench_setup
UP=19401; SINK=19490
start_upstream $UP
# The collector: a trivial OTLP/HTTP sink on the load core (counts requests and bytes).
taskset -c "$LOAD_CORE" python3 - "$SINK" "$work/sink.txt" <<'PY' &
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, out = int(sys.argv[1]), sys.argv[2]
count = {"requests": 0, "bytes": 0}
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(n)
        count["requests"] += 1; count["bytes"] += n
        with open(out, "w") as f: f.write(f"{count['requests']} export requests, {count['bytes']} bytes\n")
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
pids+=($!)
start_gatehouse off 19480 $UP ""
start_gatehouse sampled 19481 $UP "tracing: { sample: 100%, otlp: { endpoint: http://127.0.0.1:$SINK/v1/traces } }"
wait_for_ports $UP $SINK 19480 19481
for port in 19480 19481; do taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$port/small" >/dev/null; done
for round in $(seq "$ROUNDS"); do
  measure off "$pid_off" 19480 /small "$round"
  measure sampled "$pid_sampled" 19481 /small "$round"
done
echo
echo "summary (medians; first column = sampled / off)"
summarize sampled off
echo "sink: $(cat "$work/sink.txt" 2>/dev/null || echo nothing received)"
