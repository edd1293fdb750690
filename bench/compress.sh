#!/usr/bin/env bash
# Compression CPU per MiB, gatehouse against nginx's gzip at the same level, in one run on one
# upstream: a 64 KiB JSON document (text/plain from the upstream nginx) fetched with
# Accept-Encoding through nginx (gzip on, level 6, gzip_proxied any) and through gatehouse
# (compress, gzip level 6); then gatehouse's br (4) and zstd (3) for reference (nginx-light has
# neither). Prints CPU per request and per MiB of uncompressed body, compressed sizes, ratios.
#
#   bash bench/compress.sh        # DURATION, ROUNDS, CONNECTIONS as in bench/common.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
CONNECTIONS=${CONNECTIONS:-10}
bench_setup
UP=19301; NG=19380; GZ=19381; BR=19382; ZS=19383
python3 - "$work/doc.json" <<'PY'
import json, random, sys
rnd = random.Random(7)
words = "user account order item price status shipped pending region note email created updated".split()
rows, size = [], 0
while size < 64 * 1024:
    row = {"id": rnd.randrange(10**9), "name": " ".join(rnd.choice(words) for _ in range(3)), "price": round(rnd.random() * 1000, 2),
           "status": rnd.choice(words), "tags": [rnd.choice(words) for _ in range(rnd.randrange(1, 5))]}
    rows.append(row)
    size += len(json.dumps(row)) + 2
open(sys.argv[1], "w").write(json.dumps(rows)[: 64 * 1024])
PY
chmod 644 "$work/doc.json"
start_upstream $UP
start_nginx_proxy $NG $UP "" "gzip on; gzip_comp_level 6; gzip_types text/plain; gzip_proxied any; gzip_min_length 1024;"
compressing() {  # NAME PORT ALGORITHM LEVEL
  local name=$1 port=$2 algo=$3 level=$4
  start_gatehouse "$name" "$port" $UP
  kill "$(eval echo \$pid_$name)"; wait "$(eval echo \$pid_$name)" 2>/dev/null || true
  sed -i "s|routes: \[{ name: all, upstream: up }\]|routes: [{ name: all, upstream: up, middleware: [{ compress: { algorithms: [$algo], levels: { $algo: $level } } }] }]|" "$work/$name.yaml"
  taskset -c "$PROXY_CORE" "$GATEHOUSE" --config "$work/$name.yaml" --log-level warn &
  pids+=($!); eval "pid_$name=\$!"
}
compressing gzip $GZ gzip 6
compressing br $BR br 4
compressing zstd $ZS zstd 3
wait_for_ports $UP $NG $GZ $BR $ZS
pid_nginx=$(nginx_worker_pid)
declare -A enc=([nginx]=gzip [gzip]=gzip [br]=br [zstd]=zstd) port=([nginx]=$NG [gzip]=$GZ [br]=$BR [zstd]=$ZS) bytes=()
for n in nginx gzip br zstd; do
  bytes[$n]=$(curl -s -H "Accept-Encoding: ${enc[$n]}" -o /dev/null -w '%{size_download}' "http://127.0.0.1:${port[$n]}/doc.json")
  WRK_HEADER="Accept-Encoding: ${enc[$n]}" taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNECTIONS" -d2s -H "Accept-Encoding: ${enc[$n]}" "http://127.0.0.1:${port[$n]}/doc.json" >/dev/null
done
for round in $(seq "$ROUNDS"); do
  order="nginx gzip br zstd"; ((round % 2)) || order="gzip nginx zstd br"  # alternate: drift hits both sides
  for n in $order; do
    WRK_HEADER="Accept-Encoding: ${enc[$n]}" measure "$n" "$(eval echo \$pid_$n)" "${port[$n]}" /doc.json "$round"
  done
done
echo
doc=$(stat -c %s "$work/doc.json")
for n in nginx gzip br zstd; do
  printf '%-6s %-5s %7s bytes of %s (%.1f %%)\n' "$n" "${enc[$n]}" "${bytes[$n]}" "$doc" "$(awk -v a="${bytes[$n]}" -v b="$doc" 'BEGIN { print 100 * a / b }')"
done
echo "summary (medians over rounds; gzip / nginx at level 6: per-core = nginx cpu/req over gatehouse cpu/req)"
summarize gzip nginx
python3 - "$results" "$doc" <<'PY'
import sys, statistics, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
mib = int(sys.argv[2]) / (1 << 20)
us = collections.defaultdict(list)
for path, rnd, name, rps, p50, p99, u, errs in rows:
    us[name].append(float(u))
for name, v in us.items():
    print(f"{name:6} CPU per MiB of body: {statistics.median(v) / mib / 1000:.2f} ms")
PY
