#!/usr/bin/env bash
# Issue 23, item 11: a 3D-DDnet training step (1x1x16x64x64, `ddnet train` on synthetic
# phantoms) alone and beside one competing busy process (a shell loop on one core), with the
# thread count fixed at the cores' number (DDNET_CPU_THREADS=N, as before) and following the
# cores the competitor leaves free (the default). Runs are interleaved (fixed alone, fixed busy,
# auto alone, auto busy, in a rotating order) so a drift of the machine hits every arm alike.
# Each run's figure is the median step time after its first two steps (warm-up, and the share's
# first measurement). Prints a Markdown table; the goal is busy/alone <= 2.
# Usage: bench/contention.sh [ddnet binary] [pairs] [steps per run]
set -euo pipefail
ddnet=${1:-build/release/tools/ddnet}
pairs=${2:-5}
steps=${3:-10}
[[ -x "$ddnet" ]] || { echo "bench/contention.sh: no ddnet binary at '$ddnet' (build first)" >&2; exit 2; }
cores=$(nproc)
tmp=$(mktemp -d)
spinner=""
cleanup() { [[ -n "$spinner" ]] && kill "$spinner" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

# run ARM COMPETITOR: prints the median step seconds of one training run
run() {
  local arm=$1 busy=$2 out="$tmp/run"
  rm -rf "$out"
  if [[ $busy == busy ]]; then
    bash -c 'while :; do :; done' &
    spinner=$!
    sleep 0.3
  fi
  # fixed: as before issue 23's item 11: the thread count fixed and libgomp's default spin
  # (GOMP_SPINCOUNT=300000); auto: the command's defaults (the thread count follows the free
  # cores, short spins: engine/parallel.h)
  local env=()
  [[ $arm == fixed ]] && env=(DDNET_CPU_THREADS="$cores" GOMP_SPINCOUNT=300000)
  env "${env[@]}" "$ddnet" train --model 3d --loader synthetic --slices 16 --size 64 --batch 1 \
    --train-samples "$steps" --val-samples 1 --epochs 1 --seed 1 --out "$out" \
    --progress false >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }
  if [[ -n "$spinner" ]]; then kill "$spinner"; wait "$spinner" 2>/dev/null || true; spinner=""; fi
  python3 - "$out/train.jsonl" <<'PY'
import json, statistics, sys
steps = [json.loads(l) for l in open(sys.argv[1]) if '"type":"step"' in l]
s = [r["seconds"] for r in steps[2:]]
t = [r.get("cpu_threads", 0) for r in steps[2:]]
print(f"{statistics.median(s):.4f} {statistics.median(t):g}")
PY
}

declare -A sec thr
arms=("fixed alone" "fixed busy" "auto alone" "auto busy")
for ((p = 0; p < pairs; ++p)); do
  for ((k = 0; k < 4; ++k)); do
    a=${arms[$(((k + p) % 4))]}
    read -r s t < <(run $a)
    sec[$a]+="$s "
    thr[$a]+="$t "
    echo "pair $((p + 1)) $a: ${s} s/step, ${t} threads" >&2
  done
done

cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
echo "3D-DDnet step 1x1x16x64x64, $cores cores ($cpu), $pairs interleaved rounds of $steps steps, $(date -u +%F)"
echo
echo "| threads | alone s/step (median) | beside a busy process | busy / alone | threads used when busy |"
echo "|---|---|---|---|---|"
for arm in fixed auto; do
  python3 - "$arm" "${sec[$arm alone]}" "${sec[$arm busy]}" "${thr[$arm busy]}" <<'PY'
import statistics, sys
arm, alone, busy, thr = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()], sys.argv[4].split()
a, b = statistics.median(alone), statistics.median(busy)
name = "fixed, default spin (as before)" if arm == "fixed" else "auto, short spin (the default)"
print(f"| {name} | {a:.3f} ({min(alone):.3f}-{max(alone):.3f}) | {b:.3f} ({min(busy):.3f}-{max(busy):.3f}) | {b / a:.2f} | {' '.join(thr)} |")
PY
done
