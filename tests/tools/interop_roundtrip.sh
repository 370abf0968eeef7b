#!/usr/bin/env bash
# torch2h5.py and h52torch.py on the published 2D-DDnet weights: .pt -> .h5 equals the published
# .h5 dataset for dataset, and .h5 -> .pt gives back the original tensors. Exit 77 (SKIPPED)
# without Debian's PyTorch and h5py, or without ../shared.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
shared="${DDNET_SHARED_DIR:-$root/../shared}"
py=/usr/bin/python3
if ! "$py" -c "import torch, h5py" 2>/dev/null; then echo "SKIPPED: no python3-torch/python3-h5py"; exit 77; fi
if [[ ! -f "$shared/reference/2d-ddnet-published.pt" ]]; then echo "SKIPPED: no $shared/reference"; exit 77; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" "$root/tools/torch2h5.py" "$shared/reference/2d-ddnet-published.pt" "$tmp/w.h5"
"$py" "$root/tools/h52torch.py" "$tmp/w.h5" "$tmp/w.pt"
"$py" - "$shared/reference" "$tmp" <<'PY'
import sys, h5py, numpy as np, torch
ref, tmp = sys.argv[1], sys.argv[2]
a, b = h5py.File(ref + "/2d-ddnet-published.h5"), h5py.File(tmp + "/w.h5")
assert set(a.keys()) == set(b.keys()), "key sets differ"
for k in a.keys():
    assert np.array_equal(np.array(a[k]), np.array(b[k])), k
orig = torch.load(ref + "/2d-ddnet-published.pt", map_location="cpu")
orig = {(k[7:] if k.startswith("module.") else k): v for k, v in orig.items()}
back = torch.load(tmp + "/w.pt")
assert set(orig) == set(back), "state_dict keys differ"
for k in orig:
    assert torch.equal(orig[k], back[k]), k
print("interop: %d tensors round-tripped exactly" % len(orig))
PY
