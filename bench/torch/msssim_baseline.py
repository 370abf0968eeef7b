#!/usr/bin/env python3
"""PyTorch baselines for bench/bench_msssim.cpp: the published MS-SSIM formula (non-separable
11^3 Gaussian window through conv3d, float32, as in the 3D-DDnet training code) and the same
formula with the window applied separably (three 1-D convolutions per map).

    /usr/bin/python3 bench/torch/msssim_baseline.py [--threads 2] [--device cpu|cuda] [--repeat 3]
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def gauss(n, sigma=1.5):
    x = torch.arange(n, dtype=torch.float32) - n // 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def make_filter(shape, separable, device):
    s = min([11] + list(shape))
    g = gauss(s).to(device)
    if not separable:
        w = (g[:, None, None] * g[None, :, None] * g[None, None, :])[None, None]
        return lambda t: F.conv3d(t, w)
    wd, wh, ww = g.view(1, 1, s, 1, 1), g.view(1, 1, 1, s, 1), g.view(1, 1, 1, 1, s)
    return lambda t: F.conv3d(F.conv3d(F.conv3d(t, ww), wh), wd)


def msssim(x, y, separable):
    weights = torch.tensor([0.0448, 0.2856, 0.3001, 0.2363], device=x.device)
    ssims, css = [], []
    for _ in range(4):
        f = make_filter(x.shape[2:], separable, x.device)
        L = (255.0 if x.max() > 128 else 1.0) - (-0.1 if x.min() < -0.001 else 0.0)
        c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
        mu1, mu2 = f(x), f(y)
        s11, s22, s12 = f(x * x) - mu1 * mu1, f(y * y) - mu2 * mu2, f(x * y) - mu1 * mu2
        v1, v2 = 2 * s12 + c2, s11 + s22 + c2
        css.append((v1 / v2).mean())
        ssims.append((((2 * mu1 * mu2 + c1) * v1) / ((mu1 * mu1 + mu2 * mu2 + c1) * v2)).mean())
        x, y = F.avg_pool3d(x, 2), F.avg_pool3d(y, 2)
    ssims, css = (torch.stack(ssims) + 1) / 2, (torch.stack(css) + 1) / 2
    return torch.prod(css[:-1] ** weights[:-1] * ssims[-1] ** weights[-1])


def run(shape, separable, backward, device, repeat):
    g = torch.Generator().manual_seed(1)
    y = torch.rand(*shape, generator=g).to(device)
    x = (y + (torch.rand(*shape, generator=g).to(device) - 0.5) * 0.1)

    def step():
        p = x.clone().requires_grad_(backward)
        v = msssim(p, y, separable)
        if backward:
            v.backward()
        if device == "cuda":
            torch.cuda.synchronize()

    step()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    sec = statistics.median(times)
    name = "%s_%s_%s" % ("separable" if separable else "published", "fwd_bwd" if backward else "fwd", "x".join(map(str, shape[2:])))
    print("%-40s %10.1f ms" % (name, sec * 1e3), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.device == "cuda":
        # fp32 as ddnet computes it (TF32 off), and cuDNN's algorithms chosen by measurement as
        # ddnet's are
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    print("torch %s, %d threads, %s" % (torch.__version__, torch.get_num_threads(), a.device))
    for shape in ((1, 1, 16, 512, 512), (1, 1, 32, 256, 256)):
        for separable in (False, True):
            for backward in (False, True):
                run(shape, separable, backward, a.device, a.repeat)


if __name__ == "__main__":
    main()
