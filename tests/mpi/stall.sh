#!/usr/bin/env bash
# A rank that stops (SIGSTOP: a hung node, a debugger, a swapped-out process) ends every rank
# after the communication timeout instead of leaving them waiting forever, naming the rank:
# `stall.sh MPIEXEC PROBE DDNET`.
#  1. The probe's `stall` mode: rank 1 stops itself while rank 0 waits in a barrier with a 2 s
#     timeout. The launch must end non-zero within a few seconds of it, naming rank 1, and rank 0
#     must have used little CPU while it waited (it prints its CPU seconds; OpenMPI's blocking
#     calls spin a core at 100%).
#  2. `ddnet train` on 2 CPU ranks with --comm-timeout 3: rank 1 is stopped from outside
#     (kill -STOP) during training. Rank 0 must end the run within about the timeout, naming
#     rank 1; its CPU use while waiting is read from /proc/<pid>/stat.
set -uo pipefail
mpiexec="$1"
probe="$2"
ddnet="$3"
tmp=$(mktemp -d)
pids_to_kill=()
cleanup() {
  for p in "${pids_to_kill[@]}"; do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "stall: $*"; exit 1; }

# 1. The probe.
start=$(date +%s.%N)
timeout 60 "$mpiexec" -np 2 "$probe" stall >"$tmp/probe.log" 2>&1
rc=$?
took=$(echo "$(date +%s.%N) - $start" | bc)
cat "$tmp/probe.log"
[[ $rc -ne 124 ]] || fail "probe: still running after 60 s (rank 0 waited forever)"
[[ $rc -ne 0 ]] || fail "probe: the launch exited 0"
grep -q "rank 0 of 2: .*barrier (collective #2) did not complete within 2 s: rank 1 of 2 did not reach it" \
  "$tmp/probe.log" || fail "probe: no message naming the barrier and rank 1"
(( $(echo "$took < 20" | bc) )) || fail "probe: the launch took ${took} s for a 2 s timeout"
cpu=$(sed -n 's/^stall: rank 0 waited .* (\([0-9.]*\)%)$/\1/p' "$tmp/probe.log")
[[ -n "$cpu" ]] || fail "probe: rank 0 did not report its CPU use"
(( $(echo "$cpu < 25" | bc) )) || fail "probe: rank 0 used ${cpu}% of a core while waiting"
echo "stall: probe ended in ${took} s; rank 0 used ${cpu}% CPU while waiting"

# 2. ddnet train, rank 1 stopped from outside.
"$mpiexec" -np 2 "$ddnet" train --model 2d --loader synthetic --size 32 --train-samples 4000 \
  --val-samples 2 --epochs 50 --progress false --comm-timeout 3 --out "$tmp/run" \
  >"$tmp/train.log" 2>&1 &
launcher=$!
pids_to_kill+=("$launcher")
rank_pid() {  # the pid of rank $1 among the launcher's descendants
  local p
  for p in $(pgrep -f -- "--out $tmp/run"); do
    [[ "$p" != "$launcher" ]] || continue
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1" && { echo "$p"; return; }
  done
}
r0="" r1=""
for _ in $(seq 100); do
  r0=$(rank_pid 0); r1=$(rank_pid 1)
  [[ -n "$r0" && -n "$r1" ]] && break
  sleep 0.1
done
[[ -n "$r0" && -n "$r1" ]] || { cat "$tmp/train.log"; fail "train: ranks not found"; }
pids_to_kill+=("$r0" "$r1")
sleep 3  # into training
kill -0 "$r1" 2>/dev/null || { cat "$tmp/train.log"; fail "train: ended before rank 1 was stopped"; }
kill -STOP "$r1"
stopped=$(date +%s.%N)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null; }
sleep 1
t1=$(ticks "$r0"); s1=$(date +%s.%N)
sleep 2
t2=$(ticks "$r0"); s2=$(date +%s.%N)
for _ in $(seq 300); do kill -0 "$launcher" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$launcher" 2>/dev/null; then
  cat "$tmp/train.log"
  fail "train: still running 30 s after rank 1 stopped (--comm-timeout 3)"
fi
wait "$launcher"
rc=$?
took=$(echo "$(date +%s.%N) - $stopped" | bc)
cat "$tmp/train.log"
[[ $rc -ne 0 ]] || fail "train: the launch exited 0"
grep -q "rank 0 of 2: .*did not complete within 3 s: rank 1 of 2 did not reach it" "$tmp/train.log" ||
  fail "train: no message naming rank 1"
(( $(echo "$took < 15" | bc) )) || fail "train: ended ${took} s after rank 1 stopped"
if [[ -n "$t1" && -n "$t2" ]]; then
  hz=$(getconf CLK_TCK)
  cpu=$(echo "scale=1; 100 * ($t2 - $t1) / $hz / ($s2 - $s1)" | bc)
  echo "stall: train ended ${took} s after rank 1 stopped; rank 0 used ${cpu}% CPU while waiting"
  (( $(echo "$cpu < 25" | bc) )) || fail "train: rank 0 used ${cpu}% of a core while waiting"
fi
