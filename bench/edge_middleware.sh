#!/usr/bin/env bash
# The cost of the header-rule and CORS middleware, in one run on one upstream: the same route
# through three gatehouse processes, plain, with `headers` (two request rules, two response
# rules with a variable) and with `cors` (an allowed Origin on every request). Prints CPU per
# request and per-core ratios against the plain route.
#
#   bash bench/edge_middleware.sh       # DURATION, ROUNDS, CONNECTIONS as in bench/common.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
bench_setup
UP=19201; PLAIN=19280; HDRS=19281; CORS=19282
start_upstream $UP
start_gatehouse plain $PLAIN $UP
with_middleware() {  # NAME PORT MIDDLEWARE-YAML: a gatehouse whose route runs that middleware
  ROUTE_EXTRA=", middleware: [$3]" start_gatehouse "$1" "$2" $UP
}
with_middleware headers $HDRS '{ headers: { request: { set: { X-Real-IP: "${client_ip}" }, remove: [X-Debug] }, response: { set: { X-Request-Id: "${request_id}" }, remove: [Server] } } }'
with_middleware cors $CORS '{ cors: { allow_origins: [https://app.example.com, "https://*.example.org"], allow_credentials: true, expose_headers: [X-Request-Id] } }'
wait_for_ports $UP $PLAIN $HDRS $CORS
for port in $PLAIN $HDRS $CORS; do taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$port/small" >/dev/null; done
for round in $(seq "$ROUNDS"); do
  measure plain "$pid_plain" $PLAIN /small "$round"
  measure headers "$pid_headers" $HDRS /small "$round"
  WRK_HEADER="Origin: https://a.example.org" measure cors "$pid_cors" $CORS /small "$round"
done
echo
echo "summary (medians over rounds; middleware / plain: per-core = plain cpu/req over middleware cpu/req)"
summarize headers plain
summarize cors plain | tail -1
