#!/usr/bin/env bash
# `ddnet train` end to end on tiny synthetic volumes: a config file with a command-line override,
# logs and checkpoints, an unknown config key as a clear error, a run interrupted after 3 steps
# (exit 130) and resumed ending with exactly the uninterrupted run's losses, SIGTERM (exit 143), a
# folder holding a run refused without --resume or --overwrite, options out of range refused, and
# stage recompute's losses equal to the run without it.
set -euo pipefail
ddnet="$1"
# An AddressSanitizer build? (Read ldd's whole output: `ldd | grep -q` under pipefail fails when
# grep exits before ldd has written everything, SIGPIPE, and the answer flips.)
asan=false
if [[ $(ldd "$ddnet" 2>/dev/null) == *libasan* ]]; then asan=true; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/config.json" <<JSON
{"model": "2d", "size": 32, "train_samples": 4, "val_samples": 1, "epochs": 3, "progress": false}
JSON
"$ddnet" train --config "$tmp/config.json" --epochs 2 --out "$tmp/a" 2>"$tmp/a.log"
for f in checkpoint.h5 checkpoint_epoch1.h5 checkpoint_epoch2.h5 final.h5 train.jsonl; do
  [[ -s "$tmp/a/$f" ]] || { echo "missing $tmp/a/$f"; exit 1; }
done
# The memory record of every step (issue 18): tensors held after forward and their peak, the
# allocator's reserved peak and the convolution workspaces, in bytes and per voxel. (Builds with
# AddressSanitizer bypass the host allocator: no record there.)
if ! $asan; then
  python3 - "$tmp/a/train.jsonl" <<'PY' || exit 1
import json, sys
steps = [json.loads(l) for l in open(sys.argv[1]) if '"type":"step"' in l]
for s in steps:
    m = s.get("memory")
    keys = ("held_after_forward_bytes", "peak_bytes", "reserved_peak_bytes", "workspace_peak_bytes",
            "held_after_forward_per_voxel", "peak_per_voxel", "workspace_peak_per_voxel")
    if m is None or any(k not in m for k in keys):
        sys.exit(f"step {s['step']}: memory record {m} lacks one of {keys}")
    if not (0 < m["held_after_forward_bytes"] <= m["peak_bytes"] and m["workspace_peak_bytes"] > 0):
        sys.exit(f"step {s['step']}: implausible memory record {m}")
PY
fi
# Stage recompute (issue 18): the same losses, step for step.
"$ddnet" train --config "$tmp/config.json" --epochs 2 --recompute-from-level 1 --out "$tmp/r" 2>"$tmp/r.log"
losses() { grep -o '"loss":[^,]*' "$1"; }
[[ "$(losses "$tmp/a/train.jsonl")" == "$(losses "$tmp/r/train.jsonl")" ]] ||
  { echo "--recompute-from-level 1 changed the losses"; paste <(losses "$tmp/a/train.jsonl") <(losses "$tmp/r/train.jsonl"); exit 1; }
[[ $(grep -c '"type":"epoch"' "$tmp/a/train.jsonl") == 2 ]] || { echo "expected 2 epoch records (override of epochs)"; exit 1; }
# Each epoch record has the validation loss's parts and the process's CPU time (scripts/experiment.py
# draws its curves from them): val_loss = val_mse + gamma (1 - val_msssim).
python3 - "$tmp/a/train.jsonl" <<'PY' || exit 1
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if '"type":"epoch"' in l]
for r in recs:
    for k in ("val_loss", "val_mse", "val_msssim", "process_cpu_seconds"):
        assert k in r, f"epoch record without {k}: {r}"
    assert abs(r["val_loss"] - (r["val_mse"] + 0.1 * (1 - r["val_msssim"]))) < 1e-6 * max(1, r["val_loss"]), r
