#!/usr/bin/env bash
# The cost of tracing: the same binary with tracing off (no tracing.otlp: nothing recorded) and
# with every request sampled (sample: 100%, a SERVER and a CLIENT span per request exported over
# OTLP/HTTP protobuf to an nginx that answers 200), side by side in one run.
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
# The collector: a sink that takes every export and answers 200 (an nginx on the load core, so
# that the collector steals as little as possible from wrk and the upstream); its log counts them.
mkdir -p "$work/sink"
{ nginx_conf_head sink; cat <<CONF
  log_format n '\$content_length'; client_max_body_size 64m; client_body_buffer_size 1m;
  server { listen 127.0.0.1:$SINK; location = /v1/traces { access_log $work/sink/exports.log n; return 200; } }
}
CONF
} > "$work/sink/nginx.conf"
taskset -c "$LOAD_CORE" nginx -c "$work/sink/nginx.conf" -p "$work/sink" &
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
awk '{ n++; b += $1 } END { printf "sink: %d export requests, %d bytes\n", n, b }' "$work/sink/exports.log"
