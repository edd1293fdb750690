#!/usr/bin/env bash
# The cost of rate limiting, in one run on one upstream: the same route through three gatehouse
# processes, without a limit, with a local limit that is never reached, and with the Redis store
# (a redis-server on the load core). Prints CPU per request of each gatehouse and the ratios
# ("per-core"), and Redis round trips per request (commandstats calls / requests).
#
#   bash bench/rate_limit.sh            # DURATION, ROUNDS, CONNECTIONS as in bench/common.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
bench_setup
command -v redis-server >/dev/null || .ci/install-deps
UP=19101; PLAIN=19180; LOCAL=19181; SHARED=19182; RD=19190
start_upstream $UP
taskset -c "$LOAD_CORE" redis-server --port $RD --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --daemonize no --loglevel warning &
pids+=($!)
limit() { printf '    middleware: [{ rate_limit: { limits: [{ name: l, key: client_ip, rate: 100000000/s }]%s } }]\n' "$1"; }
start_gatehouse plain $PLAIN $UP
start_gatehouse local $LOCAL $UP
start_gatehouse shared $SHARED $UP "redis: [{ name: r, address: 127.0.0.1:$RD, timeout: 50ms }]"
# The limited routes: rewrite the route line of the generated configs, then reload by restart.
for n in local shared; do
  kill "$(eval echo \$pid_$n)"; wait "$(eval echo \$pid_$n)" 2>/dev/null || true
  extra=""; [ $n = shared ] && extra=", store: r"
  python3 - "$work/$n.yaml" "$(limit "$extra")" <<'PY'
import sys
p, mw = sys.argv[1], sys.argv[2]
s = open(p).read().replace("routes: [{ name: all, upstream: up }]", "routes:\n  - name: all\n    upstream: up\n" + mw)
open(p, "w").write(s)
PY
  taskset -c "$PROXY_CORE" "$GATEHOUSE" --config "$work/$n.yaml" --log-level warn &
  pids+=($!); eval "pid_$n=\$!"
done
wait_for_ports $UP $PLAIN $LOCAL $SHARED
for port in $PLAIN $LOCAL $SHARED; do taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$port/small" >/dev/null; done
calls_before=$(redis-cli -p $RD info commandstats | awk -F'[=,:]' '/cmdstat_evalsha/ {print $3}')
for round in $(seq "$ROUNDS"); do
  measure plain "$pid_plain" $PLAIN /small "$round"
  measure local "$pid_local" $LOCAL /small "$round"
  measure shared "$pid_shared" $SHARED /small "$round"
done
calls_after=$(redis-cli -p $RD info commandstats | awk -F'[=,:]' '/cmdstat_evalsha/ {print $3}')
shared_reqs=$(awk -F'\t' '$3=="shared" {n += $4 * '"$DURATION"'} END {printf "%d", n}' "$results")
echo
echo "summary (medians over rounds; limited / plain: per-core = plain cpu/req over limited cpu/req)"
summarize local plain
summarize shared plain | tail -1
echo "redis EVALSHA calls per shared request: $(awk -v a="${calls_before:-0}" -v b="${calls_after:-0}" -v n="$shared_reqs" 'BEGIN { printf "%.3f", (b - a) / n }')"
