#!/usr/bin/env python3
"""The PyTorch side of `ddnet bench`: the same cases at the same shapes as the Google Benchmark
suites (bench/bench_*.cpp), served one sample at a time so that the driver can interleave them
with ours (ours, theirs, ours, theirs ...) in one long-lived process (no import per sample).

    python3 bench/torch/bench_server.py --threads 2 --device cpu

Protocol, one JSON object per line. On start the server prints
    {"ready": true, "torch": "...", "python": "...", "threads": n, "device": "...", "cases": [...]}
then, for each request {"case": "<id>", "min_time": <seconds>} it runs the case (set up and
warmed once per process), repeats it until min_time has passed (at least once), and prints
    {"case": "<id>", "seconds": <per call>, "iterations": k, "peak_bytes": <CUDA only>}
or {"case": "<id>", "error": "..."}. An empty line or end of input ends it.
"""
import argparse
import json
import os
import platform
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "fixtures"))


def rand(g, shape, dev):
    return torch.rand(*shape, generator=g).to(dev)


def make_cases(dev):
    """Case id -> a function that sets the case up and returns the callable to time."""
    g = torch.Generator().manual_seed(1)
    vox = (32 * 256 * 256,)
    cases = {}

    def case(name):
        def wrap(f):
            cases[name] = f
            return f
        return wrap

    @case("add")
    def _():
        a, b = rand(g, vox, dev), rand(g, vox, dev)
        return lambda: a + b

    @case("leaky_relu")
    def _():
        x = torch.randn(*vox, generator=g).to(dev)
        return lambda: F.leaky_relu(x, 0.01)

    @case("sum")
    def _():
        x = torch.randn(*vox, generator=g).to(dev)
        return lambda: x.sum()

    @case("copy_into_channel_slice")
    def _():
        s = rand(g, (2, 16, 16, 64, 64), dev)
        buf = torch.zeros(2, 80, 16, 64, 64, device=dev)
        return lambda: buf[:, 16:32].copy_(s)

    def upsample(mode, backward):
        x = rand(g, (1, 16, 16, 128, 128), dev)
        kw = {"align_corners": True} if mode == "trilinear" else {}
        if not backward:
            return lambda: F.interpolate(x, scale_factor=2, mode=mode, **kw)
        xr = x.clone().requires_grad_(True)
        y = F.interpolate(xr, scale_factor=2, mode=mode, **kw)
        dy = rand(g, tuple(y.shape), dev)
        return lambda: torch.autograd.grad(y, xr, dy, retain_graph=True)

    cases["upsample_trilinear_fwd"] = lambda: upsample("trilinear", False)
    cases["upsample_trilinear_bwd"] = lambda: upsample("trilinear", True)
    cases["upsample_nearest_fwd"] = lambda: upsample("nearest", False)
    cases["upsample_nearest_bwd"] = lambda: upsample("nearest", True)

    @case("concat")
    def _():
        parts = [rand(g, (1, 16, 16, 128, 128), dev) for _ in range(5)]
        return lambda: torch.cat(parts, dim=1)

    def max_pool(backward):
        x = rand(g, (1, 16, 32, 256, 256), dev)
        if not backward:
            return lambda: F.max_pool3d(x, 3, 2, 1, return_indices=True)
        xr = x.clone().requires_grad_(True)
        y = F.max_pool3d(xr, 3, 2, 1)
        dy = rand(g, tuple(y.shape), dev)
        return lambda: torch.autograd.grad(y, xr, dy, retain_graph=True)

    cases["max_pool_fwd"] = lambda: max_pool(False)
    cases["max_pool_bwd"] = lambda: max_pool(True)

    def batch_norm(backward):
        x = (torch.randn(1, 32, 32, 128, 128, generator=g) * 2 + 0.5).to(dev)
        w, b = torch.ones(32, device=dev), torch.zeros(32, device=dev)
        rm, rv = torch.zeros(32, device=dev), torch.ones(32, device=dev)
        if not backward:
            return lambda: F.batch_norm(x, rm, rv, w, b, training=True)
        dy = torch.randn(1, 32, 32, 128, 128, generator=g).to(dev)
        xr, wr, br = x.clone().requires_grad_(True), w.clone().requires_grad_(True), b.clone().requires_grad_(True)

        def step():
            y = F.batch_norm(xr, rm, rv, wr, br, training=True)
            return torch.autograd.grad(y, (xr, wr, br), dy)
        return step

    cases["batch_norm_fwd_train"] = lambda: batch_norm(False)
    cases["batch_norm_fwd_bwd_train"] = lambda: batch_norm(True)

    def conv(transpose, backward):
        cin, cout = (32, 32) if transpose else (64, 16)
        x = rand(g, (1, cin, 32, 64, 64), dev)
        w = rand(g, (cin, cout, 5, 5, 5) if transpose else (cout, cin, 5, 5, 5), dev) * 0.01
        b = rand(g, (cout,), dev)
        op = F.conv_transpose3d if transpose else F.conv3d
        if not backward:
            return lambda: op(x, w, b, 1, 2)
        dy = rand(g, (1, cout, 32, 64, 64), dev)
        xr, wr, br = x.clone().requires_grad_(True), w.clone().requires_grad_(True), b.clone().requires_grad_(True)

        def step():
            return torch.autograd.grad(op(xr, wr, br, 1, 2), (xr, wr, br), dy)
        return step

    cases["conv3d_64_16_fwd"] = lambda: conv(False, False)
    cases["conv3d_64_16_fwd_bwd"] = lambda: conv(False, True)
    cases["convT3d_32_32_fwd"] = lambda: conv(True, False)
    cases["convT3d_32_32_fwd_bwd"] = lambda: conv(True, True)

    def msssim_case(separable, backward):
        from msssim_baseline import msssim
        shape = (1, 1, 32, 256, 256)
        y = rand(g, shape, dev)
        x = y + (rand(g, shape, dev) - 0.5) * 0.1

        def step():
            p = x.clone().requires_grad_(backward)
            v = msssim(p, y, separable)
            if backward:
                v.backward()
            return v
        return step

    cases["msssim_published_fwd"] = lambda: msssim_case(False, False)
    cases["msssim_published_fwd_bwd"] = lambda: msssim_case(False, True)
    cases["msssim_separable_fwd"] = lambda: msssim_case(True, False)
    cases["msssim_separable_fwd_bwd"] = lambda: msssim_case(True, True)

    @case("ddnet3d_step")
    def _():
        from gen_ddnet2d_published import DDnet
        from msssim_baseline import msssim
        net = DDnet(3).to(dev)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-8)
        x, y = rand(g, (1, 1, 16, 64, 64), dev), rand(g, (1, 1, 16, 64, 64), dev)

        def step():
            opt.zero_grad()
            out = net(x)
            loss = F.mse_loss(out, y) + 0.1 * (1 - msssim(out, y, separable=False))
            loss.backward()
            opt.step()
            return loss.item()
        return step

    @case("ddnet3d_denoise")
    def _():
        from gen_ddnet2d_published import DDnet
        net = DDnet(3).to(dev).eval()
        x = rand(g, (1, 1, 32, 64, 64), dev)

        def fwd():
            with torch.no_grad():
                return net(x)
        return fwd

    return cases


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    dev = a.device
    name = platform.processor() or platform.machine()
    if dev == "cuda":
        # fp32 as ddnet computes it (TF32 off), cuDNN's algorithms chosen by measurement as ddnet's
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
        name = torch.cuda.get_device_name(0)
    cases = make_cases(dev)
    print(json.dumps({"ready": True, "torch": torch.__version__, "python": sys.executable,
                      "threads": torch.get_num_threads(), "device": name,
                      "cases": sorted(cases)}), flush=True)
    ready = {}

    def sync():
        if dev == "cuda":
            torch.cuda.synchronize()

    for line in sys.stdin:
        line = line.strip()
        if not line:
            break
        req = json.loads(line)
        cid = req.get("case", "")
        try:
            if cid not in cases:
                raise KeyError("no PyTorch baseline for case '%s'" % cid)
            if cid not in ready:
                fn = cases[cid]()
                # warm-up (cuDNN's algorithm search, the allocator's first blocks, the clocks):
                # at least once, and for as long as one sample lasts
                t0 = time.perf_counter()
                while True:
                    fn()
                    sync()
                    if time.perf_counter() - t0 >= float(req.get("min_time", 0.5)):
                        break
                ready[cid] = fn
            fn = ready[cid]
            if dev == "cuda":
                torch.cuda.reset_peak_memory_stats()
            min_time = float(req.get("min_time", 0.5))
            n, t0 = 0, time.perf_counter()
            while True:
                fn()
                sync()
                n += 1
                elapsed = time.perf_counter() - t0
                if elapsed >= min_time:
                    break
            out = {"case": cid, "seconds": elapsed / n, "iterations": n}
            if dev == "cuda":
                out["peak_bytes"] = torch.cuda.max_memory_allocated()
        except Exception as e:  # reported per case; the server keeps serving
            out = {"case": cid, "error": "%s: %s" % (type(e).__name__, e)}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
