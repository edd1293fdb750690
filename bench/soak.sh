#!/usr/bin/env bash
# Soak (issue #14 §3), gatehouse, nginx and HAProxy side by side in one run: SOAK_SECONDS
# (default 600) of the same mixed traffic through each (2 workers each): keep-alive (wrk), a new
# connection per request (ab), TLS keep-alive (wrk over https), errors (a dead upstream: 502; a
# refused request; over TLS too) and a reload every 10 s (gatehouse: SIGHUP; nginx: SIGHUP to the
# master, new workers; HAProxy: master-worker mode, SIGUSR2, a new worker). Memory is the PSS
# summed over each proxy's processes (a reload's old workers included while they finish; PSS
# splits pages shared between a master and its workers instead of counting them twice) and the
# anonymous part of it, sampled every 10 s with the open fds; for gatehouse also the allocator's figures from /metrics
# (gatehouse_memory_allocated_bytes, gatehouse_memory_heap_bytes: allocated bytes flat while
# memory grows means the allocator holds freed memory, not a leak). Printed per proxy: each after
# the warm-up (the first fifth) and its drift after that (max and last vs warm-up), and fds
# before, at most during, and after (once idle client and pooled connections had their 5 s
# idle timeouts).
#
#   bash bench/soak.sh                                  # all three, 10 minutes
#   SOAK_SECONDS=120 PROXIES=gatehouse bash bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
bench_setup
SOAK_SECONDS=${SOAK_SECONDS:-600}
PROXIES=${PROXIES:-gatehouse nginx haproxy}
UP=19301; DEAD=19399
declare -A port=([gatehouse]=19380 [nginx]=19383 [haproxy]=19385) tls_port=([gatehouse]=19381 [nginx]=19384 [haproxy]=19386)
ADMIN=19382
declare -A root
start_upstream $UP
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 \
  -subj /CN=bench 2>/dev/null
cat "$work/cert.pem" "$work/key.pem" > "$work/both.pem"
chmod 644 "$work/key.pem" "$work/cert.pem" "$work/both.pem"

start_gatehouse_soak() {
  cat > "$work/soak.yaml" <<CONF
workers: 2
admin: { listen: 127.0.0.1:$ADMIN }
reload: { watch: false }
limits: { idle_timeout: 5s }
listeners:
  - { name: plain, listen: 127.0.0.1:${port[gatehouse]} }
  - { name: tls, listen: 127.0.0.1:${tls_port[gatehouse]}, tls: { certificates: [{ cert: $work/cert.pem, key: $work/key.pem }] } }
routes:
  - { name: dead, match: { path_prefix: /dead }, upstream: dead }
  - { name: app, match: { path_prefix: / }, upstream: up }
upstreams:
  - { name: up, discovery: { static: [127.0.0.1:$UP] }, pool: { idle_timeout: 5s } }
  - { name: dead, discovery: { static: [127.0.0.1:$DEAD] } }
CONF
  "$GATEHOUSE" --config "$work/soak.yaml" --log-level error &
  pids+=($!); root[gatehouse]=$!
}

