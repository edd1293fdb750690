#!/usr/bin/env bash
# WebSocket echo through gatehouse (`websocket: true`) and nginx (Upgrade/Connection passed on),
# one run, one echo server (bench/ws_echo.cpp, on the load core): CONNECTIONS WebSockets each
# sending a message and waiting for its echo, again and again. Prints messages/s, round-trip
# latency and proxy CPU per message; per-core = nginx cpu/msg over gatehouse cpu/msg.
#
#   bash bench/websocket.sh       # DURATION, ROUNDS, CONNECTIONS as in bench/common.sh; WS_PAYLOAD (64)
#   BASELINE=/tmp/old/build/gatehouse bash bench/websocket.sh   # also an older gatehouse, same run
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
bench_setup
UP=19501; GH=19580; NG=19581; WEB=19502; BL=19582
start_upstream $WEB  # only for wait_for_ports' /small probe through nginx
ws_echo="$(dirname "$GATEHOUSE")/gatehouse_ws_echo"  # not inside the & line: a command substitution there runs the EXIT trap
taskset -c "$LOAD_CORE" "$ws_echo" server $UP &
pids+=($!)
ROUTE_EXTRA=", websocket: true" start_gatehouse gatehouse $GH $UP
contenders=(gatehouse nginx)
if [ -n "${BASELINE:-}" ]; then
  BIN=$BASELINE ROUTE_EXTRA=", websocket: true" start_gatehouse baseline $BL $UP
  contenders+=(baseline)
fi
mkdir -p "$work/ng"
{ nginx_conf_head ng; cat <<CONF
  upstream up { server 127.0.0.1:$UP; keepalive 64; }
  server { listen 127.0.0.1:$NG;
    location /small { proxy_pass http://127.0.0.1:$WEB; }
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_read_timeout 1h;
                 proxy_set_header Upgrade \$http_upgrade; proxy_set_header Connection "upgrade"; } }
}
CONF
} > "$work/ng/nginx.conf"
taskset -c "$PROXY_CORE" nginx -c "$work/ng/nginx.conf" -p "$work/ng" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/ng/nginx.pid" ] && break; sleep 0.1; done
wait_for_ports $NG
for port in $GH ${BASELINE:+$BL}; do
  for _ in $(seq 100); do "$ws_echo" client 127.0.0.1 $port /ws 1 1 >/dev/null 2>&1 && break; sleep 0.2; done
done
pid_nginx=$(nginx_worker_pid)
for round in $(seq "$ROUNDS"); do
  order="${contenders[*]}"; ((round % 2)) || order=$(printf '%s\n' "${contenders[@]}" | tac | xargs)  # alternate: drift hits all
  for n in $order; do
    port=$GH; [ $n = nginx ] && port=$NG; [ $n = baseline ] && port=$BL
    LOAD=websocket LABEL=ws measure "$n" "$(eval echo \$pid_$n)" $port /ws "$round"
  done
done
echo
echo "summary (medians over rounds; a request is one message echoed)"
summarize "${contenders[@]}"
