#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan, build-fuzz/) and fuzzes each for SECONDS
# (default 60), two at a time (FUZZ_JOBS), starting from the checked-in seeds and regression
# inputs. New interesting inputs go to build-fuzz/corpus/<target>/ (kept between runs, never
# into the tree); a crash, leak or timeout leaves its input in build-fuzz/artifacts/ and fails
# the run. Prints one line per target: executions, coverage, corpus size, findings.
#   bash tests/fuzz/run.sh [SECONDS] [TARGET...]     (TARGET "core": those without the daemon build;
#                                                     "daemon": config and h2_connection)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}; shift || true
build=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${FUZZ_JOBS:-$(nproc)}
timeout=${FUZZ_TIMEOUT:-10}   # seconds one input may take (wall); raise it when fuzzing niced beside builds
nice=${FUZZ_NICE:-0}          # e.g. FUZZ_NICE=19: fuzz on whatever CPU builds and tests leave

if ! command -v clang++ >/dev/null; then
  echo "run.sh: clang++ is missing (apt-get install clang libclang-rt-14-dev, or run .ci/install-deps)" >&2
  exit 2
fi
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGATEHOUSE_FUZZ=ON -DGATEHOUSE_WERROR=ON >/dev/null

# Targets: the arguments ("core" = every target that builds without the daemon, "daemon" = the
# others), default all.
core=$(sed -n 's/^set(GATEHOUSE_FUZZ_CORE_TARGETS \([a-z0-9_ ]*\))$/\1/p' tests/fuzz/CMakeLists.txt)
daemon=$(sed -n 's/^set(GATEHOUSE_FUZZ_DAEMON_TARGETS \([a-z0-9_ ]*\))$/\1/p' tests/fuzz/CMakeLists.txt)
(($# == 0)) && set -- core daemon
targets=()
for t in "$@"; do
  if [ "$t" = core ]; then read -r -a more <<<"$core"; targets+=("${more[@]}")
  elif [ "$t" = daemon ]; then read -r -a more <<<"$daemon"; targets+=("${more[@]}")
  else targets+=($t); fi
done
cmake --build "$build" --target "${targets[@]/#/fuzz_}"
mkdir -p "$build/artifacts" "$build/logs"

fuzz_one() {
  local t=$1 seconds=$2 build=$3 timeout=$4 nice=$5
  local dict=() corpus="$build/corpus/$t"
  mkdir -p "$corpus"
  [ -f "tests/fuzz/dict/$t.dict" ] && dict=(-dict="tests/fuzz/dict/$t.dict")
  local seeds=("tests/fuzz/corpus/$t")
  [ -d "tests/fuzz/regressions/$t" ] && seeds+=("tests/fuzz/regressions/$t")  # git keeps no empty folder
  # -timeout: one input taking 10 s is a finding (a hang); -rss_limit_mb: so is 2 GiB.
  local rc=0 cpu TIMEFORMAT='%U %S'
  cpu=$( { time nice -n "$nice" "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout="$timeout" \
    -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" "${dict[@]}" \
    "$corpus" "${seeds[@]}" >"$build/logs/$t.log" 2>&1; } 2>&1 ) || rc=$?
  cpu=$(awk '{printf "%d", $1 + $2}' <<<"$cpu")
  local execs cov files
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/logs/$t.log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$build/logs/$t.log" | tail -1 | cut -d' ' -f2)
  files=$(find "$corpus" -type f | wc -l)
  printf '%-14s rc=%-3s cpu=%-6s execs=%-10s cov=%-6s corpus=%-6s %s\n' "$t" "$rc" "${cpu}s" "${execs:-?}" \
    "${cov:-?}" "$files" "$( ((rc == 0)) && echo ok || echo "FINDING: see $build/logs/$t.log")"
  # One line per run in the ledger: CPU seconds per target add up across runs.
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "$cpu" "${execs:-0}" "${cov:-0}" "$rc" >>"$build/logs/ledger.tsv"
  return $rc
}
export -f fuzz_one

status=0
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'fuzz_one "$@"' _ {} "$seconds" "$build" "$timeout" "$nice" || status=1
if ((status)); then
  echo "fuzzing found something: inputs in $build/artifacts/ (add each to tests/fuzz/regressions/<target>/ with the fix)" >&2
fi
exit $status
