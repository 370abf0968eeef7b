#!/usr/bin/env bash
# Issue 18: bytes per voxel of one 3D-DDnet training step on the CPU, from `ddnet train`'s own
# accounting (train.jsonl "memory": held after forward and peak, above parameters, gradients,
# moments and batch), in lean and fast memory modes, beside what PyTorch's autograd saves for
# the published model (bench/torch/saved_bytes.py, when PyTorch is installed). Prints a Markdown
# table, then the step time of lean against fast (ROUNDS interleaved pairs, default 6).
# Usage: [ROUNDS=N] bench/memory.sh [ddnet binary] [python]
set -euo pipefail
ddnet=${1:-build/release/tools/ddnet}
py=${2:-/usr/bin/python3}
[[ -x "$ddnet" ]] || { echo "bench/memory.sh: no ddnet binary at '$ddnet' (build first)" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ours() {  # slices size mode -> "held peak" bytes per voxel (third step)
  rm -rf "$tmp/run"
  "$ddnet" train --model 3d --loader synthetic --slices "$1" --size "$2" --batch 1 \
    --train-samples 3 --val-samples 1 --epochs 1 --memory "$3" --out "$tmp/run" \
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
echo "| volume | lean: held after forward | lean: peak | fast: held | fast: peak | PyTorch: saved for backward | lean peak / PyTorch saved |"
echo "|---|---|---|---|---|---|---|"
for shape in "16 64" "32 128"; do
  read -r d s <<<"$shape"
  read -r lh lp < <(ours "$d" "$s" lean)
  read -r fh fp < <(ours "$d" "$s" fast)
  torch="n/a (no PyTorch)"
  ratio="n/a"
  if "$py" -c "import torch" 2>/dev/null; then
    t=$("$py" "$here/torch/saved_bytes.py" --slices "$d" --size "$s" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["saved_per_voxel"]))')
    torch="$t"
    ratio=$(python3 -c "print(f'{$lp / $t:.2f}')" 2>/dev/null || echo n/a)
  fi
  echo "| 1x1x${d}x${s}x${s} | $lh | $lp | $fh | $fp | $torch | $ratio |"
done

# Step time, lean against fast: interleaved runs (lean, fast, fast, lean, ...) at 1x1x16x64x64
# with the thread count fixed (DDNET_CPU_THREADS = cores, so the machine's load does not change
# it), each run's median step after its first two. ROUNDS=0 skips it.
rounds=${ROUNDS:-6}
((rounds > 0)) || exit 0
step_time() {  # mode -> median seconds per step
  rm -rf "$tmp/run"
  DDNET_CPU_THREADS=$(nproc) "$ddnet" train --model 3d --loader synthetic --slices 16 --size 64 \
    --batch 1 --train-samples 10 --val-samples 1 --epochs 1 --memory "$1" --out "$tmp/run" \
    --progress false >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }
  python3 - "$tmp/run/train.jsonl" <<'PY'
import json, statistics, sys
s = [json.loads(l)["seconds"] for l in open(sys.argv[1]) if '"type":"step"' in l][2:]
print(f"{statistics.median(s):.4f}")
PY
}
lean=() fast=()
for ((r = 0; r < rounds; ++r)); do
  if ((r % 2 == 0)); then lean+=("$(step_time lean)"); fast+=("$(step_time fast)")
  else fast+=("$(step_time fast)"); lean+=("$(step_time lean)"); fi
done
echo
python3 - "${lean[*]}" "${fast[*]}" "$rounds" <<'PY'
import statistics, sys
lean = [float(x) for x in sys.argv[1].split()]; fast = [float(x) for x in sys.argv[2].split()]
ratios = [l / f for l, f in zip(lean, fast)]
print(f"Step time at 1x1x16x64x64, {sys.argv[3]} interleaved pairs of 8 timed steps each:")
print()
print("| mode | median s/step (range) |")
print("|---|---|")
print(f"| lean | {statistics.median(lean):.3f} ({min(lean):.3f}-{max(lean):.3f}) |")
print(f"| fast | {statistics.median(fast):.3f} ({min(fast):.3f}-{max(fast):.3f}) |")
print()
print(f"lean / fast per pair: median {statistics.median(ratios):.3f} (range {min(ratios):.3f}-{max(ratios):.3f})")
PY
