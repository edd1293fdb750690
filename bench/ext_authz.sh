#!/usr/bin/env bash
# The cost of ext_authz with a warm decision cache: one gatehouse with two routes to the same
# upstream, one plain and one behind ext_authz (the policy service answers 204 with max-age=60,
# so after the first call every request is a cache hit), against nginx's auth_request in front
# of the same upstream and policy service (it asks the policy service on every request).
# Prints per-core ratios and how many policy calls gatehouse's cache saved.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
bench_setup
UP=19501; POLICY=19502; GH=19580; GH_ADMIN=19581; NG=19590
start_upstream $UP

start_policy_service $POLICY  # 204 with max-age=60 and X-User, on the load core like the upstream

cat > "$work/gh.yaml" <<CONF
workers: 1
admin: { listen: 127.0.0.1:$GH_ADMIN }
listeners: [{ name: bench, listen: 127.0.0.1:$GH }]
routes:
  - name: authz
    match: { path_prefix: /authz/ }
    rewrite: { strip_prefix: /authz }
    upstream: up
    middleware:
      - ext_authz:
          upstream: policy
          path: /authorize
          send_headers: [authorization]
          upstream_headers: [x-user]
          cache: { max_ttl: 60s }
  - { name: plain, match: { path_prefix: /plain/ }, rewrite: { strip_prefix: /plain }, upstream: up }   # the same rewrite
upstreams:
  - { name: up, discovery: { static: [127.0.0.1:$UP] } }
  - { name: policy, discovery: { static: [127.0.0.1:$POLICY] } }
CONF
taskset -c "$PROXY_CORE" "$GATEHOUSE" --config "$work/gh.yaml" --log-level warn &
pids+=($!)
pid_gh=$!

# nginx with auth_request: a keep-alive subrequest to the policy service per request.
mkdir -p "$work/ng"
{ nginx_conf_head ng; cat <<CONF
  upstream up { server 127.0.0.1:$UP; keepalive 64; }
  upstream policy { server 127.0.0.1:$POLICY; keepalive 64; }
  server { listen 127.0.0.1:$NG;
    location / { auth_request /_authorize; auth_request_set \$user \$upstream_http_x_user;
      proxy_set_header X-User \$user; proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location = /_authorize { internal; proxy_pass http://policy/authorize; proxy_pass_request_body off;
      proxy_set_header Content-Length ""; proxy_set_header X-Forwarded-Uri \$request_uri;
      proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
CONF
} > "$work/ng/nginx.conf"
taskset -c "$PROXY_CORE" nginx -c "$work/ng/nginx.conf" -p "$work/ng" &
pids+=($!)
wait_for_ports $UP $GH $NG
pid_nginx=$(nginx_worker_pid)
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GH/authz/small")
[ "$code" = 200 ] || { echo "the ext_authz route answered $code"; exit 1; }

WRK_HEADER="Authorization: Bearer bench-token"
for round in $(seq "$ROUNDS"); do
  measure plain "$pid_gh" $GH /plain/small "$round"
  measure ext_authz "$pid_gh" $GH /authz/small "$round"
  measure nginx_authreq "$pid_nginx" $NG /small "$round"
done
echo
SUMMARY_GROUP=small summarize ext_authz plain nginx_authreq
echo
curl -s "http://127.0.0.1:$GH_ADMIN/metrics" | python3 -c '
import sys, re
m = {r: float(v) for r, v in re.findall(r"gatehouse_ext_authz_cache_lookups_total\{route=\"authz\",result=\"(\w+)\"\} (\S+)", sys.stdin.read())}
asked = m.get("miss", 0) - m.get("coalesced", 0)
total = m.get("hit", 0) + m.get("miss", 0)
print(f"policy calls: gatehouse {asked:.0f} for {total:.0f} requests ({100 * (1 - asked / max(total, 1)):.3f} % saved); nginx auth_request: one per request")'
