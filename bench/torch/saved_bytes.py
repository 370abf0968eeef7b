#!/usr/bin/env python3
"""PyTorch's side of docs/memory.md: the bytes the published 3D-DDnet keeps for backward in one
training step (forward + MSE + 0.1 (1 - MS-SSIM)), counted with saved-tensor hooks: every
distinct storage the autograd graph saves, parameters excluded (the input and target are
counted: ddnet's figure above its base excludes them, a difference of 8 B/voxel), per input voxel.
Prints one JSON line.

    /usr/bin/python3 bench/torch/saved_bytes.py [--slices 16] [--size 64] [--threads 2]
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures"))
from gen_ddnet2d_published import DDnet  # noqa: E402  (the network written from the spec)
from msssim_baseline import msssim  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--slices", type=int, default=16)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    net = DDnet(3)
    net.train()
    params = {q.data_ptr() for q in net.parameters()}
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 1, a.slices, a.size, a.size, generator=g)
    y = torch.rand(1, 1, a.slices, a.size, a.size, generator=g)
    storages = {}

    def pack(t):
        s = t.storage() if hasattr(t, "storage") else t.untyped_storage()
        ptr = s.data_ptr()
        if ptr not in params:
            nbytes = s.nbytes() if hasattr(s, "nbytes") else s.size() * t.element_size()
            storages[ptr] = max(storages.get(ptr, 0), nbytes)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = net(x)
        loss = torch.nn.functional.mse_loss(out, y) + 0.1 * (1 - msssim(out, y, separable=False))
    voxels = x.numel()
    saved = sum(storages.values())
    loss.backward()
    print(json.dumps({"torch": torch.__version__, "shape": list(x.shape), "saved_bytes": saved,
                      "saved_per_voxel": saved / voxels, "storages": len(storages)}))


if __name__ == "__main__":
    main()
