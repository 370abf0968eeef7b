#!/usr/bin/env bash
# Rank 1 throws while rank 0 waits in a barrier: both must end within 60 s, the launch non-zero,
# with rank 1's message on stderr.
set -uo pipefail
mpiexec="$1"
probe="$2"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
timeout 60 "$mpiexec" -np 2 "$probe" fault >"$log" 2>&1
rc=$?
took=$(( $(date +%s) - start ))
cat "$log"
[[ $rc -ne 0 ]] || { echo "fault: the launch exited 0"; exit 1; }
[[ $rc -ne 124 ]] || { echo "fault: still running after 60 s (a rank hung)"; exit 1; }
grep -q "rank 1 of 2: step 3: injected failure on this rank" "$log" || { echo "fault: no message"; exit 1; }
echo "fault: every rank ended in ${took} s with exit code $rc"
