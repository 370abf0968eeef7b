#!/usr/bin/env bash
# `ddnet` under mpirun: every rank knows its place, and train (until the gradient reducer lands)
# refuses to run as several processes instead of letting ranks overwrite one run folder; every
# rank ends non-zero.
set -uo pipefail
mpiexec="$1"
ddnet="$2"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$mpiexec" -np 2 "$ddnet" info >"$log" 2>&1 || { cat "$log"; exit 1; }
grep -q "processes: 2 (MPI world; this is rank 0" "$log" || { cat "$log"; exit 1; }
grep -q "processes: 2 (MPI world; this is rank 1" "$log" || { cat "$log"; exit 1; }
"$ddnet" info | grep -q "processes: 1 (no MPI launcher)" || exit 1
if timeout 60 "$mpiexec" -np 2 "$ddnet" train --epochs 1 --out "$(mktemp -d)" >"$log" 2>&1; then
  cat "$log"; echo "train under mpirun -np 2 should be refused"; exit 1
fi
grep -q "rank 0 of 2: ddnet train was launched as 2 processes" "$log" || { cat "$log"; exit 1; }
echo "ddnet under mpirun: ranks reported, multi-process train refused"
