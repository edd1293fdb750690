# Shared by the bench scripts: installs the tools, starts the upstream (an nginx serving fixed
# bodies), runs wrk against a port and measures the proxy process's CPU per request.
# Each setting below can be overridden from the environment.

DURATION=${DURATION:-10} CONNECTIONS=${CONNECTIONS:-50} ROUNDS=${ROUNDS:-3}
GATEHOUSE=${GATEHOUSE:-build/gatehouse} PROXY_CORE=${PROXY_CORE:-0} LOAD_CORE=${LOAD_CORE:-1}

bench_setup() {
  local need=()
  for p in wrk nginx haproxy; do command -v "$p" >/dev/null || need+=("$p"); done
  if ((${#need[@]})); then
    local pkgs=(); for p in "${need[@]}"; do [ "$p" = nginx ] && pkgs+=(nginx-light) || pkgs+=("$p"); done
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
  fi
  [ -x "$GATEHOUSE" ] && [ -x "$(dirname "$GATEHOUSE")/gatehouse_tls_load" ] && [ -x "$(dirname "$GATEHOUSE")/gatehouse_ws_echo" ] || { .ci/install-deps && .ci/build build; }
  work=$(mktemp -d /tmp/gatehouse-bench.XXXXXX)
  chmod 755 "$work"  # nginx workers (www-data) read the bodies from here
  pids=()
  trap bench_cleanup EXIT
  results="$work/results.tsv"
  : > "$results"
  hz=$(getconf CLK_TCK)
}

bench_cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }

# The start of an nginx.conf in $work/DIR: one worker, long keep-alive, no logs; "http {" left open.
nginx_conf_head() {
  cat <<CONF
daemon off; worker_processes 1; pid $work/$1/nginx.pid; error_log /dev/null;
events { worker_connections 4096; }
http {
  access_log off; keepalive_requests 1000000; keepalive_timeout 300s;
CONF
}

# start_upstream PORT: /small (5 bytes), /16k, and /a.json, /b.json, /c.json (small JSON
# documents, the calls of bench/compose.sh)
start_upstream() {
  local port=$1
  head -c 16384 /dev/zero | tr '\0' 'x' > "$work/16k"
  printf 'hello' > "$work/small"
  for doc in a b c; do printf '{"%s":{"id":42,"name":"doc %s","tags":["x","y"]}}' "$doc" "$doc" > "$work/$doc.json"; done
  chmod 644 "$work/16k" "$work/small" "$work"/*.json
  mkdir -p "$work/up"
  { nginx_conf_head up; cat <<CONF
  server { listen 127.0.0.1:$port reuseport; root $work;
    location = /small { default_type text/plain; }
    location = /16k   { default_type application/octet-stream; }
    location ~ ^/[abc]\.json$ { default_type application/json; }
    location = /post  { return 200 "ok\n"; } }
}
CONF
  } > "$work/up/nginx.conf"
  taskset -c "$LOAD_CORE" nginx -c "$work/up/nginx.conf" -p "$work/up" &
  pids+=($!)
}

# start_gatehouse NAME PORT UPSTREAM_PORT [extra YAML]: one worker on the proxy core
# (the binary is $GATEHOUSE, or $BIN for this call, e.g. an older build to compare against;
# ROUTE_EXTRA: more keys for the one route, e.g. ", websocket: true"; ROUTES_BEFORE: routes
# (block-style list items, each line indented two spaces) matched before it). Start it with its final
# config: a background job killed before its exec runs the EXIT trap (bench_cleanup) in the
# forked shell and takes the other processes of the benchmark with it.
start_gatehouse() {
  local name=$1 port=$2 up=$3 extra=${4:-}
  cat > "$work/$name.yaml" <<CONF
workers: 1
admin: { enabled: false }
listeners: [{ name: bench, listen: 127.0.0.1:$port }]
routes:
${ROUTES_BEFORE:-}  - { name: all, upstream: up${ROUTE_EXTRA:-} }
upstreams: [{ name: up, discovery: { static: [127.0.0.1:$up] } }]
$extra
CONF
  taskset -c "$PROXY_CORE" "${BIN:-$GATEHOUSE}" --config "$work/$name.yaml" --log-level warn &
  pids+=($!)
  eval "pid_$name=\$!"
}

# start_nginx_proxy PORT UPSTREAM_PORT [LISTEN_EXTRA [SERVER_EXTRA]]: nginx as a keep-alive reverse
# proxy, one worker on the proxy core; sets pid_nginx (its worker) once wait_for_nginx has run.
start_nginx_proxy() {
  local port=$1 up=$2 listen_extra=${3:-} server_extra=${4:-}
  mkdir -p "$work/ng"
  { nginx_conf_head ng; cat <<CONF
  upstream up { server 127.0.0.1:$up; keepalive 64; }
  server { listen 127.0.0.1:$port $listen_extra; $server_extra
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
CONF
  } > "$work/ng/nginx.conf"
  taskset -c "$PROXY_CORE" nginx -c "$work/ng/nginx.conf" -p "$work/ng" &
  pids+=($!)
}
# start_haproxy_proxy PORT UPSTREAM_PORT [DEFAULTS_EXTRA]: HAProxy as a keep-alive reverse proxy,
# one thread on the proxy core; sets pid_haproxy. DEFAULTS_EXTRA: more lines for "defaults".
# HAPROXY_BIND, HAPROXY_SERVER: more words for the bind and the server line (e.g. "proto h2").
start_haproxy_proxy() {
  local port=$1 up=$2 extra=${3:-}
  cat > "$work/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 8192
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
$extra
frontend fe
  bind 127.0.0.1:$port ${HAPROXY_BIND:-}
  default_backend be
backend be
  server s1 127.0.0.1:$up ${HAPROXY_SERVER:-}
CONF
  taskset -c "$PROXY_CORE" haproxy -f "$work/haproxy.cfg" -q &
  pids+=($!)
  pid_haproxy=$!
}
nginx_worker_pid() { pgrep -f "nginx: worker process" -P "$(cat "$work/ng/nginx.pid")" | head -1; }

wait_for_ports() {
  for port in "$@"; do
    for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/small" && break; sleep 0.1; done
  done
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# start_policy_service PORT: the ext_authz policy service of bench/ext_authz.sh and EXT_AUTHZ=1
# callgrind.sh, an nginx on the load core answering GET /authorize with 204, X-User and
# Cache-Control: max-age=60 (after the first call every request is a cache hit); waits for it.
start_policy_service() {
  local port=$1
  mkdir -p "$work/policy"
  { nginx_conf_head policy; cat <<CONF
  server { listen 127.0.0.1:$port reuseport;
    location = /authorize { add_header Cache-Control "max-age=60" always; add_header X-User bench always; return 204; } }
}
CONF
  } > "$work/policy/nginx.conf"
  taskset -c "$LOAD_CORE" nginx -c "$work/policy/nginx.conf" -p "$work/policy" &
  pids+=($!)
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/authorize" && return; sleep 0.1; done
  { echo "the policy service did not start"; exit 1; } >&2
}

# start_grpc_server NAME COMMAND...: a gRPC upstream (bench/grpc_responder.cpp, the tests'
# grpcio server) on the load core; waits for its READY line.
start_grpc_server() {
  local name=$1; shift
  taskset -c "$LOAD_CORE" "$@" > "$work/$name.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do grep -q '^READY' "$work/$name.out" && return; sleep 0.1; done
  { echo "$name did not start:"; cat "$work/$name.out"; exit 1; } >&2
}

# grpc_unary_load FILE: writes one gRPC request message to FILE (uncompressed flag, big-endian
# length, a grpc.testing.SimpleRequest with a 32-byte payload asking for 32 bytes back) and sets
# H2LOAD_EXTRA so that h2load sends it as a gRPC unary call (bench/grpc.sh, GRPC=1 callgrind.sh).
grpc_unary_load() {
  python3 - "$1" <<'PY'
import struct, sys
sys.path.insert(0, "tests/grpc")
import stubs
pb = stubs.load().test_pb2
msg = pb.SimpleRequest(response_size=32, payload=pb.Payload(body=b"\0" * 32)).SerializeToString()
open(sys.argv[1], "wb").write(b"\0" + struct.pack(">I", len(msg)) + msg)
PY
  export H2LOAD_EXTRA="-d $1 -H content-type:application/grpc -H te:trailers"
}

# h2load_run PORT PATH: one h2load run (nghttp2-client) on the load core, its output rewritten in
# the lines measure reads from wrk: h2load prints no percentiles, so p50 and p99 come from its
# per-request log (elapsed µs, third column). H2LOAD_STREAMS [10]: streams per connection (-m).
# H2LOAD_EXTRA: more h2load arguments, split at spaces (gRPC: -d BODY -H content-type:application/grpc).
h2load_run() {
  local port=$1 path=$2 log="$work/h2load.log" out
  # shellcheck disable=SC2086  # H2LOAD_EXTRA is a list of words
  out=$(taskset -c "$LOAD_CORE" h2load -t1 -c"$CONNECTIONS" -m"${H2LOAD_STREAMS:-10}" -D"$DURATION" --log-file="$log" ${H2LOAD_EXTRA:-} \
    "${SCHEME:-http}://127.0.0.1:$port$path")
  grep -Eq '^Application protocol: h2c?$' <<<"$out" || echo "h2load: not HTTP/2: $(grep -m1 -i 'protocol' <<<"$out")" >&2
  awk '/^finished in/ {gsub(",", "", $4); print "Requests/sec:", $4}
       /^requests:/ {print $8, "requests in"; if ($10 + $12 + $14 > 0) print "Socket errors: failed", $10, "errored", $12, "timeout", $14}
       /^status codes:/ {if ($5 + $7 + $9 > 0) print "Non-2xx or 3xx responses:", $5 + $7 + $9}' <<<"$out"
  cut -f3 "$log" | sort -n | awk '{ v[NR] = $1 } END {
    if (NR) { printf "50%% %.3fms\n99%% %.3fms\n", v[int(NR * 0.50) + (NR * 0.50 > int(NR * 0.50))] / 1000, v[int(NR * 0.99) + (NR * 0.99 > int(NR * 0.99))] / 1000 } }'
  rm -f "$log"
}

# measure NAME PID PORT PATH ROUND: one wrk run; appends a row to $results and prints it.
# Optional: WRK_HEADER (one request header), SCHEME (https), LABEL (summary group instead of PATH),
# LOAD=full_handshakes (HTTPS with a full TLS handshake per request, bench/tls_handshake_load.cpp,
# instead of wrk, which resumes sessions), LOAD=websocket (WebSocket echo round trips,
# bench/ws_echo.cpp; WS_PAYLOAD bytes per message), LOAD=h2load (HTTP/2, h2load_run above).
measure() {
  local name=$1 pid=$2 port=$3 path=$4 round=$5 t0 t1 out
  local extra=()
  [ -z "${WRK_HEADER:-}" ] || extra=(-H "$WRK_HEADER")  # e.g. an Authorization header
  [ -z "${WRK_SCRIPT:-}" ] || extra+=(-s "$WRK_SCRIPT")  # a wrk Lua script (a method and a body)
  t0=$(cpu_ticks "$pid")
  if [ "${LOAD:-wrk}" = full_handshakes ]; then
    out=$(taskset -c "$LOAD_CORE" "$(dirname "$GATEHOUSE")/gatehouse_tls_load" 127.0.0.1 "$port" "$path" "$CONNECTIONS" "$DURATION")
  elif [ "${LOAD:-wrk}" = websocket ]; then  # a "request" is one message echoed (bench/ws_echo.cpp)
    out=$(taskset -c "$LOAD_CORE" "$(dirname "$GATEHOUSE")/gatehouse_ws_echo" client 127.0.0.1 "$port" "$path" "$CONNECTIONS" "$DURATION" "${WS_PAYLOAD:-64}")
  elif [ "${LOAD:-wrk}" = h2load ]; then  # HTTP/2 (h2c by prior knowledge, or TLS with ALPN h2)
    out=$(h2load_run "$port" "$path")
  else
    out=$(taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "${extra[@]}" "${SCHEME:-http}://127.0.0.1:$port$path")
  fi
  path=${LABEL:-$path}  # the row's group in the summary
  t1=$(cpu_ticks "$pid")
  local rps reqs p50 p99 errs us
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errs=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
  [ -z "$errs" ] || echo "WARNING: $name: $errs" >&2
  us=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$reqs" 'BEGIN { printf "%.1f", d / hz * 1e6 / n }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$path" "$round" "$name" "$rps" "$p50" "$p99" "$us" "$errs" >> "$results"
  printf '%-6s round %s  %-12s %10s req/s  p50 %-8s p99 %-8s %6s us/req %s\n' "$path" "$round" "$name" "$rps" "$p50" "$p99" "$us" "$errs"
}

# summarize BASELINE PEER...: medians per body and ratios PEER/BASELINE... printed as baseline/peer
summarize() {
  python3 - "$results" "$@" <<'PY'
import sys, statistics, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
subject, peers = sys.argv[2], sys.argv[3:]
def ms(v):
    for suf, f in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if v.endswith(suf):
            return float(v[: -len(suf)]) * f
    return float(v)
by = collections.defaultdict(lambda: collections.defaultdict(list))
import os
group = os.environ.get("SUMMARY_GROUP")  # compare rows of different paths (one route each)
for path, rnd, name, rps, p50, p99, us, errs in rows:
    path = group or path
    by[path][name].append((float(rps), ms(p50), ms(p99), float(us)))
w = max([len(p) for p in by] + [6]) + 2
print(f"{'body':{w}}{'config':14}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'us/req':>8}")
for path, names in by.items():
    med = {n: [statistics.median(x[i] for x in v) for i in range(4)] for n, v in names.items()}
    for n, (rps, p50, p99, us) in med.items():
        print(f"{path:{w}}{n:14}{rps:10.0f}{p50:9.3f}{p99:9.3f}{us:8.1f}")
    g = med[subject]
    for peer in peers:
        p = med[peer]
        # Paired by round: the machine's speed drifts between rounds, and a ratio of two medians
        # taken from different rounds mixes that drift in; the median of per-round ratios does not.
        rounds = {}
        for pth, rnd, name, rps, p50, p99, us, errs in rows:
            if (group or pth) == path and name in (subject, peer):
                rounds.setdefault(rnd, {})[name] = float(us)
        paired = [r[peer] / r[subject] for r in rounds.values() if subject in r and peer in r]
        pc = f"  per-core paired x{statistics.median(paired):.2f} ({len(paired)} rounds)" if paired else ""
        print(f"{path:{w}}{subject}/{peer}: req/s x{g[0]/p[0]:.2f}  p99 x{g[2]/p[2]:.2f}  cpu/req x{g[3]/p[3]:.2f}  per-core x{p[3]/g[3]:.2f}{pc}")
PY
}
