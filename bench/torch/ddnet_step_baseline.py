#!/usr/bin/env python3
"""PyTorch baseline for bench/bench_ddnet_step.cpp: one training step of 3D-DDnet (forward, MSE +
0.1 (1 - MS-SSIM) with the published non-separable MS-SSIM, backward, Adam) at 1x1x16x64x64.

    /usr/bin/python3 bench/torch/ddnet_step_baseline.py [--threads 2] [--device cpu|cuda] [--size 64] [--repeat 3]
"""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures"))
from gen_ddnet2d_published import DDnet  # noqa: E402  (the network written from the spec)
from msssim_baseline import msssim  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--slices", type=int, default=16)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.device == "cuda":
        # fp32 as ddnet computes it (TF32 off), and cuDNN's algorithms chosen by measurement as
        # ddnet's are
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    dev = a.device
    net = DDnet(3).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-8)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 1, a.slices, a.size, a.size, generator=g).to(dev)
    y = torch.rand(1, 1, a.slices, a.size, a.size, generator=g).to(dev)

    def step():
        opt.zero_grad()
        out = net(x)
        loss = torch.nn.functional.mse_loss(out, y) + 0.1 * (1 - msssim(out, y, separable=False))
        loss.backward()
        opt.step()
        return loss.item()

    step()
    if dev == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    extra = ""
    if dev == "cuda":
        extra = ", peak %.0f MiB" % (torch.cuda.max_memory_allocated() / 2 ** 20)
    print("torch %s %s, %d threads: 3D-DDnet step 1x1x%dx%dx%d median %.0f ms%s"
          % (torch.__version__, dev, torch.get_num_threads(), a.slices, a.size, a.size, statistics.median(times) * 1e3, extra))


if __name__ == "__main__":
    main()
