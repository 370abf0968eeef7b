#!/usr/bin/env python3
"""Converts ddnet's HDF5 weights or checkpoint (one dataset per state_dict key at the root) back
to a PyTorch state_dict file; groups (the optimiser state) and attributes are left out.

    /usr/bin/python3 tools/h52torch.py weights.h5 weights.pt"""
import sys

import h5py
import numpy as np
import torch


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: h52torch.py IN.h5 OUT.pt")
    state = {}
    with h5py.File(argv[1], "r") as f:
        for k in f.keys():
            if isinstance(f[k], h5py.Dataset):
                state[k] = torch.from_numpy(np.array(f[k]))
    if not state:
        sys.exit("h52torch: %s has no datasets at its root" % argv[1])
    torch.save(state, argv[2])
    print("h52torch: wrote %d tensors to %s" % (len(state), argv[2]))


if __name__ == "__main__":
    main(sys.argv)
