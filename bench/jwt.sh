#!/usr/bin/env bash
# The cost of JWT validation: one gatehouse, two routes to the same upstream, one plain and one
# behind `jwt` (RS256; the token is verified once, then served from the per-worker cache),
# measured side by side; then uncached RS256 and ES256 verifications per second on one core.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
bench_setup
.ci/install-deps >/dev/null
[ -x build/gatehouse_jwt_bench ] || cmake --build build --target gatehouse_jwt_bench >/dev/null
UP=19401; GH=19480
start_upstream $UP

node_tool="tests/integration/node/tokens.mjs"
keys=$(printf '%s\n' '{"op":"keypair","alg":"RS256","kid":"rs"}' '{"op":"keypair","alg":"ES256","kid":"es"}' | node "$node_tool")
rs=$(sed -n 1p <<<"$keys"); es=$(sed -n 2p <<<"$keys")
python3 - "$work" "$rs" "$es" <<'PY'
import json, sys, time
work, rs, es = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
json.dump({"keys": [rs["public"], es["public"]]}, open(f"{work}/jwks.json", "w"))
claims = {"sub": "bench", "iss": "bench", "exp": int(time.time()) + 3600}
reqs = [{"op": "sign", "alg": "RS256", "key": rs["private"], "claims": claims},
        {"op": "sign", "alg": "ES256", "key": es["private"], "claims": claims}]
open(f"{work}/sign.jsonl", "w").write("\n".join(json.dumps(r) for r in reqs) + "\n")
PY
tokens=$(node "$node_tool" < "$work/sign.jsonl")
rs_token=$(sed -n 1p <<<"$tokens" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
es_token=$(sed -n 2p <<<"$tokens" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
printf 'RS256 %s\nES256 %s\n' "$rs_token" "$es_token" > "$work/tokens.txt"

cat > "$work/gh.yaml" <<CONF
workers: 1
admin: { enabled: false }
listeners: [{ name: bench, listen: 127.0.0.1:$GH }]
jwt_providers: [{ name: bench, issuer: bench, algorithms: [RS256], jwks: { file: $work/jwks.json } }]
routes:
  - { name: jwt, match: { path_prefix: /jwt/ }, rewrite: { strip_prefix: /jwt }, upstream: up, middleware: [{ jwt: { provider: bench } }] }
  - { name: plain, upstream: up }
upstreams: [{ name: up, discovery: { static: [127.0.0.1:$UP] } }]
CONF
taskset -c "$PROXY_CORE" "$GATEHOUSE" --config "$work/gh.yaml" --log-level warn &
pids+=($!)
pid_gh=$!
wait_for_ports $UP $GH
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $rs_token" "http://127.0.0.1:$GH/jwt/small")
[ "$code" = 200 ] || { echo "jwt route answered $code"; exit 1; }

# wrk sends the same header on every request (both routes): the token is verified once per
# worker, then served from the cache.
WRK_HEADER="Authorization: Bearer $rs_token"
taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNECTIONS" -d2s -H "$WRK_HEADER" "http://127.0.0.1:$GH/jwt/small" >/dev/null
for round in $(seq "$ROUNDS"); do
  measure plain "$pid_gh" $GH /small "$round"
  measure jwt_rs256 "$pid_gh" $GH /jwt/small "$round"
done
echo
SUMMARY_GROUP=small summarize jwt_rs256 plain
echo
echo "uncached verification, one core:"
taskset -c "$PROXY_CORE" build/gatehouse_jwt_bench "$work/jwks.json" "$work/tokens.txt" 3
