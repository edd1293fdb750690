#!/usr/bin/env bash
# User-space instructions per proxied request, counted by callgrind (deterministic: the same
# binary and inputs give the same count, however noisy the machine). For each binary and body
# size, gatehouse runs under callgrind twice, for N1 and N2 keep-alive requests (ab -k -c 10)
# to the bench upstream (nginx, fixed bodies); printed is the marginal figure
# (instructions(N2) - instructions(N1)) / (N2 - N1), which leaves start-up and shutdown out.
#
#   bash bench/callgrind.sh                                   # build/gatehouse, /small and /16k
#   BASELINE=/tmp/old/build/gatehouse bash bench/callgrind.sh # and an older build, with the ratio
#   N1=2000 N2=10000 PATHS=/small bash bench/callgrind.sh
#   CG_KEEP=/tmp/cg bash bench/callgrind.sh                   # keep the callgrind files (callgrind_annotate)
#   H2=1 bash bench/callgrind.sh                              # HTTP/2 clients (h2load, h2c, 10 x 10 streams)
#   GRPC=1 bash bench/callgrind.sh                            # gRPC unary calls as in bench/grpc.sh:
#       h2load's calls (h2c, 10 x 10 streams) to bench/grpc_responder.cpp over an h2c upstream
#   TRANSCODE=1 bash bench/callgrind.sh                       # the same calls made as REST (POST
#       /v1/unary with the request as JSON, routes[].grpc_transcode as in bench/grpc_transcode.sh)
#   COMPOSE=1 bash bench/callgrind.sh                         # /compose as in bench/compose.sh: one
#       request = a composition of three calls (/a.json, /b.json, /c.json merged under into)
#   OPENAPI=1 bash bench/callgrind.sh                         # POST /post?v=3 as in bench/openapi.sh:
#       the openapi middleware checks a query parameter, a header and a 10-property JSON body
#   OPENAPI=plain bash bench/callgrind.sh                     # the same POSTs without the middleware
#   EXT_AUTHZ=1 bash bench/callgrind.sh                       # GET /small behind ext_authz with a warm
#       decision cache, as in bench/ext_authz.sh (a policy nginx answering 204 with max-age=60 and
#       X-User; send_headers [authorization], upstream_headers [x-user]; Authorization: Bearer)
#   EXT_AUTHZ=plain bash bench/callgrind.sh                   # the same GETs (same header) without it
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
N1=${N1:-4000} N2=${N2:-20000}
command -v valgrind >/dev/null && command -v ab >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind apache2-utils >/dev/null
}
bench_setup
UP=${UP_PORT:-19101}; GH=${GH_PORT:-19180}  # other ports: two runs side by side
[ -z "${TRANSCODE:-}" ] || GRPC=1
ready=()  # curl's arguments for the request that says gatehouse serves (a GET of the path)
top_extra="" ab_extra=()  # OPENAPI: the spec's section of the config; ab's body and headers
if [ -n "${GRPC:-}" ]; then
  [ -x "$(dirname "$GATEHOUSE")/gatehouse_grpc_responder" ] || .ci/build build
  command -v h2load >/dev/null || .ci/install-deps
  start_grpc_server responder "$(dirname "$GATEHOUSE")/gatehouse_grpc_responder" $UP 32
  grpc_unary_load "$work/unary.bin"
  PATHS=${PATHS:-/grpc.testing.TestService/UnaryCall}
  H2=1
  listener_extra=", protocols: [h2, http1]" upstream_extra=", protocol: h2c"
  if [ -n "${TRANSCODE:-}" ]; then
    GOOGLEAPIS=${GATEHOUSE_GOOGLEAPIS_DIR:-/usr/share/gocode/src/github.com/grpc-ecosystem/grpc-gateway/third_party/googleapis}
    protoc --include_imports --descriptor_set_out="$work/bench.pb" -I bench -I tests/grpc/protos -I "$GOOGLEAPIS" grpc_transcode.proto
    echo '{"responseSize":32,"payload":{"body":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}}' > "$work/unary.json"
    export H2LOAD_EXTRA="-d $work/unary.json -H content-type:application/json"
    PATHS=/v1/unary
    route_extra=", grpc_transcode: { descriptor_set: $work/bench.pb, services: [gatehouse.bench.Unary] }"
    ready=(--http2-prior-knowledge -H content-type:application/json --data-binary "@$work/unary.json")
  fi
else
  start_upstream $UP
  wait_for_ports $UP
  # h2load speaks h2c by prior knowledge: the listener must offer it (without, every request fails
  # and the count measures nothing)
  [ -z "${H2:-}" ] || listener_extra=", protocols: [h2, http1]"
