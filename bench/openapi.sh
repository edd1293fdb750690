#!/usr/bin/env bash
# The cost of OpenAPI request validation: the same POST route (a small JSON body of 10
# properties) through two gatehouse processes, plain and with the `openapi` middleware checking
# a query parameter, a header and the body against a schema with a type, a bound, a length, a
# pattern or an enum on every property. Prints CPU per request and the per-core ratio against
# the plain route (#33 asks >= 0.9x).
#
#   bash bench/openapi.sh       # DURATION, ROUNDS, CONNECTIONS as in bench/common.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
bench_setup
UP=19301; PLAIN=19380; OAS=19381
cat > "$work/spec.yaml" <<'SPEC'
openapi: 3.1.0
info: { title: bench, version: "1" }
paths:
  /post:
    post:
      parameters:
        - { name: v, in: query, required: true, schema: { type: integer, minimum: 1 } }
        - { name: X-Tenant, in: header, required: true, schema: { type: string, pattern: "^[a-z]+$" } }
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              required: [id, name, email, age, active, tags, score, kind, created, note]
              properties:
                id: { type: integer, minimum: 1 }
                name: { type: string, minLength: 1, maxLength: 64 }
                email: { type: string, pattern: "^[^@]+@[^@]+$" }
                age: { type: integer, minimum: 0, maximum: 150 }
                active: { type: boolean }
                tags: { type: array, maxItems: 8, items: { type: string, maxLength: 16 } }
                score: { type: number, minimum: 0 }
                kind: { enum: [cat, dog, bird] }
                created: { type: string, format: date-time }
                note: { type: [string, "null"] }
      responses: { "200": { description: ok } }
SPEC
cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.path = "/post?v=3"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Tenant"] = "acme"
wrk.body = '{"id":17,"name":"Rex","email":"rex@example.com","age":4,"active":true,"tags":["a","bb"],' ..
           '"score":9.5,"kind":"dog","created":"2026-12-07T10:00:00Z","note":null}'
LUA
start_upstream $UP
start_gatehouse plain $PLAIN $UP
ROUTE_EXTRA=", middleware: [{ openapi: { spec: bench } }]" start_gatehouse openapi $OAS $UP \
  "openapi: [{ name: bench, spec: $work/spec.yaml }]"
wait_for_ports $UP $PLAIN $OAS
export WRK_SCRIPT="$work/post.lua"
for port in $PLAIN $OAS; do taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNECTIONS" -d2s -s "$WRK_SCRIPT" "http://127.0.0.1:$port/" >/dev/null; done
for round in $(seq "$ROUNDS"); do
  LABEL=/post measure plain "$pid_plain" $PLAIN / "$round"
  LABEL=/post measure openapi "$pid_openapi" $OAS / "$round"
done
echo
echo "summary (medians over rounds; openapi / plain: per-core = plain cpu/req over openapi cpu/req)"
summarize openapi plain
