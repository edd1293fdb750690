#!/usr/bin/env bash
# gatehouse vs nginx vs HAProxy as reverse proxies, side by side in one run, on one upstream.
#
# Each proxy runs one worker pinned to core 0; wrk and the upstream (an nginx serving fixed
# bodies) share core 1. For each body size, three rounds interleave the contenders. Printed per
# run: req/s, p50, p99, and CPU microseconds per request of the proxy process (user+sys / requests,
# the stable figure on a noisy machine); then the ratios gatehouse/nginx and gatehouse/HAProxy.
# Loopback only; bounded: DURATION seconds per run.
#
#   bash bench/proxy.sh                 # defaults: 10 s runs, 50 connections, 3 rounds
#   DURATION=5 ROUNDS=1 bash bench/proxy.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-50}
ROUNDS=${ROUNDS:-3}
GATEHOUSE=${GATEHOUSE:-build/gatehouse}
PROXY_CORE=${PROXY_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}

need=()
for p in wrk nginx haproxy; do command -v "$p" >/dev/null || need+=("$p"); done
if ((${#need[@]})); then
  pkgs=(); for p in "${need[@]}"; do [ "$p" = nginx ] && pkgs+=(nginx-light) || pkgs+=("$p"); done
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
[ -x "$GATEHOUSE" ] || { .ci/install-deps && .ci/build build; }

work=$(mktemp -d /tmp/gatehouse-bench.XXXXXX)
chmod 755 "$work"  # nginx workers (www-data) read the bodies from here
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

UP=19001; GH=19080; NG=19081; HA=19082
head -c 16384 /dev/zero | tr '\0' 'x' > "$work/16k"
printf 'hello' > "$work/small"
chmod 644 "$work/16k" "$work/small"

# --- upstream: nginx serving the two bodies, keep-alive, on the load core -------------------
mkdir -p "$work/up"
cat > "$work/up/nginx.conf" <<CONF
daemon off; worker_processes 1; pid $work/up/nginx.pid; error_log /dev/null;
events { worker_connections 4096; }
http {
  access_log off; keepalive_requests 1000000; keepalive_timeout 300s;
  server { listen 127.0.0.1:$UP reuseport; root $work;
    location = /small { default_type text/plain; }
    location = /16k   { default_type application/octet-stream; } }
}
CONF
taskset -c "$LOAD_CORE" nginx -c "$work/up/nginx.conf" -p "$work/up" &
pids+=($!)

# --- the proxies -----------------------------------------------------------------------------
mkdir -p "$work/ng"
cat > "$work/ng/nginx.conf" <<CONF
daemon off; worker_processes 1; pid $work/ng/nginx.pid; error_log /dev/null;
events { worker_connections 4096; }
http {
  access_log off; keepalive_requests 1000000; keepalive_timeout 300s;
  upstream up { server 127.0.0.1:$UP; keepalive 64; }
  server { listen 127.0.0.1:$NG;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
CONF
taskset -c "$PROXY_CORE" nginx -c "$work/ng/nginx.conf" -p "$work/ng" &
pids+=($!)

cat > "$work/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend fe
  bind 127.0.0.1:$HA
  default_backend be
backend be
  server s1 127.0.0.1:$UP
CONF
taskset -c "$PROXY_CORE" haproxy -f "$work/haproxy.cfg" -q &
pids+=($!)

cat > "$work/gatehouse.yaml" <<CONF
workers: 1
admin: { listen: 127.0.0.1:0 }
listeners: [{ name: bench, listen: 127.0.0.1:$GH }]
routes: [{ name: all, upstream: up }]
upstreams: [{ name: up, discovery: { static: [127.0.0.1:$UP] } }]
CONF
taskset -c "$PROXY_CORE" "$GATEHOUSE" --config "$work/gatehouse.yaml" --log-level warn &
pids+=($!)

for port in $UP $NG $HA $GH; do
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/small" && break; sleep 0.1; done
done

pid_of() { # the process listening on a port (the worker, for nginx)
  local port=$1
  case $port in
    $GH) pgrep -f "gatehouse --config $work" | head -1 ;;
    $NG) pgrep -f "nginx: worker process" -P "$(cat "$work/ng/nginx.pid")" | head -1 ;;
    $HA) pgrep -f "haproxy -f $work" | head -1 ;;
  esac
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

results="$work/results.tsv"
: > "$results"
run() { # name port path round
  local name=$1 port=$2 path=$3 round=$4 pid t0 t1 out
  pid=$(pid_of "$port")
  t0=$(cpu_ticks "$pid")
  out=$(taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$port$path")
  t1=$(cpu_ticks "$pid")
  local rps p50 p99 reqs errs
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errs=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
  [ -z "$errs" ] || echo "WARNING: $name: $errs" >&2
  local us; us=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$reqs" 'BEGIN { printf "%.1f", d / hz * 1e6 / n }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$path" "$round" "$name" "$rps" "$p50" "$p99" "$us" "$errs" >> "$results"
  printf '%-6s round %s  %-9s %10s req/s  p50 %-8s p99 %-8s %6s us/req %s\n' "$path" "$round" "$name" "$rps" "$p50" "$p99" "$us" "$errs"
}

# warm-up
for port in $GH $NG $HA; do taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$port/small" >/dev/null; done

for path in /small /16k; do
  for round in $(seq "$ROUNDS"); do
    run gatehouse $GH $path "$round"
    run nginx $NG $path "$round"
    run haproxy $HA $path "$round"
  done
done

echo
echo "summary (medians over rounds; ratio = gatehouse / peer, req/s higher is better, us/req lower is better)"
python3 - "$results" <<'PY'
import sys, statistics, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
def ms(v):
    v = v.strip()
    for suf, f in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if v.endswith(suf):
            return float(v[: -len(suf)]) * f
    return float(v)
by = collections.defaultdict(lambda: collections.defaultdict(list))
for path, rnd, name, rps, p50, p99, us, errs in rows:
    by[path][name].append((float(rps), ms(p50), ms(p99), float(us)))
print(f"{'body':7}{'proxy':10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'us/req':>8}")
for path, names in by.items():
    med = {n: [statistics.median(x[i] for x in v) for i in range(4)] for n, v in names.items()}
    for n, (rps, p50, p99, us) in med.items():
        print(f"{path:7}{n:10}{rps:10.0f}{p50:9.3f}{p99:9.3f}{us:8.1f}")
    g = med["gatehouse"]
    for peer in ("nginx", "haproxy"):
        p = med[peer]
        print(f"{path:7}gatehouse/{peer}: req/s x{g[0]/p[0]:.2f}  p99 x{g[2]/p[2]:.2f}  cpu/req x{g[3]/p[3]:.2f}")
PY