fi
if [ -n "${OPENAPI:-}" ]; then  # the spec and body of bench/openapi.sh
  PATHS=${PATHS:-/post?v=3}
  sed -n "/^cat > \"\$work\/spec.yaml\" <<'SPEC'/,/^SPEC/p" bench/openapi.sh | sed '1d;$d' > "$work/spec.yaml"
  printf '%s' '{"id":17,"name":"Rex","email":"rex@example.com","age":4,"active":true,"tags":["a","bb"],' \
    '"score":9.5,"kind":"dog","created":"2026-12-07T10:00:00Z","note":null}' > "$work/post.json"
  ab_extra=(-p "$work/post.json" -T application/json -H "X-Tenant: acme")
  ready=(-d "@$work/post.json" -H content-type:application/json -H x-tenant:acme)
  if [ "$OPENAPI" != plain ]; then
    route_extra=", middleware: [{ openapi: { spec: bench } }]"
    top_extra="openapi: [{ name: bench, spec: $work/spec.yaml }]"
  fi
fi
if [ -n "${EXT_AUTHZ:-}" ]; then  # the policy service and middleware of bench/ext_authz.sh
  PATHS=${PATHS:-/small}
  POLICY=$((UP + 2))
  start_policy_service $POLICY
  ab_extra=(-H "Authorization: Bearer bench-token")
  ready=(-H "Authorization: Bearer bench-token")
  upstream_more=", { name: policy, discovery: { static: [127.0.0.1:$POLICY] } }"
  [ "$EXT_AUTHZ" = plain ] || route_extra=", middleware: [{ ext_authz: { upstream: policy, path: /authorize,
    send_headers: [authorization], upstream_headers: [x-user], cache: { max_ttl: 60s } } }]"
fi
compose_route=""
if [ -n "${COMPOSE:-}" ]; then
  PATHS=${PATHS:-/compose}
  compose_route="{ name: compose, match: { path: /compose }, compose: { calls: [
    { name: a, upstream: up, path: /a.json, into: a }, { name: b, upstream: up, path: /b.json, into: b },
    { name: c, upstream: up, path: /c.json, into: c } ] } }, "
fi

# instructions BIN PATH N: total user-space instructions of a gatehouse run serving N requests.
instructions() {
  local bin=$1 path=$2 n=$3 out="$work/cg.out" pid
  cat > "$work/cg.yaml" <<CONF
workers: 1
admin: { enabled: false }
listeners: [{ name: bench, listen: 127.0.0.1:$GH${listener_extra:-} }]
routes: [${compose_route}{ name: all, upstream: up${route_extra:-} }]
upstreams: [{ name: up${upstream_extra:-}, discovery: { static: [127.0.0.1:$UP] } }${upstream_more:-}]
$top_extra
CONF
  rm -f "$out"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" --config "$work/cg.yaml" --log-level warn 2>/dev/null &
  pid=$!
  for _ in $(seq 300); do curl -sf -o /dev/null "${ready[@]}" "http://127.0.0.1:$GH$path" && break; sleep 0.1; done
  if [ -n "${H2:-}" ]; then  # HTTP/2 (h2c by prior knowledge): 10 connections x 10 streams
    # shellcheck disable=SC2086  # H2LOAD_EXTRA is a list of words (GRPC=1: the call's body and headers)
    h2load -c 10 -m 10 -n "$n" ${H2LOAD_EXTRA:-} "http://127.0.0.1:$GH$path" >/dev/null
  else
    ab -q -k -c 10 -n "$n" "${ab_extra[@]}" "http://127.0.0.1:$GH$path" >/dev/null
  fi
  kill -TERM "$pid"
  wait "$pid" || true
  [ -z "${CG_KEEP:-}" ] || cp "$out" "$CG_KEEP/$bin_name${path//[\/.]/-}-$n.out"
  awk '/^(summary|totals):/ {print $2; exit}' "$out"
}

declare -A per_request
for bin_name in gatehouse ${BASELINE:+baseline}; do
  bin=$GATEHOUSE; [ "$bin_name" = baseline ] && bin=$BASELINE
  for path in ${PATHS:-/small /16k}; do
    a=$(instructions "$bin" "$path" "$N1")
    b=$(instructions "$bin" "$path" "$N2")
    per_request[$bin_name$path]=$(( (b - a) / (N2 - N1) ))
    printf '%-10s %-7s %8d instructions per request\n' "$bin_name" "$path" "${per_request[$bin_name$path]}"
  done
done
if [ -n "${BASELINE:-}" ]; then
  for path in ${PATHS:-/small /16k}; do
    awk -v a="${per_request[gatehouse$path]}" -v b="${per_request[baseline$path]}" -v p="$path" \
      'BEGIN { printf "%-7s gatehouse / baseline: %.3f (%+.1f %%)\n", p, a / b, (a / b - 1) * 100 }'
  done
fi
