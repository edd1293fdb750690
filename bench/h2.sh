#!/usr/bin/env bash
# HTTP/2 termination: gatehouse vs nginx vs HAProxy vs h2o as reverse proxies for HTTP/2 clients,
# side by side in one run, on one HTTP/1.1 upstream (issue 28, Performance).
#
# h2load (nghttp2-client) with -c50 -m10 (50 connections, 10 streams in flight on each) on the
# load core, beside the upstream (an nginx serving fixed bodies, bench/common.sh); each proxy one
# worker pinned to core 0. Four cases: h2c (prior knowledge) and TLS (ALPN h2; each server's
# default TLS 1.3 suite, one ECDSA P-256 certificate) × the 5-byte and the 16 KiB body. ROUNDS
# rounds, the contenders' order rotated every round. Printed per run: req/s, p50, p99 (from
# h2load's per-request log) and the proxy's CPU µs per request (user+sys from /proc); then per
# case a table: req/s, proxy CPU seconds per 10k requests, gatehouse's requests per core-second
# over each peer's (medians, and the median of per-round ratios: "paired"), p50, p99.
#
#   bash bench/h2.sh                                  # 10 s runs, 3 rounds, all four cases
#   DURATION=5 ROUNDS=1 bash bench/h2.sh
#   CASES="h2c-small tls-small" ROUNDS=5 bash bench/h2.sh
#   H2LOAD_STREAMS=1 bash bench/h2.sh                 # -m1 instead of -m10
#   CONTENDERS="gatehouse nginx" bash bench/h2.sh
#   BASELINE=/tmp/old/build/gatehouse CONTENDERS="gatehouse baseline" bash bench/h2.sh   # an older build too
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
# h2load (nghttp2-client, also installed by .ci/install-deps for the HTTP/2 tests) and h2o, the
# fourth peer, both from Debian. h2o's package installs a service that nothing starts here.
command -v h2load >/dev/null && command -v h2o >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client h2o >/dev/null
}
bench_setup
UP=19601
declare -A h2c=([gatehouse]=19680 [nginx]=19681 [haproxy]=19682 [h2o]=19683 [baseline]=19684)
declare -A tls=([gatehouse]=19690 [nginx]=19691 [haproxy]=19692 [h2o]=19693 [baseline]=19694)
start_upstream $UP
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 \
  -subj /CN=bench.local -addext subjectAltName=DNS:bench.local 2>/dev/null
cat "$work/cert.pem" "$work/key.pem" > "$work/both.pem"
chmod 644 "$work/key.pem" "$work/cert.pem" "$work/both.pem"

# gatehouse: a plain listener (protocols [h2, http1], the default: h2c by prior knowledge) and a
# TLS one (ALPN h2, http/1.1); listeners[].http2 at its defaults (100 streams).
# start_h2_gatehouse NAME BIN
start_h2_gatehouse() {
  cat > "$work/$1.yaml" <<CONF
workers: 1
admin: { enabled: false }
listeners:
  - { name: h2c, listen: 127.0.0.1:${h2c[$1]}, protocols: [h2, http1] }
  - { name: tls, listen: 127.0.0.1:${tls[$1]}, protocols: [h2, http1], tls: { certificates: [{ cert: $work/cert.pem, key: $work/key.pem }] } }
routes: [{ name: all, upstream: up }]
upstreams: [{ name: up, discovery: { static: [127.0.0.1:$UP] } }]
CONF
  taskset -c "$PROXY_CORE" "$2" --config "$work/$1.yaml" --log-level warn &
  pids+=($!)
  eval "pid_$1=\$!"
}
start_h2_gatehouse gatehouse "$GATEHOUSE"
[ -z "${BASELINE:-}" ] || start_h2_gatehouse baseline "$BASELINE"

