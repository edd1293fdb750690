#!/usr/bin/env bash
# The cost of fault tolerance on a healthy upstream, in one run on one upstream: the same route
# through two gatehouse processes, plain and guarded (circuit breaker + outlier detection on the
# upstream, a retry policy on the route), then the fast-fail rate of an open breaker (an upstream
# nothing listens on; the breaker opens on the first failure and stays open). Prints CPU per
# request and the per-core ratio guarded/plain.
#
#   bash bench/fault_tolerance.sh       # DURATION, ROUNDS, CONNECTIONS as in bench/common.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
bench_setup
UP=19301; PLAIN=19380; GUARDED=19381; OPEN=19382; DEAD=19399
start_upstream $UP
start_configured() {  # NAME PORT YAML-BODY (routes and upstreams)
  local name=$1 port=$2
  { printf 'workers: 1\nadmin: { enabled: false }\nlisteners: [{ name: bench, listen: 127.0.0.1:%s }]\n' "$port"; cat; } > "$work/$name.yaml"
  taskset -c "$PROXY_CORE" "$GATEHOUSE" --config "$work/$name.yaml" --log-level error &
  pids+=($!); eval "pid_$name=\$!"
}
start_configured plain $PLAIN <<CONF
routes: [{ name: all, upstream: up }]
upstreams: [{ name: up, discovery: { static: [127.0.0.1:$UP] } }]
CONF
start_configured guarded $GUARDED <<CONF
routes:
  - name: all
    upstream: up
    retry: { attempts: 2, on: [connect_failure, reset, timeout, 502, 503, 504], per_try_timeout: 2s, budget: 20% }
upstreams:
  - name: up
    discovery: { static: [127.0.0.1:$UP] }
    circuit_breaker: { failure_rate: 50%, window: 10s, min_requests: 20, open_for: 30s }
    outlier_detection: { consecutive_5xx: 5, consecutive_gateway_errors: 5 }
CONF
start_configured open $OPEN <<CONF
routes: [{ name: all, upstream: dead }]
upstreams:
  - name: dead
    discovery: { static: [127.0.0.1:$DEAD] }
    circuit_breaker: { consecutive_failures: 1, open_for: 1h }
CONF
wait_for_ports $UP $PLAIN $GUARDED $OPEN
curl -s -o /dev/null "http://127.0.0.1:$OPEN/small" || true  # the one failure that opens it
for port in $PLAIN $GUARDED; do taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$port/small" >/dev/null; done
for round in $(seq "$ROUNDS"); do
  order="plain guarded"; ((round % 2)) || order="guarded plain"  # alternate: drift hits both
  for n in $order; do
    port=$PLAIN; [ $n = guarded ] && port=$GUARDED
    measure "$n" "$(eval echo \$pid_$n)" $port /small "$round"
  done
  measure open "$pid_open" $OPEN /small "$round" 2>/dev/null  # every answer is the 503: wrk's non-2xx warning is expected
done
echo
echo "summary (medians over rounds; guarded / plain: per-core = plain cpu/req over guarded cpu/req; open: the breaker's fast 503s)"
summarize guarded plain
summarize open plain | tail -1
