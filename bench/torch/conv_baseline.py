#!/usr/bin/env python3
"""PyTorch baseline for bench/bench_conv.cpp: the same convolutions, the same thread count.

    /usr/bin/python3 bench/torch/conv_baseline.py [--threads 2] [--device cpu|cuda] [--repeat 3]

Prints one line per case: median seconds and GFLOP/s (2 x multiply-adds, backward = 2 x forward).
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def case(transpose, backward, device, repeat):
    cin, cout = (32, 32) if transpose else (64, 16)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, cin, 32, 64, 64, generator=g).to(device)
    w = ((torch.rand((cin, cout, 5, 5, 5) if transpose else (cout, cin, 5, 5, 5), generator=g) - 0.5) * 0.1).to(device)
    b = torch.rand(cout, generator=g).to(device)
    dy = torch.rand(1, cout, 32, 64, 64, generator=g).to(device)
    for t in (x, w, b):
        t.requires_grad_(backward)
    op = F.conv_transpose3d if transpose else F.conv3d

    def step():
        y = op(x, w, b, stride=1, padding=2)
        if backward:
            torch.autograd.grad(y, (x, w, b), dy)
        if device == "cuda":
            torch.cuda.synchronize()

    step()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    sec = statistics.median(times)
    flops = 2.0 * cin * cout * 125 * 32 * 64 * 64 * (3 if backward else 1)
    name = "%s_%d_%d_%s" % ("convT3d" if transpose else "conv3d", cin, cout, "fwd_bwd" if backward else "fwd")
    print("%-28s %9.1f ms %8.1f GFLOP/s" % (name, sec * 1e3, flops / sec / 1e9), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.device == "cuda":
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    print("torch %s, %d threads, %s" % (torch.__version__, torch.get_num_threads(), a.device))
    for transpose in (False, True):
        for backward in (False, True):
            case(transpose, backward, a.device, a.repeat)


if __name__ == "__main__":
    main()
