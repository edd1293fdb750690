#!/usr/bin/env bash
# Soak (issue #14 §3): SOAK_SECONDS (default 600) of mixed traffic through one gatehouse (2
# workers): keep-alive (wrk), a new connection per request (ab), TLS keep-alive (wrk over
# https), errors (a dead upstream: 502; refused requests: 400; unrouted: 404) and a reload every
# 10 s (SIGHUP). RSS, open fds and the allocator's figures (gatehouse_memory_allocated_bytes and
# gatehouse_memory_heap_bytes from /metrics) are sampled every 10 s. Printed: each after the
# warm-up (the first fifth) and its drift after that (max and last vs warm-up), and fds before,
# during and after (once idle client and pooled connections had their 5 s idle timeouts).
# Allocated bytes flat while RSS grows: the allocator holds freed memory (fragmentation), not a leak.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
bench_setup
SOAK_SECONDS=${SOAK_SECONDS:-600}
UP=19301; GH=19380; GHS=19381; ADMIN=19382; DEAD=19399
start_upstream $UP
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 \
  -subj /CN=bench 2>/dev/null
chmod 644 "$work/key.pem" "$work/cert.pem"
cat > "$work/soak.yaml" <<CONF
workers: 2
admin: { listen: 127.0.0.1:$ADMIN }
reload: { watch: false }
limits: { idle_timeout: 5s }
listeners:
  - { name: plain, listen: 127.0.0.1:$GH }
  - { name: tls, listen: 127.0.0.1:$GHS, tls: { certificates: [{ cert: $work/cert.pem, key: $work/key.pem }] } }
routes:
  - { name: dead, match: { path_prefix: /dead }, upstream: dead }
  - { name: app, match: { path_prefix: / }, upstream: up }
upstreams:
  - { name: up, discovery: { static: [127.0.0.1:$UP] }, pool: { idle_timeout: 5s } }
  - { name: dead, discovery: { static: [127.0.0.1:$DEAD] } }
CONF
"$GATEHOUSE" --config "$work/soak.yaml" --log-level error &
pids+=($!)
gh=$!
wait_for_ports $UP $GH
sleep 1
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$gh/status"; }
fds() { ls "/proc/$gh/fd" | wc -l; }
heap() {  # allocated and heap KiB from the admin listener
  curl -s "http://127.0.0.1:$ADMIN/metrics" | awk '/^gatehouse_memory_allocated_bytes / {a = $2} /^gatehouse_memory_heap_bytes / {h = $2}
    END {printf "%d\t%d", a / 1024, h / 1024}'
}
fds_before=$(fds)

end=$((SECONDS + SOAK_SECONDS))
load() {  # one kind of traffic, over and over until the end
  while ((SECONDS < end)); do "$@" >/dev/null 2>&1 || true; done
}
load wrk -t1 -c20 -d10s "http://127.0.0.1:$GH/small" & pids+=($!)
load wrk -t1 -c10 -d10s "https://127.0.0.1:$GHS/16k" & pids+=($!)
load ab -q -n 2000 -c 8 "http://127.0.0.1:$GH/small" & pids+=($!)
load bash -c "for i in \$(seq 50); do curl -s -o /dev/null http://127.0.0.1:$GH/dead/x; curl -s -o /dev/null 'http://127.0.0.1:$GH/%00'; curl -sk -o /dev/null https://127.0.0.1:$GHS/dead; done" & pids+=($!)

samples="$work/samples.tsv"
: > "$samples"
while ((SECONDS < end)); do
  sleep 10
  kill -HUP "$gh"
  printf '%s\t%s\t%s\t%s\n' "$((SOAK_SECONDS - (end - SECONDS)))" "$(rss)" "$(fds)" "$(heap)" | tee -a "$samples"
done
wait_load_end=$((SECONDS + 15))
while pgrep -f "wrk -t1 -c.*:$GH|wrk -t1 -c.*:$GHS|ab -q -n 2000" >/dev/null && ((SECONDS < wait_load_end)); do sleep 1; done
# Idle client and pooled upstream connections close after their idle timeouts (5 s here).
settle_end=$((SECONDS + 20))
while (($(fds) > fds_before)) && ((SECONDS < settle_end)); do sleep 1; done
fds_after=$(fds)
python3 - "$samples" "$fds_before" "$fds_after" <<'PY'
import sys
rows = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
warm = max(1, len(rows) // 5)
print(f"samples {len(rows)}; warm-up until {rows[warm-1][0]} s")
for col, what in ((1, "RSS"), (3, "allocated"), (4, "heap")):
    base = rows[warm - 1][col]
    after = [r[col] for r in rows[warm:]] or [base]
    print(f"{what:10} after warm-up {base:8} KiB; drift after: max {100 * (max(after) - base) / base:+.1f} %, last {100 * (after[-1] - base) / base:+.1f} %")
print(f"fds: before {sys.argv[2]}, during max {max(r[2] for r in rows)}, after {sys.argv[3]}")
PY
