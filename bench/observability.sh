#!/usr/bin/env bash
# The cost of observability: the same gatehouse config with metrics off, with metrics on (the
# default), and with metrics plus the JSON access log to a file, side by side in one run.
#   bash bench/observability.sh        (DURATION, ROUNDS, CONNECTIONS as in proxy.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
bench_setup
UP=19301
start_upstream $UP
start_gatehouse off 19380 $UP "metrics: { enabled: false }"
start_gatehouse metrics 19381 $UP "metrics: { enabled: true }"
start_gatehouse metrics_log 19382 $UP "access_log: { path: $work/access.log, rotate: { max_size: 64MiB, max_files: 2 } }"
wait_for_ports $UP 19380 19381 19382
for port in 19380 19381 19382; do taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$port/small" >/dev/null; done
for round in $(seq "$ROUNDS"); do
  measure off "$pid_off" 19380 /small "$round"
  measure metrics "$pid_metrics" 19381 /small "$round"
  measure metrics_log "$pid_metrics_log" 19382 /small "$round"
done
echo
echo "summary (medians; first column = with / without)"
summarize metrics off
summarize metrics_log off
ls -la "$work"/access*.log | head -3
