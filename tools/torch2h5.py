#!/usr/bin/env python3
"""Converts a PyTorch state_dict (.pt) to ddnet's HDF5 layout: one dataset per state_dict key at
the file's root, PyTorch's shapes and dtypes (the layout of the published 2D-DDnet weights).

    /usr/bin/python3 tools/torch2h5.py weights.pt weights.h5

Accepts a bare state_dict, a checkpoint dict with 'model_state_dict' or 'state_dict', and
DistributedDataParallel's "module." prefixes (removed)."""
import sys

import h5py
import torch


def load_state_dict(path):
    obj = torch.load(path, map_location="cpu")
    for key in ("model_state_dict", "state_dict"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        sys.exit("torch2h5: %s holds no state_dict (a dict of tensors)" % path)
    return {(k[7:] if k.startswith("module.") else k): v for k, v in obj.items()}


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: torch2h5.py IN.pt OUT.h5")
    state = load_state_dict(argv[1])
    with h5py.File(argv[2], "w") as f:
        for k, v in state.items():
            f.create_dataset(k, data=v.detach().cpu().numpy())
    print("torch2h5: wrote %d tensors to %s" % (len(state), argv[2]))


if __name__ == "__main__":
    main(sys.argv)
