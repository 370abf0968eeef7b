#!/usr/bin/env bash
# `ddnet prepare` and `ddnet denoise` interrupted: SIGINT while prepare simulates a low-dose
# partner exits 130 and leaves no temporary file or hidden temporary folder (and no dataset);
# SIGTERM exits 143 and leaves an earlier dataset as it was; SIGINT while denoise runs its tiles
# exits 130 and leaves no temporary; temporaries that a run killed with -9 left behind do not
# stop a new run. Exit 77 (SKIPPED) in a build without ITK (the input is a MetaImage file).
set -euo pipefail
ddnet="$1"
if [[ "${DDNET_TEST_HAVE_ITK:-ON}" == OFF ]]; then echo "SKIPPED: this build has no ITK (scan files)"; exit 77; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Int16 phantoms: a water disk with a bone ring, the same slice repeated.
phantom() {  # path slices size
  python3 - "$1" "$2" "$3" <<'PY'
import struct, sys, math
path, d, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = (n - 1) / 2
row = []
for i in range(n):
    for j in range(n):
        r = math.hypot((i - c) / (0.45 * n), (j - c) / (0.4 * n))
        row.append(-1000 if r >= 1 else (40 if r < 0.85 else 1200))
sl = struct.pack("<%dh" % len(row), *row)
with open(path, "wb") as f:
    f.write(("ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
             "DimSize = %d %d %d\nElementSpacing = 1 1 1\nElementType = MET_SHORT\n"
             "ElementDataFile = LOCAL\n" % (n, n, d)).encode())
    for _ in range(d): f.write(sl)
PY
}
phantom "$tmp/small.mha" 8 32
phantom "$tmp/big.mha" 1000 128  # about 30 s of simulation on 2 cores: interrupted well before

# Only what a run leaves behind, hidden entries included.
leftovers() { find "$1" -mindepth 1 \( -name '*.tmp*' -o -name '.*' \) -print; }

# Waits (up to 60 s) for a line in a log, then sends a signal; the exit code in $rc.
interrupt() {  # pid log pattern signal
  for _ in $(seq 600); do grep -q "$3" "$2" && break; sleep 0.1; done
  grep -q "$3" "$2" || { echo "never saw '$3'"; cat "$2"; exit 1; }
  kill "-$4" "$1"
  rc=0; wait "$1" || rc=$?
}

# SIGINT while prepare simulates the low dose of the big scan: 130, nothing left.
mkdir "$tmp/out"
"$ddnet" prepare --out "$tmp/out/set.h5" "$tmp/big.mha" 2>"$tmp/p1.log" &
interrupt $! "$tmp/p1.log" "read $tmp/big.mha" INT
[[ $rc == 130 ]] || { echo "prepare SIGINT: exit $rc, expected 130"; cat "$tmp/p1.log"; exit 1; }
grep -q "interrupted (SIGINT, signal 2)" "$tmp/p1.log" || { cat "$tmp/p1.log"; exit 1; }
[[ ! -e "$tmp/out/set.h5" ]] || { echo "prepare SIGINT: a dataset was written"; exit 1; }
[[ -z "$(leftovers "$tmp/out")" ]] || { echo "prepare SIGINT left:"; leftovers "$tmp/out"; exit 1; }

# Temporaries of a run killed with -9 (any pid) do not stop a new one; SIGTERM keeps the old set.
echo "half a dataset" >"$tmp/out/set.h5.tmp-99999"
mkdir "$tmp/out/.set.h5.tmp-99999-0"
"$ddnet" prepare --out "$tmp/out/set.h5" --slabs train:4,val:2,test:2 "$tmp/small.mha" >/dev/null 2>"$tmp/p2.log" ||
  { echo "prepare after a killed run failed"; cat "$tmp/p2.log"; exit 1; }
rm -rf "$tmp/out/set.h5.tmp-99999" "$tmp/out/.set.h5.tmp-99999-0"
sum=$(md5sum <"$tmp/out/set.h5")
"$ddnet" prepare --out "$tmp/out/set.h5" "$tmp/big.mha" 2>"$tmp/p3.log" &
interrupt $! "$tmp/p3.log" "read $tmp/big.mha" TERM
[[ $rc == 143 ]] || { echo "prepare SIGTERM: exit $rc, expected 143"; cat "$tmp/p3.log"; exit 1; }
[[ "$(md5sum <"$tmp/out/set.h5")" == "$sum" ]] || { echo "prepare SIGTERM changed set.h5"; exit 1; }
[[ -z "$(leftovers "$tmp/out")" ]] || { echo "prepare SIGTERM left:"; leftovers "$tmp/out"; exit 1; }

# SIGINT while denoise runs its tiles: 130, no output, nothing left.
cat >"$tmp/config.json" <<JSON
{"model": "2d", "size": 32, "train_samples": 1, "val_samples": 1, "epochs": 1, "progress": false}
JSON
"$ddnet" train --config "$tmp/config.json" --out "$tmp/run" 2>"$tmp/train.log" || { cat "$tmp/train.log"; exit 1; }
mkdir "$tmp/den"
"$ddnet" denoise --checkpoint "$tmp/run/final.h5" --input "$tmp/big.mha" --tile 64x64 \
  --output "$tmp/den/big.mha" 2>"$tmp/d1.log" &
interrupt $! "$tmp/d1.log" "voxels read, denoising" INT
[[ $rc == 130 ]] || { echo "denoise SIGINT: exit $rc, expected 130"; cat "$tmp/d1.log"; exit 1; }
grep -q "interrupted (SIGINT, signal 2)" "$tmp/d1.log" || { cat "$tmp/d1.log"; exit 1; }
[[ -z "$(ls -A "$tmp/den")" ]] || { echo "denoise SIGINT left:"; ls -A "$tmp/den"; exit 1; }
echo "ok"
