#!/usr/bin/env bash
# `ddnet` under mpirun: every rank knows its place; `ddnet train` on 2 CPU ranks trains on
# interleaved shards, rank 0 alone writes the log and checkpoints, and the ranks end with the
# same parameters (train checks a checksum on every rank before the final checkpoint); an
# interrupted run exits 130 (143 for SIGTERM) on every rank, naming the signal even on a rank
# that was not signalled.
set -uo pipefail
mpiexec="$1"
ddnet="$2"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$mpiexec" -np 2 "$ddnet" info >"$tmp/info.log" 2>&1 || { cat "$tmp/info.log"; exit 1; }
grep -q "processes: 2 (MPI world; this is rank 0" "$tmp/info.log" || { cat "$tmp/info.log"; exit 1; }
grep -q "processes: 2 (MPI world; this is rank 1" "$tmp/info.log" || { cat "$tmp/info.log"; exit 1; }
"$ddnet" info | grep -q "processes: 1 (no MPI launcher)" || exit 1

timeout 300 "$mpiexec" -np 2 "$ddnet" train --model 2d --loader synthetic --size 32 \
  --train-samples 8 --val-samples 2 --epochs 2 --bucket-mib 0.5 --progress false \
  --out "$tmp/run" >"$tmp/train.log" 2>&1 || { cat "$tmp/train.log"; exit 1; }
grep -q "ddnet train: 2 ranks; communication not hidden by backward" "$tmp/train.log" || { cat "$tmp/train.log"; exit 1; }
[[ -s "$tmp/run/final.h5" ]] || { echo "no final.h5"; exit 1; }
steps=$(grep -c '"type":"step"' "$tmp/run/train.jsonl")
[[ $steps == 8 ]] || { echo "expected 8 logged steps (2 epochs x 8 samples / 2 ranks), got $steps"; exit 1; }
# Resuming under mpirun: every rank reads rank 0's checkpoint and goes on.
timeout 300 "$mpiexec" -np 2 "$ddnet" train --model 2d --loader synthetic --size 32 \
  --train-samples 8 --val-samples 2 --epochs 3 --progress false --out "$tmp/run" --resume \
  >"$tmp/resume.log" 2>&1 || { cat "$tmp/resume.log"; exit 1; }
grep -q "resuming from" "$tmp/resume.log" || { cat "$tmp/resume.log"; exit 1; }
# Interrupted on one rank's signal (--stop-after-steps raises SIGINT on every rank here): both
# ranks stop at the same step, name the signal and exit 130, after rank 0's checkpoint.
rc=0; timeout 300 "$mpiexec" -np 2 "$ddnet" train --model 2d --loader synthetic --size 32 \
  --train-samples 8 --val-samples 2 --epochs 2 --progress false --out "$tmp/int" \
  --stop-after-steps 2 >"$tmp/int.log" 2>&1 || rc=$?
[[ $rc == 130 ]] || { echo "interrupted under mpirun: exit $rc, expected 130"; cat "$tmp/int.log"; exit 1; }
[[ $(grep -c "interrupted (SIGINT, signal 2) at step 2" "$tmp/int.log") == 2 ]] || { cat "$tmp/int.log"; exit 1; }
[[ -s "$tmp/int/checkpoint.h5" ]] || { echo "no checkpoint after the interruption"; exit 1; }
# SIGTERM to one rank alone: the other stops at the same step and names the same signal.
timeout 300 "$mpiexec" -np 2 "$ddnet" train --model 2d --loader synthetic --size 32 \
  --train-samples 8 --val-samples 2 --epochs 100000 --progress false --out "$tmp/term" \
  >"$tmp/term.log" 2>&1 &
launcher=$!
for _ in $(seq 600); do grep -qs '"type":"step"' "$tmp/term/train.jsonl" && break; sleep 0.1; done
rank=$(pgrep -P "$launcher" -x ddnet | head -n 1)
[[ -n "$rank" ]] || rank=$(pgrep -P "$(pgrep -P "$launcher" | head -n 1)" -x ddnet | head -n 1)
[[ -n "$rank" ]] || { echo "no rank process under $launcher"; kill "$launcher"; exit 1; }
kill -TERM "$rank"
rc=0; wait "$launcher" || rc=$?
[[ $rc == 143 ]] || { echo "SIGTERM to one rank: exit $rc, expected 143"; cat "$tmp/term.log"; exit 1; }
[[ $(grep -c "interrupted (SIGTERM, signal 15)" "$tmp/term.log") == 2 ]] || { cat "$tmp/term.log"; exit 1; }
echo "ddnet under mpirun: ranks reported, 2-rank training, resume and interruption"