# nginx: `http2` on both listeners (h2c: prior knowledge only), keepalive_requests raised (in
# nginx_conf_head: 1,000,000; since 1.19.7 it bounds the streams of an h2 connection too). Up to
# 500 requests are in flight (50 × 10 streams): `keepalive 512` idle upstream connections kept,
# where proxy.sh's 64 would close and reopen upstream connections all along.
mkdir -p "$work/ng"
{ nginx_conf_head ng; cat <<CONF
  upstream up { server 127.0.0.1:$UP; keepalive 512; }
  server { listen 127.0.0.1:${h2c[nginx]} http2; listen 127.0.0.1:${tls[nginx]} ssl http2;
    ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
CONF
} > "$work/ng/nginx.conf"
taskset -c "$PROXY_CORE" nginx -c "$work/ng/nginx.conf" -p "$work/ng" &
pids+=($!)

# HAProxy: `proto h2` on the plain bind, ALPN h2 on the TLS one; one thread, reuse as in proxy.sh.
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
frontend fe
  bind 127.0.0.1:${h2c[haproxy]} proto h2
  bind 127.0.0.1:${tls[haproxy]} ssl crt $work/both.pem alpn h2,http/1.1
  default_backend be
backend be
  server s1 127.0.0.1:$UP
CONF
taskset -c "$PROXY_CORE" haproxy -f "$work/haproxy.cfg" -q &
pids+=($!)
pid_haproxy=$!

# h2o 2.2 (Debian): one worker thread; HTTP/2 on both listeners (prior knowledge on the plain
# one); keep-alive to the upstream (proxy.timeout.keepalive, 2 s by default); no access log, no
# OCSP stapling fetcher. As root it drops to `nobody`: the files above are world-readable.
mkdir -p "$work/h2o"
cat > "$work/h2o/h2o.conf" <<CONF
num-threads: 1
error-log: $work/h2o/error.log
listen:
  host: 127.0.0.1
  port: ${h2c[h2o]}
listen:
  host: 127.0.0.1
  port: ${tls[h2o]}
  ssl:
    certificate-file: $work/cert.pem
    key-file: $work/key.pem
    ocsp-update-interval: 0
hosts:
  default:
    paths:
      /:
        proxy.reverse.url: http://127.0.0.1:$UP/
CONF
chmod 777 "$work/h2o"
taskset -c "$PROXY_CORE" h2o -c "$work/h2o/h2o.conf" &
pids+=($!)
pid_h2o=$!

contenders=(${CONTENDERS:-gatehouse nginx haproxy h2o ${BASELINE:+baseline}})
wait_for_ports $UP
for n in "${contenders[@]}"; do
  for _ in $(seq 100); do curl -sf --http2-prior-knowledge -o /dev/null "http://127.0.0.1:${h2c[$n]}/small" && break; sleep 0.1; done
  for _ in $(seq 100); do curl -skf --http2 -o /dev/null "https://127.0.0.1:${tls[$n]}/small" && break; sleep 0.1; done
done
pid_nginx=$(nginx_worker_pid)
for n in "${contenders[@]}"; do
  eval "[ -n \"\${pid_$n:-}\" ]" || { echo "no process for $n" >&2; exit 1; }
done

export LOAD=h2load
# Warm-up: pools, the upstream's keep-alive connections, TLS contexts.
for n in "${contenders[@]}"; do
  DURATION=2 SCHEME=http h2load_run "${h2c[$n]}" /small >/dev/null
  DURATION=2 SCHEME=https h2load_run "${tls[$n]}" /small >/dev/null
done
for case in ${CASES:-h2c-small h2c-16k tls-small tls-16k}; do
  scheme=${case%%-*} path=/${case#*-}
  for round in $(seq "$ROUNDS"); do
    # Rotate the order each round: no contender always runs first (or just after another).
    k=$(( (round - 1) % ${#contenders[@]} ))
    for n in "${contenders[@]:k}" "${contenders[@]:0:k}"; do
      if [ "$scheme" = tls ]; then port=${tls[$n]} s=https; else port=${h2c[$n]} s=http; fi
      SCHEME=$s LABEL=$case measure "$n" "$(eval echo \$pid_$n)" "$port" "$path" "$round"
    done
  done
done

echo
echo "summary: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); h2load -c$CONNECTIONS -m${H2LOAD_STREAMS:-10}, ${DURATION} s runs, $ROUNDS rounds (medians)"
echo "per-core: gatehouse's requests per core-second / the peer's (> 1: gatehouse does more per core); paired: median of per-round ratios"
python3 - "$results" "${contenders[@]}" <<'PY'
import sys, statistics, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
names = sys.argv[2:]
def ms(v):
    for suf, f in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if v.endswith(suf):
            return float(v[: -len(suf)]) * f
    return float(v)
by = collections.defaultdict(lambda: collections.defaultdict(list))
rounds = collections.defaultdict(lambda: collections.defaultdict(dict))
for case, rnd, name, rps, p50, p99, us, errs in rows:
    by[case][name].append((float(rps), ms(p50), ms(p99), float(us)))
    rounds[case][rnd][name] = float(us)
for case, got in by.items():
    print(f"\n{case}")
    print(f"  {'proxy':10}{'req/s':>9}{'CPU s/10k req':>15}{'per-core':>10}{'paired':>8}{'p50 ms':>9}{'p99 ms':>9}")
    med = {n: [statistics.median(x[i] for x in v) for i in range(4)] for n, v in got.items()}
    g = med.get("gatehouse")
    for n in names:
        if n not in med:
            continue
        rps, p50, p99, us = med[n]
        pc = paired = ""
        if g and n != "gatehouse":
            pc = f"x{us / g[3]:.2f}"
            pr = [r[n] / r["gatehouse"] for r in rounds[case].values() if n in r and "gatehouse" in r]
            paired = f"x{statistics.median(pr):.2f}" if pr else ""
        print(f"  {n:10}{rps:9.0f}{us / 100:15.3f}{pc:>10}{paired:>8}{p50:9.2f}{p99:9.2f}")
PY
