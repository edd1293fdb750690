#!/usr/bin/env bash
# Memory per idle keep-alive client connection: gatehouse vs nginx vs HAProxy, plain and TLS, in
# one run (issue #14 §3). Each proxy runs one worker; bench/idle_clients.py opens N connections
# (default 10,000), sends one request on each (so every buffer a request needs was allocated),
# reads the answer and leaves them idle. Printed: the proxy process's RSS growth per connection
# (KiB), measured against its RSS after the warm-up.
# HTTP/2 over TLS (issue 28), KINDS h2 and h2req: each connection negotiates h2 by ALPN, sends the
# preface and SETTINGS and acknowledges the server's (h2req: then one GET /small, answered), then
# nothing more.
#
#   bash bench/idle_connections.sh          # N=10000 (or what the fd hard limit allows)
#   N=2000 bash bench/idle_connections.sh
#   KINDS=h2 bash bench/idle_connections.sh # KINDS [plain tls h2]; also h2req
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
bench_setup
# Every contender needs N descriptors for its clients and the client as many again: capped by the
# hard limit (20000 on the bench machine: 9000 connections, since HAProxy wants 2 per maxconn).
hard=$(ulimit -Hn); [ "$hard" = unlimited ] && hard=1048576
N=${N:-$(( hard < 22400 ? (hard - 2000) / 2 : 10000 ))}
ulimit -n "$hard"
UP=19201; GH=19280; NG=19281; HA=19282; GHS=19283; NGS=19284; HAS=19285; GHH=19286; NGH=19287; HAH=19288
start_upstream $UP
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 \
  -subj /CN=bench 2>/dev/null
cat "$work/cert.pem" "$work/key.pem" > "$work/both.pem"
chmod 644 "$work/key.pem" "$work/cert.pem" "$work/both.pem"

mkdir -p "$work/ng"
{ cat <<CONF
daemon off; worker_processes 1; pid $work/ng/nginx.pid; error_log /dev/null; worker_rlimit_nofile $hard;
events { worker_connections $((N * 2 + 100)); }
http {
  access_log off; keepalive_requests 1000000; keepalive_timeout 300s;
  upstream up { server 127.0.0.1:$UP; keepalive 64; }
  server { listen 127.0.0.1:$NG; listen 127.0.0.1:$NGS ssl; listen 127.0.0.1:$NGH ssl http2; ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
CONF
} > "$work/ng/nginx.conf"
taskset -c "$PROXY_CORE" nginx -c "$work/ng/nginx.conf" -p "$work/ng" &
pids+=($!)

cat > "$work/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn $((N + 200))
defaults
  mode http
  timeout connect 5s
  timeout client 300s
  timeout server 60s
  timeout http-keep-alive 300s
  http-reuse always
frontend fe
  bind 127.0.0.1:$HA
  bind 127.0.0.1:$HAS ssl crt $work/both.pem
  bind 127.0.0.1:$HAH ssl crt $work/both.pem alpn h2
  default_backend be
backend be
  server s1 127.0.0.1:$UP
CONF
taskset -c "$PROXY_CORE" haproxy -f "$work/haproxy.cfg" &
pids+=($!)
pid_haproxy=$!

cat > "$work/gatehouse.yaml" <<CONF
workers: 1
admin: { enabled: false }
limits: { idle_timeout: 300s }
listeners:
  - { name: plain, listen: 127.0.0.1:$GH }
  - { name: tls, listen: 127.0.0.1:$GHS, tls: { certificates: [{ cert: $work/cert.pem, key: $work/key.pem }] } }
  - { name: h2, listen: 127.0.0.1:$GHH, protocols: [h2], tls: { certificates: [{ cert: $work/cert.pem, key: $work/key.pem }] } }
routes: [{ name: all, upstream: up }]
upstreams: [{ name: up, discovery: { static: [127.0.0.1:$UP] } }]
CONF
taskset -c "$PROXY_CORE" "$GATEHOUSE" --config "$work/gatehouse.yaml" --log-level warn &
pids+=($!)
pid_gatehouse=$!
wait_for_ports $UP $NG $HA $GH
pid_nginx=$(nginx_worker_pid)

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# idle NAME PID PORT KIND: RSS growth per idle connection, KiB
idle() {
  local name=$1 pid=$2 port=$3 kind=$4 flags=()
  case $kind in tls) flags=(--tls) ;; h2) flags=(--tls --h2) ;; h2req) flags=(--tls --h2-request) ;; esac
  python3 bench/idle_clients.py "$port" 50 "${flags[@]}" < <(sleep 2) > /dev/null  # warm-up: pools, TLS contexts, first allocations
  local before after fifo="$work/hold.$name.$kind"
  before=$(rss "$pid")
  mkfifo "$fifo"
  taskset -c "$LOAD_CORE" python3 bench/idle_clients.py "$port" "$N" "${flags[@]}" < "$fifo" > "$work/idle.out" &
  local client=$!
  exec 9> "$fifo"
  while ! grep -q '^idle' "$work/idle.out" 2>/dev/null; do sleep 0.2; kill -0 $client 2>/dev/null || { echo "client failed" >&2; exit 1; }; done
  sleep 1
  after=$(rss "$pid")
  exec 9>&-
  wait $client || true
  rm -f "$fifo"
  awk -v n="$name" -v t="$kind" -v b="$before" -v a="$after" -v N="$N" \
    'BEGIN { printf "%-10s %-6s RSS %7d -> %7d KiB   %6.2f KiB per idle connection\n", n, t, b, a, (a - b) / N }' | tee -a "$results"
}

# KINDS="tls" measures TLS alone: a proxy's TLS figure after the plain round may reuse heap the
# plain connections left behind, so each order is worth a look.
echo "$N idle keep-alive connections (plain, tls, h2req: one request each first; h2: none); load $(cut -d' ' -f1-3 /proc/loadavg)"
for kind in ${KINDS:-plain tls h2}; do
  case $kind in
    plain) idle gatehouse "$pid_gatehouse" $GH plain; idle nginx "$pid_nginx" $NG plain; idle haproxy "$pid_haproxy" $HA plain ;;
    tls) idle gatehouse "$pid_gatehouse" $GHS tls; idle nginx "$pid_nginx" $NGS tls; idle haproxy "$pid_haproxy" $HAS tls ;;
    h2 | h2req) idle gatehouse "$pid_gatehouse" $GHH "$kind"; idle nginx "$pid_nginx" $NGH "$kind"; idle haproxy "$pid_haproxy" $HAH "$kind" ;;
    *) echo "unknown kind $kind (plain, tls, h2, h2req)" >&2; exit 1 ;;
  esac
done