assert 0 < recs[0]["process_cpu_seconds"] <= recs[1]["process_cpu_seconds"], recs
PY
# Interrupted (--stop-after-steps raises SIGINT): the checkpoint, then exit 130, not 0.
rc=0; "$ddnet" train --config "$tmp/config.json" --epochs 2 --out "$tmp/b" --stop-after-steps 3 2>"$tmp/b.log" || rc=$?
[[ $rc == 130 ]] || { echo "SIGINT: exit $rc, expected 130"; cat "$tmp/b.log"; exit 1; }
grep -q "interrupted (SIGINT, signal 2) at step 3" "$tmp/b.log" || { echo "no interruption message"; cat "$tmp/b.log"; exit 1; }
"$ddnet" train --config "$tmp/config.json" --epochs 2 --out "$tmp/b" --resume 2>>"$tmp/b.log"
last() { grep '"type":"epoch"' "$1" | tail -n 1 | sed 's/.*"val_loss":\([^,}]*\).*/\1/'; }
[[ "$(last "$tmp/a/train.jsonl")" == "$(last "$tmp/b/train.jsonl")" ]] || {
  echo "resumed run differs: $(last "$tmp/a/train.jsonl") vs $(last "$tmp/b/train.jsonl")"; exit 1; }
# SIGTERM (a batch scheduler's stop): the checkpoint, then exit 143.
"$ddnet" train --config "$tmp/config.json" --epochs 100000 --out "$tmp/t" 2>"$tmp/t.log" &
pid=$!
for _ in $(seq 600); do grep -qs '"type":"step"' "$tmp/t/train.jsonl" && break; sleep 0.1; done
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
[[ $rc == 143 ]] || { echo "SIGTERM: exit $rc, expected 143"; cat "$tmp/t.log"; exit 1; }
grep -q "interrupted (SIGTERM, signal 15)" "$tmp/t.log" || { cat "$tmp/t.log"; exit 1; }
[[ -s "$tmp/t/checkpoint.h5" ]] || { echo "SIGTERM: no checkpoint"; exit 1; }

# A folder that holds a run is continued (--resume) or replaced (--overwrite), never mixed into.
sum=$(md5sum <"$tmp/a/train.jsonl")
if "$ddnet" train --config "$tmp/config.json" --epochs 2 --out "$tmp/a" 2>"$tmp/again.log"; then
  echo "a second run into $tmp/a was accepted"; exit 1; fi
grep -q "already holds a training run (checkpoint.h5, checkpoint_epoch1.h5, checkpoint_epoch2.h5, final.h5, train.jsonl): give --resume" \
  "$tmp/again.log" || { cat "$tmp/again.log"; exit 1; }
[[ "$(md5sum <"$tmp/a/train.jsonl")" == "$sum" ]] || { echo "the refused run touched train.jsonl"; exit 1; }
"$ddnet" train --config "$tmp/config.json" --epochs 1 --out "$tmp/a" --overwrite 2>"$tmp/over.log" || { cat "$tmp/over.log"; exit 1; }
[[ $(grep -c '"type":"epoch"' "$tmp/a/train.jsonl") == 1 ]] || { echo "--overwrite appended to the old log"; exit 1; }
[[ ! -e "$tmp/a/checkpoint_epoch2.h5" ]] || { echo "--overwrite kept the old run's checkpoint_epoch2.h5"; exit 1; }
if "$ddnet" train --config "$tmp/config.json" --out "$tmp/a" --resume --overwrite 2>"$tmp/ro.log"; then exit 1; fi
grep -q "excludes" "$tmp/ro.log" || { cat "$tmp/ro.log"; exit 1; }
if "$ddnet" train --config "$tmp/config.json" --model 3d --out "$tmp/new" --donor "$tmp/new/final.h5" \
  2>"$tmp/donor.log"; then exit 1; fi
grep -q "donor $tmp/new/final.h5 is a file the run writes into --out" "$tmp/donor.log" || { cat "$tmp/donor.log"; exit 1; }

