#!/usr/bin/env bash
# HTTPS: gatehouse vs nginx terminating TLS with the same certificate (ECDSA P-256), the same
# protocols and ciphers, one worker each on core 0, proxying to the same plain upstream.
# Keep-alive HTTPS req/s; new connections per second with wrk (Connection: close, a new TLS
# handshake per request, which wrk resumes from its last session ticket, as browsers do); and
# new connections with a full handshake each (bench/tls_handshake_load.cpp; that client costs
# more CPU than either server, so its req/s are alike and the per-core CPU ratio is the figure).
# Ratios printed as in proxy.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
bench_setup
UP=19501; GH=19543; NG=19544
start_upstream $UP
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 \
  -subj /CN=bench.local -addext subjectAltName=DNS:bench.local 2>/dev/null
chmod 644 "$work/key.pem" "$work/cert.pem"
CIPHERS="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

start_nginx_proxy $NG $UP ssl "ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers $CIPHERS; ssl_prefer_server_ciphers on; ssl_session_tickets on;"
cat > "$work/gh.yaml" <<CONF
workers: 1
admin: { enabled: false }
listeners: [{ name: bench, listen: 127.0.0.1:$GH, tls: { certificates: [{ cert: $work/cert.pem, key: $work/key.pem }], ciphers: "$CIPHERS" } }]
routes: [{ name: all, upstream: up }]
upstreams: [{ name: up, discovery: { static: [127.0.0.1:$UP] } }]
CONF
taskset -c "$PROXY_CORE" "$GATEHOUSE" --config "$work/gh.yaml" --log-level warn &
pids+=($!)
pid_gatehouse=$!
for port in $GH $NG; do
  for _ in $(seq 100); do curl -skf -o /dev/null "https://127.0.0.1:$port/small" && break; sleep 0.1; done
done
pid_nginx=$(nginx_worker_pid)

for port in $GH $NG; do taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNECTIONS" -d2s "https://127.0.0.1:$port/small" >/dev/null; done
export SCHEME=https
for round in $(seq "$ROUNDS"); do
  LABEL=keepalive WRK_HEADER="" measure gatehouse "$pid_gatehouse" $GH /small "$round"
  LABEL=keepalive WRK_HEADER="" measure nginx "$pid_nginx" $NG /small "$round"
  LABEL=keepalive-16k WRK_HEADER="" measure gatehouse "$pid_gatehouse" $GH /16k "$round"
  LABEL=keepalive-16k WRK_HEADER="" measure nginx "$pid_nginx" $NG /16k "$round"
  LABEL=resumed-hs WRK_HEADER="Connection: close" measure gatehouse "$pid_gatehouse" $GH /small "$round"
  LABEL=resumed-hs WRK_HEADER="Connection: close" measure nginx "$pid_nginx" $NG /small "$round"
  LABEL=full-hs LOAD=full_handshakes measure gatehouse "$pid_gatehouse" $GH /small "$round"
  LABEL=full-hs LOAD=full_handshakes measure nginx "$pid_nginx" $NG /small "$round"
done
echo
summarize gatehouse nginx
