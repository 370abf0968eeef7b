#!/usr/bin/env bash
# `ddnet train` end to end on tiny synthetic volumes: a config file with a command-line override,
# logs and checkpoints, an unknown config key as a clear error, and a run interrupted after 3
# steps and resumed ending with exactly the uninterrupted run's losses.
set -euo pipefail
ddnet="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/config.json" <<JSON
{"model": "2d", "size": 32, "train_samples": 4, "val_samples": 1, "epochs": 3, "progress": false}
JSON
"$ddnet" train --config "$tmp/config.json" --epochs 2 --out "$tmp/a" 2>"$tmp/a.log"
for f in checkpoint.h5 checkpoint_epoch1.h5 checkpoint_epoch2.h5 final.h5 train.jsonl; do
  [[ -s "$tmp/a/$f" ]] || { echo "missing $tmp/a/$f"; exit 1; }
done
[[ $(grep -c '"type":"epoch"' "$tmp/a/train.jsonl") == 2 ]] || { echo "expected 2 epoch records (override of epochs)"; exit 1; }
"$ddnet" train --config "$tmp/config.json" --epochs 2 --out "$tmp/b" --stop-after-steps 3 2>"$tmp/b.log"
grep -q "interrupted" "$tmp/b.log" || { echo "no interruption message"; cat "$tmp/b.log"; exit 1; }
"$ddnet" train --config "$tmp/config.json" --epochs 2 --out "$tmp/b" --resume 2>>"$tmp/b.log"
last() { grep '"type":"epoch"' "$1" | tail -n 1 | sed 's/.*"val_loss":\([^,}]*\).*/\1/'; }
[[ "$(last "$tmp/a/train.jsonl")" == "$(last "$tmp/b/train.jsonl")" ]] || {
  echo "resumed run differs: $(last "$tmp/a/train.jsonl") vs $(last "$tmp/b/train.jsonl")"; exit 1; }
echo '{"modle": "2d"}' >"$tmp/bad.json"
if "$ddnet" train --config "$tmp/bad.json" 2>"$tmp/bad.log"; then echo "unknown key accepted"; exit 1; fi
grep -q "unknown key 'modle'" "$tmp/bad.log" || { cat "$tmp/bad.log"; exit 1; }
echo "train cli: logs, checkpoints, override, resume and config errors as expected"
