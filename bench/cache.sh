#!/usr/bin/env bash
# The response cache in one run on one upstream: a cache hit through gatehouse vs a cache hit
# through nginx proxy_cache (same object, same run), for a 5 B and a 16 KiB body; and the cost
# of a caching route on misses (every response `Cache-Control: no-store`, so every request looks
# up, leads a fill and releases it) against the same route without the cache.
#
#   bash bench/cache.sh       # DURATION, ROUNDS, CONNECTIONS as in bench/common.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
bench_setup
UP=19301; GH=19380; NG=19381; PLAIN=19382

# The origin: nginx serving the two bodies cacheable for an hour, and the same bytes as no-store.
head -c 16384 /dev/zero | tr '\0' 'x' > "$work/16k"
printf 'hello' > "$work/small"
chmod 644 "$work/16k" "$work/small"
mkdir -p "$work/up"
{ nginx_conf_head up; cat <<CONF
  server { listen 127.0.0.1:$UP reuseport; root $work;
    location = /small { default_type text/plain; expires 1h; }
    location = /16k   { default_type application/octet-stream; expires 1h; }
    location = /nostore { default_type text/plain; alias $work/small; add_header Cache-Control no-store; } }
}
CONF
} > "$work/up/nginx.conf"
taskset -c "$LOAD_CORE" nginx -c "$work/up/nginx.conf" -p "$work/up" &
pids+=($!)

ROUTE_EXTRA=", middleware: [{ cache: {} }]" start_gatehouse cached $GH $UP "cache: { max_bytes: 64MiB }"
start_gatehouse plain $PLAIN $UP
# nginx as a caching reverse proxy: the same shape as start_nginx_proxy, plus proxy_cache.
mkdir -p "$work/ng"
{ nginx_conf_head ng; cat <<CONF
  proxy_cache_path $work/ngcache levels=1:2 keys_zone=c:10m max_size=64m;
  upstream up { server 127.0.0.1:$UP; keepalive 64; }
  server { listen 127.0.0.1:$NG;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_cache c; } }
}
CONF
} > "$work/ng/nginx.conf"
taskset -c "$PROXY_CORE" nginx -c "$work/ng/nginx.conf" -p "$work/ng" &
pids+=($!)
wait_for_ports $UP $GH $NG $PLAIN
pid_nginx=$(nginx_worker_pid)
for port in $GH $NG $PLAIN; do
  for path in /small /16k /nostore; do taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$port$path" >/dev/null; done
done
curl -sI "http://127.0.0.1:$GH/small" | grep -i '^cache-status' | grep -q hit || { echo "gatehouse is not answering /small from its cache" >&2; exit 1; }
curl -sI "http://127.0.0.1:$GH/nostore" | grep -i '^cache-status' | grep -q fwd || { echo "gatehouse cached /nostore" >&2; exit 1; }
for round in $(seq "$ROUNDS"); do
  for path in /small /16k; do
    measure gatehouse "$pid_cached" $GH $path "$round"
    measure nginx "$pid_nginx" $NG $path "$round"
  done
  hits=$results; results=$work/misses.tsv  # a table of its own: summarize compares within one
  LABEL=miss measure cached "$pid_cached" $GH /nostore "$round"
  LABEL=miss measure plain "$pid_plain" $PLAIN /nostore "$round"
  results=$hits
done
echo
echo "summary (medians over rounds; per-core = peer cpu/req over gatehouse cpu/req)"
echo "hits: gatehouse cache vs nginx proxy_cache"
summarize gatehouse nginx
echo "misses: caching route vs the same route without the cache"
results=$work/misses.tsv summarize cached plain