# Options out of range or of the wrong kind are refused before any work, naming the option.
refused() {  # refused <expected message> <train options...>
  local want="$1"; shift
  if "$ddnet" train --config "$tmp/config.json" --out "$tmp/never" "$@" 2>"$tmp/opt.log"; then
    echo "accepted: $*"; exit 1; fi
  grep -qF -- "$want" "$tmp/opt.log" || { echo "for $*:"; cat "$tmp/opt.log"; exit 1; }
  [[ ! -e "$tmp/never" ]] || { echo "refused run left $tmp/never: $*"; exit 1; }
}
refused "--seed" --seed -1
# Usage errors exit 2 (CLI11's own codes are 100-127).
rc=0; "$ddnet" train --no-such-option 2>/dev/null || rc=$?
[[ $rc == 2 ]] || { echo "unknown option: exit $rc, expected 2"; exit 1; }
rc=0; "$ddnet" train --seed -1 --out "$tmp/never" 2>/dev/null || rc=$?
[[ $rc == 2 ]] || { echo "--seed -1: exit $rc, expected 2"; exit 1; }
"$ddnet" --help >/dev/null || { echo "--help did not exit 0"; exit 1; }
refused "loss_gamma -1: must be >= 0" --loss-gamma -1
refused "clip_norm -0.5: must be >= 0" --clip-norm -0.5
refused "--epochs" --epochs 1.5
refused "recompute_from_level 5: expected 0 (off) or a level from 1 to 4" --recompute-from-level 5
refused "--epochs" --epochs 99999999999999
echo '{"epochs": 1.5}' >"$tmp/frac.json"
if "$ddnet" train --config "$tmp/frac.json" --out "$tmp/never" 2>"$tmp/frac.log"; then echo "epochs 1.5 accepted"; exit 1; fi
grep -q "key 'epochs' is 1.5; expected an integer" "$tmp/frac.log" || { cat "$tmp/frac.log"; exit 1; }
echo '{"epochs": 99999999999999}' >"$tmp/big.json"
if "$ddnet" train --config "$tmp/big.json" --out "$tmp/never" 2>"$tmp/big.log"; then echo "epochs 99999999999999 accepted"; exit 1; fi
grep -q "key 'epochs' is 99999999999999; expected an integer in" "$tmp/big.log" || { cat "$tmp/big.log"; exit 1; }

echo '{"modle": "2d"}' >"$tmp/bad.json"
if "$ddnet" train --config "$tmp/bad.json" 2>"$tmp/bad.log"; then echo "unknown key accepted"; exit 1; fi
grep -q "unknown key 'modle'" "$tmp/bad.log" || { cat "$tmp/bad.log"; exit 1; }
# Too large for memory (issue 23, item 9): refused at once with the estimate, not OOM-killed
# after minutes. 2D-DDnet on a 65536^2 crop needs terabytes; the refusal comes before any work
# (no run folder) within seconds. (Under ulimit -v, so that a build without the estimate fails
# to allocate instead of taking the machine's memory; not with AddressSanitizer, whose shadow
# memory needs terabytes of address space.)
limit="ulimit -v 4000000"
if $asan; then limit=true; fi
start=$(date +%s)
rc=0; ($limit; exec "$ddnet" train --model 2d --size 65536 --progress false \
  --out "$tmp/huge") >"$tmp/huge.log" 2>&1 || rc=$?
took=$(( $(date +%s) - start ))
[[ $rc == 1 ]] || { echo "a 65536^2 crop: exit $rc, expected 1"; cat "$tmp/huge.log"; exit 1; }
grep -q "train: this needs about .* TiB\|train: this needs about .* GiB" "$tmp/huge.log" &&
  grep -q "but only .* is \(available\|left\)" "$tmp/huge.log" &&
  grep -q "Give a smaller --size" "$tmp/huge.log" &&
  grep -q -- "--recompute-from-level 1 (stage recompute" "$tmp/huge.log" || { echo "no memory estimate in the refusal"; cat "$tmp/huge.log"; exit 1; }
(( took < 20 )) || { echo "the refusal took ${took} s"; exit 1; }
[[ ! -e "$tmp/huge" ]] || { echo "a refused run made its folder"; exit 1; }
# The estimate is printed for every run.
grep -q "ddnet train: memory estimate per rank: about" "$tmp/a.log" || { cat "$tmp/a.log"; exit 1; }
echo "train cli: logs, checkpoints, override, interrupt exit codes, resume, run folders and option errors as expected"
