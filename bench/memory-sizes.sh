#!/usr/bin/env bash
# Issue 18: one `ddnet train` run per case (synthetic loader, two steps and a validation), with
# the process's peak resident memory (/usr/bin/time %M) beside the step accounting of the second
# step (train.jsonl "memory": tensors held after forward and peak, the allocator's reserved
# peak, the convolution workspaces' peak) and the estimate ddnet printed before the run
# (models/memory_estimate.cpp). Prints a Markdown table: the data the CPU estimates and the GPU
# reserve factors are fitted to (docs/memory.md).
# Usage: bench/memory-sizes.sh [ddnet binary] [case ...]
#   case: model:mode:slices:size[:batch], model 2d or 3d, mode lean, fast or recompute
#   (default: the set docs/memory.md fits, from 16x64^2 to 64x512^2; about 20 minutes on 2 cores
#   and 20 GiB at the largest).
set -euo pipefail
ddnet=${1:-build/release/tools/ddnet}
shift || true
[[ -x "$ddnet" ]] || { echo "bench/memory-sizes.sh: no ddnet binary at '$ddnet' (build first)" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "bench/memory-sizes.sh: needs /usr/bin/time (apt install time)" >&2; exit 2; }
cases=("$@")
if [[ ${#cases[@]} -eq 0 ]]; then
  cases=(3d:lean:16:64 3d:lean:16:128 3d:lean:32:256 3d:lean:32:512 3d:lean:64:512
         3d:recompute:16:64 3d:recompute:16:128 3d:recompute:32:256 3d:recompute:32:512
         3d:recompute:64:512
         3d:fast:16:64 3d:fast:16:128 3d:fast:32:256 3d:fast:16:512
         2d:lean:1:256 2d:lean:1:512 2d:lean:1:1024 2d:lean:1:2048
         2d:recompute:1:256 2d:recompute:1:512 2d:recompute:1:1024 2d:recompute:1:2048
         2d:fast:1:256 2d:fast:1:512 2d:fast:1:1024 2d:fast:1:2048)
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "ddnet train, second step, $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%F), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) threads"
echo
echo "| case | voxels | held B/voxel | peak B/voxel | reserved / peak | workspaces MiB | peak RSS MiB | estimate MiB | estimate / RSS | step s |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for c in "${cases[@]}"; do
  IFS=: read -r model mode slices size batch <<<"$c"
  batch=${batch:-1}
  flags=(--memory lean)
  [[ $mode == fast ]] && flags=(--memory fast)
  [[ $mode == recompute ]] && flags+=(--recompute-from-level 1)
  shape=(--size "$size" --batch "$batch")
  [[ $model == 3d ]] && shape+=(--slices "$slices")
  rm -rf "$tmp/run"
  if ! /usr/bin/time -f "rss_kib %M" -o "$tmp/time" "$ddnet" train --model "$model" \
      --loader synthetic "${shape[@]}" --train-samples 2 --val-samples 1 --epochs 1 \
      "${flags[@]}" --ignore-memory-estimate --out "$tmp/run" --progress false \
      >"$tmp/log" 2>&1; then
    echo "| $c | failed: $(tail -1 "$tmp/log") |"
    continue
  fi
  python3 - "$c" "$tmp/run/train.jsonl" "$tmp/time" "$tmp/log" <<'PY'
import json, re, sys
case, jsonl, timef, logf = sys.argv[1:]
steps = [json.loads(l) for l in open(jsonl) if '"type":"step"' in l]
s = steps[-1]
m = s["memory"]
voxels = round(m["peak_bytes"] / m["peak_per_voxel"])
rss = int(re.search(r"rss_kib (\d+)", open(timef).read()).group(1)) / 1024
est = re.search(r"memory estimate per rank: about ([\d.]+) (MiB|GiB)", open(logf).read())
est_mib = float(est.group(1)) * (1024 if est.group(2) == "GiB" else 1) if est else float("nan")
reserve = (m["reserved_peak_bytes"] - m["base_bytes"]) / m["peak_bytes"]
step_s = s.get("step_seconds", s.get("seconds", float("nan")))
print(f'| {case} | {voxels} | {m["held_after_forward_per_voxel"]:.0f} | {m["peak_per_voxel"]:.0f} | '
      f'{reserve:.2f} | {m["workspace_peak_bytes"] / 2**20:.0f} | {rss:.0f} | {est_mib:.0f} | '
      f'{est_mib / rss:.2f} | {step_s:.2f} |')
PY
done
