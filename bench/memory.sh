#!/usr/bin/env bash
# Issue 18: bytes per voxel of one 3D-DDnet training step on the CPU, from `ddnet train`'s own
# accounting (train.jsonl "memory": held after forward and peak, above parameters, gradients,
# moments and batch), in lean and fast memory modes, beside what PyTorch's autograd saves for
# the published model (bench/torch/saved_bytes.py, when PyTorch is installed). Prints a Markdown
# table. Usage: bench/memory.sh [ddnet binary] [python]
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
