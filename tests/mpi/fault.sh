#!/usr/bin/env bash
# A rank that fails ends every rank: `fault.sh MPIEXEC PROBE MODE`, MODE `fault` (rank 1 throws
# while rank 0 waits in a barrier) or `fault-train` (rank 1's data fails at training step 3
# while rank 0 goes into the step's gradient all-reduce). Both ranks must end within 60 s, the
# launch non-zero, with rank 1's message on stderr.
set -uo pipefail
mpiexec="$1"
probe="$2"
mode="${3:-fault}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
timeout 60 "$mpiexec" -np 2 "$probe" "$mode" >"$log" 2>&1
rc=$?
took=$(( $(date +%s) - start ))
cat "$log"
[[ $rc -ne 0 ]] || { echo "$mode: the launch exited 0"; exit 1; }
[[ $rc -ne 124 ]] || { echo "$mode: still running after 60 s (a rank hung)"; exit 1; }
grep -q "rank 1 of 2: .*step 3: injected failure on this rank" "$log" ||
  { echo "$mode: no message naming rank 1's failure"; exit 1; }
echo "$mode: every rank ended in ${took} s with exit code $rc"
