#!/usr/bin/env bash
# Composition (routes[].compose) against the client making the same calls itself through
# gatehouse: CPU microseconds of the gatehouse process per delivered upstream call.
#
# One gatehouse worker on core 0; wrk and the upstream (bench/common.sh's nginx, whose /a.json,
# /b.json and /c.json are small JSON documents) on core 1. "compose" is a route whose 3
# independent calls make one merged answer (one wrk request = 3 calls); "proxy" is the plain
# route the client would call 3 times (one wrk request = 1 call). Printed: us/req of each run,
# then us per delivered call and their ratio (proxy / compose: how many times less CPU a call
# costs inside a composition). Loopback only.
#
#   bash bench/compose.sh                # defaults: 10 s runs, 50 connections, 3 rounds
#   DURATION=5 ROUNDS=1 bash bench/compose.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
bench_setup
UP=19001; GH=19080
start_upstream $UP
ROUTES_BEFORE='  - name: compose
    match: { path: /compose }
    compose:
      calls:
        - { name: a, upstream: up, path: /a.json, into: a }
        - { name: b, upstream: up, path: /b.json, into: b }
        - { name: c, upstream: up, path: /c.json, into: c }
' start_gatehouse gatehouse $GH $UP
wait_for_ports $UP $GH
curl -sf "http://127.0.0.1:$GH/compose" >/dev/null || { echo "the composition route does not answer 200" >&2; exit 1; }

for p in /compose /a.json; do taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$GH$p" >/dev/null; done
for round in $(seq "$ROUNDS"); do
  measure compose "$pid_gatehouse" $GH /compose "$round"
  measure proxy "$pid_gatehouse" $GH /a.json "$round"
done
echo
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
us = {n: statistics.median(float(r[6]) for r in rows if r[2] == n) for n in ("compose", "proxy")}
per_call = {"compose": us["compose"] / 3, "proxy": us["proxy"]}
print(f"CPU us per delivered call: composition {per_call['compose']:.1f}, client-made calls {per_call['proxy']:.1f}")
print(f"ratio (client-made / composition): {per_call['proxy'] / per_call['compose']:.2f}x")
PY
