#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: installs what it needs, builds `ddnet`, imports the
# real head CT that Debian's invesalius-examples ships (Cranium.inv3: 108x256x256 int16 HU),
# simulates a quarter-dose partner (projection-domain Poisson noise, FBP), prepares the dataset
# (train / test / val slabs of the scan), trains 3D-DDnet briefly (CPU by default, the GPU when
# there is one), denoises the test slab, prints MSE, PSNR, MS-SSIM and RMSE before and after, and
# writes PNG figures. About 10-15 minutes on 2 cores; safe to run twice (each run starts over).
#
#   scripts/main.sh [--epochs N] [--samples-per-scan N] [--size N] [--device cpu|cuda]
#                   [--dose F] [--out DIR] [--config FILE]
# Longer run:  scripts/main.sh --epochs 30 --samples-per-scan 48
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$root/runs/main"
config="$root/configs/main.json"
dose=0.25
device=""
train_args=()
while (($#)); do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --config) config="$2"; shift 2 ;;
    --dose) dose="$2"; shift 2 ;;
    --device) device="$2"; shift 2 ;;
    --epochs | --samples-per-scan | --size | --slices | --lr | --seed)
      train_args+=("$1" "$2"); shift 2 ;;
    -h | --help) sed -n 2,12p "$0"; exit 0 ;;
    *) echo "main.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

"$root/scripts/setup.sh" --main
cmake --preset release -S "$root" >/dev/null
cmake --build "$root/build/release" --target ddnet
ddnet="$root/build/release/tools/ddnet"
if [[ -z "$device" ]]; then
  if "$ddnet" info | grep -q "^  cuda:0"; then device=cuda; else device=cpu; fi
fi

scan=/usr/share/doc/invesalius-examples/examples/Cranium.inv3
[[ -f "$scan" ]] || { echo "main.sh: $scan is missing (package invesalius-examples)" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out"
start=$(date +%s)

echo "== 1/3 prepare: import $scan, simulate ${dose} dose, cut train/test/val slabs"
"$ddnet" prepare --out "$out/cranium.h5" --dose "$dose" --seed 0 \
  --slabs train:52,test:32,val:rest "$scan"

echo "== 2/3 train 3D-DDnet on $device ($config ${train_args[*]:-})"
"$ddnet" train --config "$config" --dataset "$out/cranium.h5" --device "$device" \
  --out "$out/train" "${train_args[@]}"

echo "== 3/3 denoise the test slab and score it against the standard dose"
"$ddnet" denoise --checkpoint "$out/train/final.h5" --dataset "$out/cranium.h5" --split test \
  --device "$device" --out "$out/denoised" | tee "$out/scores.txt"

echo "== done in $(( $(date +%s) - start )) s: scores $out/scores.txt, figures $out/denoised/*.png," \
     "logs $out/train/train.jsonl"
