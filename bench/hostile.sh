#!/usr/bin/env bash
# Normal clients beside 2,000 slowloris connections: gatehouse vs nginx vs HAProxy in one run
# (issue #14 §2). For each contender: a wrk run alone ("alone"), then the same run while
# bench/slowloris.py holds N_SLOW connections each sending a head one byte every 2 s ("slowloris";
# closed ones are reopened). Each proxy runs one worker with a 10 s header timeout. Printed: p50,
# p99, errors per run, then per contender p99 beside slowloris / p99 alone (target: <= 2) and the
# share of requests that failed.
#
#   bash bench/hostile.sh                  # 10 s runs, 50 connections, 2,000 slow ones, 3 rounds
#   N_SLOW=500 DURATION=5 ROUNDS=1 bash bench/hostile.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
bench_setup
N_SLOW=${N_SLOW:-2000}
ulimit -n "$(ulimit -Hn)"
UP=19501; GH=19580; NG=19581; HA=19582
start_upstream $UP
start_nginx_proxy $NG $UP "" "client_header_timeout 10s;"

start_haproxy_proxy $HA $UP "  timeout http-request 10s"
start_gatehouse gatehouse $GH $UP "limits: { header_timeout: 10s }"
wait_for_ports $UP $NG $HA $GH
pid_nginx=$(nginx_worker_pid)

# beside NAME PID PORT ROUND: one wrk run while N_SLOW slowloris connections trickle.
beside() {
  local name=$1 pid=$2 port=$3 round=$4 fifo="$work/slow.fifo"
  rm -f "$fifo" && mkfifo "$fifo"
  taskset -c "$LOAD_CORE" python3 bench/slowloris.py "$port" "$N_SLOW" < "$fifo" > "$work/slow.out" &
  local client=$!
  exec 9> "$fifo"
  while ! grep -q '^slow' "$work/slow.out" 2>/dev/null; do sleep 0.2; done
  sleep 2  # every slow connection has sent its first bytes
  LABEL=slowloris measure "$name" "$pid" "$port" /small "$round"
  exec 9>&-
  wait $client || true
  echo "  $(tail -1 "$work/slow.out")"
}

for port in $GH $NG $HA; do taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$port/small" >/dev/null; done
for round in $(seq "$ROUNDS"); do
  for c in "gatehouse $pid_gatehouse $GH" "nginx $pid_nginx $NG" "haproxy $pid_haproxy $HA"; do
    read -r name pid port <<<"$c"
    LABEL=alone measure "$name" "$pid" "$port" /small "$round"
    beside "$name" "$pid" "$port" "$round"
  done
done
echo
python3 - "$results" <<'PY'
import sys, statistics, collections, re
def ms(v):
    for suf, f in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if v.endswith(suf):
            return float(v[: -len(suf)]) * f
    return float(v)
p99 = collections.defaultdict(lambda: collections.defaultdict(list))
errs = collections.defaultdict(int)
for label, rnd, name, rps, p50, p99v, us, e in (l.rstrip("\n").split("\t") for l in open(sys.argv[1])):
    p99[name][label].append(ms(p99v))
    for n in re.findall(r"(?:responses:|connect|read|write|timeout) (\d+)", e):
        errs[name, label] += int(n)
print(f"{'proxy':12}{'p99 alone':>12}{'p99 slowloris':>15}{'ratio':>8}  errors beside slowloris")
for name, by in p99.items():
    a, s = statistics.median(by["alone"]), statistics.median(by["slowloris"])
    print(f"{name:12}{a:10.3f}ms{s:13.3f}ms{s / a:8.2f}  {errs[name, 'slowloris']}")
PY
