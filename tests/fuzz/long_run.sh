#!/usr/bin/env bash
# The long fuzz run of docs/fuzzing.md: runs one target under ddnet_fuzz for SECONDS in all,
# restarting with the next seed after each crash (the driver runs inputs in its own process, so a
# crash ends a run), and prints the executions, the rate and the crashes saved.
#   tests/fuzz/long_run.sh BUILD_DIR TARGET SECONDS [OUT_DIR] [FIRST_SEED]
# OUT_DIR (default fuzz-out/TARGET) receives crashes/, new/ (inputs that reached new outcomes:
# candidates for the corpus) and the logs. Run it niced: nice -n 19 tests/fuzz/long_run.sh ...
set -euo pipefail
build=${1:?build folder}
target=${2:?target}
seconds=${3:?seconds}
out=${4:-fuzz-out/$target}
seed=${5:-1}
root=$(cd "$(dirname "$0")/../.." && pwd)
fuzz=$build/tests/ddnet_fuzz
mkdir -p "$out/crashes" "$out/new"
export OMP_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
start=$(date +%s)
execs=0
runs=0
crashes=0
while :; do
  left=$((start + seconds - $(date +%s)))
  ((left > 0)) || break
  log=$out/run-$seed.log
  set +e
  "$fuzz" "$target" --corpus "$root/tests/fuzz/corpus/$target" --seconds "$left" --seed "$seed" \
    --crashes "$out/crashes" --save-new "$out/new" >"$log" 2>&1
  rc=$?
  set -e
  runs=$((runs + 1))
  n=$( (grep -aoE '[0-9]+ executions in|execution [0-9]+ of this run' "$log" || true) | grep -oE '[0-9]+' | tail -1 || true)
  execs=$((execs + ${n:-0}))
  if ((rc != 0)); then
    crashes=$((crashes + 1))
    (grep -aE 'saved as|SUMMARY|uncaught|Assertion|runtime error|longer than' "$log" || true) | head -4 | sed 's/^/  /'
  fi
  seed=$((seed + 1))
done
elapsed=$(($(date +%s) - start))
echo "long_run: $target: $execs executions in $elapsed s ($((execs / (elapsed > 0 ? elapsed : 1)))/s)," \
  "$runs run(s), $crashes ended by a crash or hang; inputs under $out/crashes"
