#!/usr/bin/env bash
# `ddnet prepare` -> `ddnet train` -> `ddnet denoise` end to end on a tiny phantom scan written
# as a MetaImage file: a simulated low-dose partner, slabs, a 3D training run from the dataset,
# scores and figures; and bad input named in the errors.
set -euo pipefail
ddnet="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A 48x32x32 int16 head-like phantom (water disk with a bone ring and two soft-tissue blobs).
python3 - "$tmp/phantom.mha" <<'PY'
import struct, sys, math
d, h, w = 48, 32, 32
vals = []
for k in range(d):
    for i in range(h):
        for j in range(w):
            y, x = (i - 15.5) / 13, (j - 15.5) / 11
            r = math.hypot(x, y)
            v = -1000
            if r < 1: v = 40 if r < 0.85 else 1200
            if math.hypot((i - 12) / 3, (j - 18 - (k % 8) / 4) / 3) < 1: v = 80
            if math.hypot((i - 20) / 2.5, (j - 12) / 2.5) < 1: v = -100
            vals.append(v)
with open(sys.argv[1], "wb") as f:
    f.write(("ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
             "DimSize = %d %d %d\nElementSpacing = 1.5 1.5 2\nElementType = MET_SHORT\n"
             "ElementDataFile = LOCAL\n" % (w, h, d)).encode())
    f.write(struct.pack("<%dh" % len(vals), *vals))
PY

"$ddnet" prepare --out "$tmp/set.h5" --dose 0.25 --photons 20000 --slabs train:16,val:16,test:16 \
  "$tmp/phantom.mha" 2>"$tmp/prepare.log"
grep -q "simulated: parallel beam, dose fraction 0.25" "$tmp/prepare.log" || { cat "$tmp/prepare.log"; exit 1; }
h5ls "$tmp/set.h5" | grep -q "phantom_test" || { h5ls -r "$tmp/set.h5"; exit 1; }

"$ddnet" train --dataset "$tmp/set.h5" --loader random --model 3d --slices 16 --size 32 \
  --samples-per-scan 2 --normalise window --epochs 1 --progress false --out "$tmp/run" 2>"$tmp/train.log"
[[ -s "$tmp/run/final.h5" ]] || { cat "$tmp/train.log"; exit 1; }
[[ $(grep -c '"type":"step"' "$tmp/run/train.jsonl") == 2 ]] || { echo "expected 2 steps"; exit 1; }

"$ddnet" denoise --checkpoint "$tmp/run/final.h5" --dataset "$tmp/set.h5" --split test \
  --out "$tmp/den" >"$tmp/denoise.out" 2>"$tmp/denoise.log"
grep -q "denoised vs standard" "$tmp/denoise.out" || { cat "$tmp/denoise.out" "$tmp/denoise.log"; exit 1; }
[[ -s "$tmp/den/scores.json" ]] || { echo "no scores.json"; exit 1; }
ls "$tmp/den/"phantom_test_slice8_montage.png >/dev/null
ls "$tmp/den/"phantom_test_denoised.mha >/dev/null

# Bad input is named.
if "$ddnet" prepare --out "$tmp/x.h5" "$tmp/nope.mha" 2>"$tmp/e1.log"; then exit 1; fi
grep -q "nope.mha: no such file or folder" "$tmp/e1.log" || { cat "$tmp/e1.log"; exit 1; }
[[ ! -e "$tmp/x.h5" ]] || { echo "a failed prepare left a file"; exit 1; }
if "$ddnet" train --dataset "$tmp/set.h5" --loader strided --slices 32 --size 32 \
  --out "$tmp/r2" 2>"$tmp/e2.log"; then exit 1; fi
grep -q "scan 'phantom_train' has 16 slices, fewer than the 32" "$tmp/e2.log" || { cat "$tmp/e2.log"; exit 1; }
echo "data cli: prepare, train from the dataset, denoise with scores and figures, errors named"
