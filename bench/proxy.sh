#!/usr/bin/env bash
# gatehouse vs nginx vs HAProxy as reverse proxies, side by side in one run, on one upstream.
#
# Each proxy runs one worker pinned to core 0; wrk and the upstream (an nginx serving fixed
# bodies) share core 1. For each body size, ROUNDS rounds interleave the contenders. Printed per
# run: req/s, p50, p99, and CPU microseconds per request of the proxy process (user+sys / requests,
# the stable figure on a noisy machine); then the ratios gatehouse/nginx and gatehouse/HAProxy
# ("per-core" = requests per core-second ratio = inverse CPU per request). Loopback only.
#
#   bash bench/proxy.sh                 # defaults: 10 s runs, 50 connections, 3 rounds
#   DURATION=5 ROUNDS=1 bash bench/proxy.sh
#   BASELINE=/tmp/old/build/gatehouse bash bench/proxy.sh   # also an older gatehouse, same run
#   PATHS=/small ROUNDS=5 bash bench/proxy.sh                # one body size only
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
bench_setup
UP=19001; GH=19080; NG=19081; HA=19082; BL=19083
start_upstream $UP

start_nginx_proxy $NG $UP

start_haproxy_proxy $HA $UP

start_gatehouse gatehouse $GH $UP
contenders=(gatehouse nginx haproxy)
if [ -n "${BASELINE:-}" ]; then
  BIN=$BASELINE start_gatehouse baseline $BL $UP
  contenders+=(baseline)
fi
wait_for_ports $UP $NG $HA $GH ${BASELINE:+$BL}
pid_nginx=$(nginx_worker_pid)

for port in $GH $NG $HA ${BASELINE:+$BL}; do taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$port/small" >/dev/null; done
for path in ${PATHS:-/small /16k}; do
  for round in $(seq "$ROUNDS"); do
    measure gatehouse "$pid_gatehouse" $GH $path "$round"
    measure nginx "$pid_nginx" $NG $path "$round"
    measure haproxy "$pid_haproxy" $HA $path "$round"
    [ -z "${BASELINE:-}" ] || measure baseline "$pid_baseline" $BL $path "$round"
  done
done
echo
echo "summary (medians over rounds; gatehouse / peer)"
summarize "${contenders[@]}"
