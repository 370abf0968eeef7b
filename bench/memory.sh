#!/usr/bin/env bash
# Issue 18: bytes per voxel of one 3D-DDnet training step on the CPU, from `ddnet train`'s own
# accounting (train.jsonl "memory": held after forward and peak, above parameters, gradients,
# moments and batch), in the lean and fast memory modes and lean with stage recompute from level
# 1, beside what PyTorch's autograd saves for the published model (bench/torch/saved_bytes.py,
# when PyTorch is installed). Prints a Markdown table, then the step time of the three modes
# (ROUNDS interleaved rounds, default 6).
# Usage: [ROUNDS=N] bench/memory.sh [ddnet binary] [python]
set -euo pipefail
ddnet=${1:-build/release/tools/ddnet}
py=${2:-/usr/bin/python3}
[[ -x "$ddnet" ]] || { echo "bench/memory.sh: no ddnet binary at '$ddnet' (build first)" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

flags() {  # mode (lean, fast, recompute) -> ddnet train flags
  case "$1" in
    recompute) echo "--memory lean --recompute-from-level 1" ;;
    *) echo "--memory $1" ;;
  esac
}

ours() {  # slices size mode -> "held peak" bytes per voxel (third step)
  rm -rf "$tmp/run"
  # shellcheck disable=SC2046
  "$ddnet" train --model 3d --loader synthetic --slices "$1" --size "$2" --batch 1 \
    --train-samples 3 --val-samples 1 --epochs 1 $(flags "$3") --out "$tmp/run" \
    --progress false >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }
  python3 - "$tmp/run/train.jsonl" <<'PY'
import json, sys
steps = [json.loads(l) for l in open(sys.argv[1]) if '"type":"step"' in l]
m = steps[-1].get("memory")
print("n/a n/a" if m is None else f'{m["held_after_forward_per_voxel"]:.0f} {m["peak_per_voxel"]:.0f}')
PY
}

echo "3D-DDnet training step on the CPU, bytes per input voxel; $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%F)"
echo
echo "| volume | lean: held after forward | lean: peak | fast: held | fast: peak | recompute: held | recompute: peak | PyTorch: saved for backward | peak / PyTorch saved: lean, recompute |"
echo "|---|---|---|---|---|---|---|---|---|"
for shape in "16 64" "32 128"; do
  read -r d s <<<"$shape"
  read -r lh lp < <(ours "$d" "$s" lean)
  read -r fh fp < <(ours "$d" "$s" fast)
  read -r rh rp < <(ours "$d" "$s" recompute)
  torch="n/a (no PyTorch)"
  ratio="n/a"
  if "$py" -c "import torch" 2>/dev/null; then
    t=$("$py" "$here/torch/saved_bytes.py" --slices "$d" --size "$s" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["saved_per_voxel"]))')
    torch="$t"
    ratio=$(python3 -c "print(f'{$lp / $t:.2f}, {$rp / $t:.2f}')" 2>/dev/null || echo n/a)
  fi
  echo "| 1x1x${d}x${s}x${s} | $lh | $lp | $fh | $fp | $rh | $rp | $torch | $ratio |"
done

# Step time of the three modes: interleaved runs (the order rotates each round) at 1x1x16x64x64
# with the thread count fixed (DDNET_CPU_THREADS = cores, so the machine's load does not change
# it), each run's median step after its first two. ROUNDS=0 skips it.
rounds=${ROUNDS:-6}
((rounds > 0)) || exit 0
step_time() {  # mode -> median seconds per step
  rm -rf "$tmp/run"
  # shellcheck disable=SC2046
  DDNET_CPU_THREADS=$(nproc) "$ddnet" train --model 3d --loader synthetic --slices 16 --size 64 \
    --batch 1 --train-samples 10 --val-samples 1 --epochs 1 $(flags "$1") --out "$tmp/run" \
    --progress false >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }
  python3 - "$tmp/run/train.jsonl" <<'PY'
import json, statistics, sys
s = [json.loads(l)["seconds"] for l in open(sys.argv[1]) if '"type":"step"' in l][2:]
print(f"{statistics.median(s):.4f}")
PY
}
lean=() fast=() recompute=()
modes=(lean fast recompute)
for ((r = 0; r < rounds; ++r)); do
  for ((k = 0; k < 3; ++k)); do
    m=${modes[$(((r + k) % 3))]}
    t=$(step_time "$m")
    case "$m" in lean) lean+=("$t") ;; fast) fast+=("$t") ;; recompute) recompute+=("$t") ;; esac
  done
done
echo
python3 - "${lean[*]}" "${fast[*]}" "${recompute[*]}" "$rounds" <<'PY'
import statistics, sys
lean, fast, rec = ([float(x) for x in a.split()] for a in sys.argv[1:4])
print(f"Step time at 1x1x16x64x64, {sys.argv[4]} interleaved rounds of 8 timed steps per mode:")
print()
print("| mode | median s/step (range) |")
print("|---|---|")
for name, v in (("lean", lean), ("fast", fast), ("lean + recompute from level 1", rec)):
    print(f"| {name} | {statistics.median(v):.3f} ({min(v):.3f}-{max(v):.3f}) |")
print()
for name, a, b in (("lean / fast", lean, fast), ("recompute / lean", rec, lean)):
    r = [x / y for x, y in zip(a, b)]
    print(f"{name} per round: median {statistics.median(r):.3f} (range {min(r):.3f}-{max(r):.3f})")
PY
