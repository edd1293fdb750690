#!/usr/bin/env bash
# gRPC proxying: gatehouse vs nginx (grpc_pass) vs HAProxy (`proto h2` both sides) in one run, on
# one gRPC upstream (issue 29, Performance: proxy CPU per call, >= 1.1x nginx, >= 1.0x HAProxy).
#
# The load: unary calls with small messages (grpc.testing.TestService/UnaryCall, a 32-byte
# payload each way) from h2load with gRPC framing: POST of a prebuilt length-prefixed protobuf
# body (-d), content-type application/grpc, te: trailers; -c50 -m10 (50 connections, 10 streams
# in flight on each) on the load core. Each proxy: one worker pinned to core 0, h2c on both sides
# (gatehouse: a listener with protocols [h2, http1], the upstream `protocol: h2c`).
#
# The upstream, on the load core: UPSTREAM=responder (the default) is bench/grpc_responder.cpp,
# one epoll thread with libnghttp2 answering every call with one fixed SimpleResponse and
# grpc-status 0 (Debian has no fast gRPC server); UPSTREAM=python is the tests' real server
# (tests/grpc/server.py, python3-grpcio), UPSTREAM_PROCS processes sharing the port (grpcio binds
# with SO_REUSEPORT), which bounds the calls per second to a few thousand, the same bound for
# every proxy. Either way the figure compared is the proxy's CPU per call (user+sys from
# /proc/PID/stat over the calls h2load completed). Each proxy first carries 200 calls of a real
# gRPC client (python3-grpcio) to the same upstream: h2load itself sees only HTTP statuses. The
# interop cases through each proxy are tests/integration/test_grpc.py's.
#
# gatehouse joins once its config passes `gatehouse check` (upstreams[].protocol, issue 29's
# transport); until then the run prints it as pending and compares nginx with HAProxy.
# ("per-core" in the summary: the first contender's calls per core-second over the other's.)
#
#   bash bench/grpc.sh                          # 10 s runs, 3 rounds
#   DURATION=5 ROUNDS=1 bash bench/grpc.sh
#   UPSTREAM=python UPSTREAM_PROCS=4 CONTENDERS="gatehouse nginx" bash bench/grpc.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
command -v h2load >/dev/null && command -v grpc_python_plugin >/dev/null || .ci/install-deps
bench_setup
[ -x "$(dirname "$GATEHOUSE")/gatehouse_grpc_responder" ] || .ci/build build
UP=19701
declare -A port=([gatehouse]=19780 [nginx]=19781 [haproxy]=19782)
METHOD=/grpc.testing.TestService/UnaryCall
UPSTREAM=${UPSTREAM:-responder}

if [ "$UPSTREAM" = python ]; then
  for i in $(seq "${UPSTREAM_PROCS:-3}"); do start_grpc_server "upstream$i" python3 tests/grpc/server.py --port $UP --threads 16; done
else
  start_grpc_server upstream "$(dirname "$GATEHOUSE")/gatehouse_grpc_responder" $UP 32
fi

grpc_unary_load "$work/unary.bin"

contenders=()
# gatehouse: h2c by prior knowledge on the listener, h2c to the upstream.
cat > "$work/gatehouse.yaml" <<CONF
workers: 1
admin: { enabled: false }
listeners: [{ name: bench, listen: 127.0.0.1:${port[gatehouse]}, protocols: [h2, http1] }]
routes: [{ name: grpc, upstream: up }]
upstreams: [{ name: up, protocol: h2c, discovery: { static: [127.0.0.1:$UP] } }]
CONF
if check=$("$GATEHOUSE" check "$work/gatehouse.yaml" 2>&1); then
  taskset -c "$PROXY_CORE" "$GATEHOUSE" --config "$work/gatehouse.yaml" --log-level warn &
  pids+=($!)
  pid_gatehouse=$!
  contenders+=(gatehouse)
else
  echo "gatehouse: pending (its gRPC config does not pass gatehouse check yet: $check)"
fi

# nginx: grpc_pass over keep-alive upstream connections (one call per connection at a time:
# up to 500 in flight, so `keepalive 512`).
mkdir -p "$work/ng"
{ nginx_conf_head ng; cat <<CONF
  upstream up { server 127.0.0.1:$UP; keepalive 512; }
  server { listen 127.0.0.1:${port[nginx]} http2; client_max_body_size 0;
    location / { grpc_pass grpc://up; } }
}
CONF
} > "$work/ng/nginx.conf"
taskset -c "$PROXY_CORE" nginx -c "$work/ng/nginx.conf" -p "$work/ng" &
pids+=($!)
contenders+=(nginx)

# HAProxy: HTTP/2 on the bind and to the server (`proto h2`: streams multiplexed on its backend
# connections), one thread.
HAPROXY_BIND="proto h2" HAPROXY_SERVER="proto h2" start_haproxy_proxy "${port[haproxy]}" $UP
contenders+=(haproxy)

want=(${CONTENDERS:-${contenders[*]}})
contenders=($(for n in "${want[@]}"; do [[ " ${contenders[*]} " == *" $n "* ]] && echo "$n"; done))
# Each proxy passes the calls to a real gRPC client first (messages and grpc-status trailers:
# grpcio fails a call without them), before any load.
for n in "${contenders[@]}"; do
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/${port[$n]}") 2>/dev/null && break; sleep 0.1; done
  python3 tests/grpc/client.py --target "127.0.0.1:${port[$n]}" --load 200 --concurrency 20 --load-size 32 >/dev/null \
    || { echo "$n: gRPC calls fail through it" >&2; exit 1; }
done
pid_nginx=$(nginx_worker_pid)

export LOAD=h2load
for n in "${contenders[@]}"; do DURATION=2 h2load_run "${port[$n]}" "$METHOD" >/dev/null; done  # warm-up: pools
for round in $(seq "$ROUNDS"); do
  k=$(( (round - 1) % ${#contenders[@]} ))  # rotate the order each round
  for n in "${contenders[@]:k}" "${contenders[@]:0:k}"; do
    LABEL=grpc-unary measure "$n" "$(eval echo \$pid_$n)" "${port[$n]}" "$METHOD" "$round"
  done
done

echo
echo "summary: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); h2load -c$CONNECTIONS -m${H2LOAD_STREAMS:-10} gRPC unary, ${DURATION} s runs, $ROUNDS rounds (medians)"
if [ "$UPSTREAM" = python ]; then
  echo "the upstream (python3-grpcio x ${UPSTREAM_PROCS:-3}) bounds req/s: compare us/req, the proxy's CPU per call"
fi
echo "per-core > 1: the first proxy named does more calls per core-second than the other"
# The first contender (gatehouse, when it runs) over each of the others.
summarize "${contenders[@]}"
[[ " ${contenders[*]} " == *" gatehouse "* ]] || echo "gatehouse: pending"