start_nginx_soak() {
  mkdir -p "$work/ngsoak"
  cat > "$work/ngsoak/nginx.conf" <<CONF
daemon off; worker_processes 2; pid $work/ngsoak/nginx.pid; error_log /dev/null;
events { worker_connections 4096; }
http {
  access_log off; keepalive_timeout 5s;
  upstream up { server 127.0.0.1:$UP; keepalive 32; keepalive_timeout 5s; }
  upstream dead { server 127.0.0.1:$DEAD; }
  server {
    listen 127.0.0.1:${port[nginx]}; listen 127.0.0.1:${tls_port[nginx]} ssl;
    ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem;
    location /dead { proxy_pass http://dead; }
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
CONF
  nginx -c "$work/ngsoak/nginx.conf" -p "$work/ngsoak" &
  pids+=($!); root[nginx]=$!
}

start_haproxy_soak() {
  cat > "$work/soak.cfg" <<CONF
global
  nbthread 2
  maxconn 8192
  hard-stop-after 30s
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 5s
  http-reuse always
frontend fe
  bind 127.0.0.1:${port[haproxy]}
  bind 127.0.0.1:${tls_port[haproxy]} ssl crt $work/both.pem
  use_backend dead if { path_beg /dead }
  default_backend up
backend up
  timeout server-fin 5s
  server s1 127.0.0.1:$UP pool-purge-delay 5s
backend dead
  server s1 127.0.0.1:$DEAD
CONF
  haproxy -W -f "$work/soak.cfg" -q &
  pids+=($!); root[haproxy]=$!
}

reload() {
  case $1 in
    gatehouse | nginx) kill -HUP "${root[$1]}" ;;
    haproxy) kill -USR2 "${root[$1]}" ;;
  esac
}
tree() { echo "$1"; pgrep -P "$1" || true; }  # the process and its children (workers)
# mem PROXY FIELD: a smaps_rollup field (KiB) summed over the proxy's processes. Pss: all its
# memory; Anonymous: what it allocated (heap, stacks), without the pages of its binary and
# libraries that are read in as code paths first run.
mem() { local t=0 p k; for p in $(tree "${root[$1]}"); do k=$(awk -v f="$2:" '$1 == f {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0); t=$((t + ${k:-0})); done; echo $t; }
fds() { local t=0 p; for p in $(tree "${root[$1]}"); do t=$((t + $(ls "/proc/$p/fd" 2>/dev/null | wc -l))); done; echo $t; }
heap() {  # gatehouse: allocated and heap KiB from the admin listener
  curl -s "http://127.0.0.1:$ADMIN/metrics" | awk '/^gatehouse_memory_allocated_bytes / {a = $2} /^gatehouse_memory_heap_bytes / {h = $2}
    END {printf "%d\t%d", a / 1024, h / 1024}'
}

for p in $PROXIES; do "start_${p}_soak"; done
for p in $PROXIES; do wait_for_ports $UP "${port[$p]}"; done
sleep 1
declare -A fds_before fds_after
for p in $PROXIES; do fds_before[$p]=$(fds "$p"); done

end=$((SECONDS + SOAK_SECONDS))
load() {  # one kind of traffic, over and over until the end
  while ((SECONDS < end)); do "$@" >/dev/null 2>&1 || true; done
}
for p in $PROXIES; do
  P=${port[$p]}; S=${tls_port[$p]}
  load wrk -t1 -c20 -d10s "http://127.0.0.1:$P/small" & pids+=($!)
  load wrk -t1 -c10 -d10s "https://127.0.0.1:$S/16k" & pids+=($!)
  load ab -q -n 2000 -c 8 "http://127.0.0.1:$P/small" & pids+=($!)
  load bash -c "for i in \$(seq 50); do curl -s -o /dev/null http://127.0.0.1:$P/dead/x; curl -s -o /dev/null 'http://127.0.0.1:$P/%00'; curl -sk -o /dev/null https://127.0.0.1:$S/dead; done" & pids+=($!)
done

while ((SECONDS < end)); do
  sleep 10
  t=$((SOAK_SECONDS - (end - SECONDS)))
  for p in $PROXIES; do  # sampled before the reload: the last reload's old workers had 10 s to finish
    extra=""; [ "$p" = gatehouse ] && extra=$'\t'"$(heap)"
    printf '%s\t%s\t%s\t%s%s\n' "$t" "$(mem "$p" Pss)" "$(fds "$p")" "$(mem "$p" Anonymous)" "$extra" >> "$work/samples.$p.tsv"
    reload "$p"
  done
  echo "$t s: $(for p in $PROXIES; do printf '%s %s KiB  ' "$p" "$(tail -1 "$work/samples.$p.tsv" | cut -f2)"; done)"
done
wait_load_end=$((SECONDS + 20))
while pgrep -f "wrk -t1 -c.*127.0.0.1:1938|ab -q -n 2000" >/dev/null && ((SECONDS < wait_load_end)); do sleep 1; done
# Idle client and pooled upstream connections close after their idle timeouts (5 s here); a
# reload's old workers exit once their connections have.
settle_end=$((SECONDS + 40))
for p in $PROXIES; do
  while (($(fds "$p") > ${fds_before[$p]})) && ((SECONDS < settle_end)); do sleep 1; done
  fds_after[$p]=$(fds "$p")
done
for p in $PROXIES; do
  python3 - "$p" "$work/samples.$p.tsv" "${fds_before[$p]}" "${fds_after[$p]}" <<'PY'
import sys
name, path, before, after = sys.argv[1:]
rows = [tuple(map(int, l.split())) for l in open(path) if l.strip()]
warm = max(1, len(rows) // 5)
print(f"{name}: samples {len(rows)}; warm-up until {rows[warm-1][0]} s")
cols = ((1, "PSS"), (3, "anonymous"), (4, "allocated"), (5, "heap")) if len(rows[0]) > 4 else ((1, "PSS"), (3, "anonymous"))
for col, what in cols:
    base = rows[warm - 1][col]
    after_w = [r[col] for r in rows[warm:]] or [base]
    print(f"  {what:10} after warm-up {base:8} KiB; drift after: max {100 * (max(after_w) - base) / base:+.1f} %, last {100 * (after_w[-1] - base) / base:+.1f} %")
print(f"  fds: before {before}, during max {max(r[2] for r in rows)}, after {after}")
PY
done
