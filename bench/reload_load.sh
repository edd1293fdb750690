#!/usr/bin/env bash
# Load test for hot reload and binary upgrade (loopback only, bounded in time):
#   1. baseline: wrk against gatehouse for DURATION seconds, no reloads;
#   2. the same while 100 reloads alternate between two valid configs, then 100 invalid ones;
#   3. the same while a second gatehouse takes the listening sockets over (binary upgrade).
# Prints failed requests (wrk socket errors + non-2xx) and p99 for each phase.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-20}
CONNECTIONS=${CONNECTIONS:-50}
GATEHOUSE=${GATEHOUSE:-build/gatehouse}
command -v wrk >/dev/null && command -v nginx >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >/dev/null; }
[ -x "$GATEHOUSE" ] || { .ci/install-deps && .ci/build build; }

work=$(mktemp -d /tmp/gatehouse-reload.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
UP=19201; GH=19280; ADMIN=19290
printf 'hello' > "$work/small"; chmod 644 "$work/small"
cat > "$work/up.conf" <<CONF
daemon off; worker_processes 1; pid $work/up.pid; error_log /dev/null;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$UP; root $work; location = /small { default_type text/plain; } } }
CONF
nginx -c "$work/up.conf" -p "$work" & pids+=($!)

write_config() { # variant: a | b | bad
  local extra=""
  [ "$1" = b ] && extra="  - { name: extra, match: { path: /extra }, respond: { status: 200, body: extra } }"
  local bad=""
  [ "$1" = bad ] && bad="bogus_key: 1"
  cat > "$work/gatehouse.yaml.tmp" <<CONF
workers: 1
reload: { watch: false }
admin: { listen: 127.0.0.1:$ADMIN }
listeners: [{ name: bench, listen: 127.0.0.1:$GH }]
$bad
routes:
  - { name: main, match: { path_prefix: / }, upstream: up }
$extra
upstreams: [{ name: up, discovery: { static: [127.0.0.1:$UP] } }]
CONF
  mv "$work/gatehouse.yaml.tmp" "$work/gatehouse.yaml"
}
write_config a
"$GATEHOUSE" --config "$work/gatehouse.yaml" --upgrade-socket "$work/upgrade.sock" --log-level warn 2>"$work/gh1.log" & pids+=($!)
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$GH/small" && curl -sf -o /dev/null "http://127.0.0.1:$UP/small" && break; sleep 0.1; done

load() { wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$GH/small"; }
summary() { # name wrk-output
  local reqs errs non2xx p99
  reqs=$(awk '/requests in/ {print $1}' <<<"$2")
  errs=$(awk '/Socket errors/ {gsub(",",""); print $4+$6+$8+$10}' <<<"$2"); errs=${errs:-0}
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$2"); non2xx=${non2xx:-0}
  p99=$(awk '$1=="99%" {print $2}' <<<"$2")
  printf '%-34s requests %9s  failed %5s  (socket errors %s, non-2xx %s)  p99 %s\n' "$1" "$reqs" "$((errs + non2xx))" "$errs" "$non2xx" "$p99"
}

base=$(load); summary "baseline (no reloads)" "$base"

(
  sleep 1
  ok=0; rejected=0
  for i in $(seq 100); do
    if ((i % 2)); then write_config b; else write_config a; fi
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$ADMIN/-/reload"); [ "$code" = 200 ] && ok=$((ok + 1))
    sleep 0.05
  done
  for i in $(seq 100); do
    write_config bad
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$ADMIN/-/reload"); [ "$code" = 400 ] && rejected=$((rejected + 1))
    sleep 0.02
  done
  write_config a
  echo "reloads: $ok/100 valid applied, $rejected/100 invalid rejected" > "$work/reloads.txt"
) &
during=$(load); wait $!
summary "during 200 reloads" "$during"
cat "$work/reloads.txt"

(
  sleep $((DURATION / 2))
  "$GATEHOUSE" --config "$work/gatehouse.yaml" --upgrade-socket "$work/upgrade.sock" --log-level warn 2>"$work/gh2.log" &
  echo $! > "$work/gh2.pid"
) &
upgrade=$(load); wait $!
pids+=("$(cat "$work/gh2.pid")")
summary "during a binary upgrade" "$upgrade"
if kill -0 "${pids[1]}" 2>/dev/null; then echo "old process still running?"; else echo "old process exited after handing over"; fi
