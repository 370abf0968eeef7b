#!/usr/bin/env bash
# `ddnet --device cuda` end to end on the CUDA emulator (tests/sim; never a GPU): training with the
# prefetcher for two epochs, an interrupted run resumed to exactly the uninterrupted run's losses,
# denoising a scan in tiles (against the CPU), and (with an MPI launcher) a data-parallel run of
# two ranks on the emulator's two devices through its NCCL. 2D-DDnet throughout, to keep the
# emulated run short; 3D-DDnet's CUDA forward and backward are the emulated parity entries.
# Two ctest entries: `one` (a single process: training, resume, denoising) and `ranks` (the
# two-rank run, which alone needs both cores).
#   e2e.sh <ddnet> one
#   e2e.sh <ddnet> ranks <mpiexec>
set -euo pipefail
ddnet="$1"
mode="${2:-}"
mpiexec="${3:-}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
common=(--device cuda --model 2d --loader synthetic --size 32 --val-samples 1 --progress false)

if [[ $mode == ranks ]]; then
  [[ -n $mpiexec ]] || { echo "e2e.sh ranks: no MPI launcher given"; exit 2; }
  # Two epochs of two samples: one step per rank and epoch, each with an all-reduce in buckets.
  timeout 600 "$mpiexec" -np 2 "$ddnet" train "${common[@]}" --train-samples 2 --epochs 2 \
    --bucket-mib 0.5 --out "$tmp/dp" >"$tmp/dp.log" 2>&1 || { cat "$tmp/dp.log"; exit 1; }
  grep -q "2 ranks" "$tmp/dp.log" || { cat "$tmp/dp.log"; exit 1; }
  steps=$(grep -c '"type":"step"' "$tmp/dp/train.jsonl")
  [[ $steps == 2 ]] || { echo "expected 2 logged steps (2 epochs x 2 samples / 2 ranks), got $steps"; exit 1; }
  echo "emulated CUDA end to end: 2-rank data-parallel training"
  exit 0
fi
[[ $mode == one ]] || { echo "e2e.sh: unknown mode '$mode' (one or ranks)"; exit 2; }

"$ddnet" info >"$tmp/info.log" 2>&1 || { cat "$tmp/info.log"; exit 1; }
grep -q "ddnet CUDA emulator device 1" "$tmp/info.log" || { echo "the emulator's devices are not listed"; cat "$tmp/info.log"; exit 1; }

"$ddnet" train "${common[@]}" --train-samples 2 --epochs 2 --out "$tmp/a" 2>"$tmp/a.log" || { cat "$tmp/a.log"; exit 1; }
[[ $(grep -c '"type":"epoch"' "$tmp/a/train.jsonl") == 2 ]] || { echo "expected 2 epochs"; exit 1; }
"$ddnet" train "${common[@]}" --train-samples 2 --epochs 2 --out "$tmp/b" --stop-after-steps 1 2>"$tmp/b.log" || true
grep -q "interrupted" "$tmp/b.log" || { echo "no interruption"; cat "$tmp/b.log"; exit 1; }
"$ddnet" train "${common[@]}" --train-samples 2 --epochs 2 --out "$tmp/b" --resume 2>>"$tmp/b.log" || { cat "$tmp/b.log"; exit 1; }
last() { grep '"type":"epoch"' "$1" | tail -n 1 | sed 's/.*"val_loss":\([^,}]*\).*/\1/'; }
[[ "$(last "$tmp/a/train.jsonl")" == "$(last "$tmp/b/train.jsonl")" ]] || {
  echo "resumed CUDA run differs: $(last "$tmp/a/train.jsonl") vs $(last "$tmp/b/train.jsonl")"; exit 1; }
loss=$(last "$tmp/a/train.jsonl")
python3 -c "import math,sys; v=float(sys.argv[1]); sys.exit(0 if math.isfinite(v) and v > 0 else 1)" "$loss" || {
  echo "validation loss $loss is not a positive finite number"; exit 1; }

# Denoise a 3x40x40 scan in overlapping tiles on the device (4 tiles a slice, in batches of 3);
# the same on the CPU agrees.
python3 - "$tmp/scan.mha" <<'PY'
import struct, sys, math
d, h, w = 3, 40, 40
vals = [int(-1000 + 1100 * (math.hypot(i - 20, j - 20) < 15) + 30 * math.sin(k + i * 0.3))
        for k in range(d) for i in range(h) for j in range(w)]
with open(sys.argv[1], "wb") as f:
    f.write(("ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
             "DimSize = %d %d %d\nElementSpacing = 1 1 1\nElementType = MET_SHORT\n"
             "ElementDataFile = LOCAL\n" % (w, h, d)).encode())
    f.write(struct.pack("<%dh" % len(vals), *vals))
PY
"$ddnet" denoise --device cuda --checkpoint "$tmp/a/final.h5" --input "$tmp/scan.mha" --tile 32 \
  --overlap 8 --batch 3 --output "$tmp/gpu.mha" 2>"$tmp/d.log" || { cat "$tmp/d.log"; exit 1; }
grep -q "tile(s)" "$tmp/d.log" || { cat "$tmp/d.log"; exit 1; }
"$ddnet" denoise --device cpu --checkpoint "$tmp/a/final.h5" --input "$tmp/scan.mha" --tile 32 \
  --overlap 8 --batch 3 --output "$tmp/cpu.mha" 2>"$tmp/dc.log" || { cat "$tmp/dc.log"; exit 1; }
python3 - "$tmp/gpu.mha" "$tmp/cpu.mha" <<'PY'
import sys
import array, zlib
def voxels(p):  # a MetaImage file's voxels (ddnet writes them zlib-compressed)
    b = open(p, "rb").read()
    end = b.index(b"ElementDataFile = LOCAL\n") + len(b"ElementDataFile = LOCAL\n")
    head, data = b[:end], b[end:]
    if b"CompressedData = True" in head:
        data = zlib.decompress(data)
    a = array.array("h" if b"MET_SHORT" in head else "f")
    a.frombytes(data)
    return a
g, c = voxels(sys.argv[1]), voxels(sys.argv[2])
assert len(g) == len(c) and len(g) > 0, (len(g), len(c))
worst = max(abs(float(x) - float(y)) for x, y in zip(g, c))
print("denoise cuda vs cpu: worst difference", worst)
sys.exit(0 if worst <= 0.05 else 1)  # HU; float summation orders differ
PY

echo "emulated CUDA end to end: train (prefetcher, 2 epochs, resume), tiled denoise"
