// MS-SSIM forward and forward + backward at the sizes of issue 4: 1x1x16x512x512 and
// 1x1x32x256x256 (reference mode). Counter: voxels per second. PyTorch's numbers:
// bench/torch/msssim_baseline.py (the published non-separable 11^3 formula, and a separable one).
#include <benchmark/benchmark.h>

#include "engine/autograd.h"
#include "engine/rng.h"
#include "layers/functional.h"
#include "layers/loss.h"

using namespace ddnet;

namespace {

void msssim(benchmark::State& state, Shape shape, bool backward) {
  Generator g(1);
  Tensor y = g.uniform(shape, Device::cpu(), 0.f, 1.f);
  Tensor x = F::add(y, g.uniform(shape, Device::cpu(), -0.05f, 0.05f));
  for (auto _ : state) {
    if (backward) {
      Tensor p = x.clone().set_requires_grad();
      F::msssim(p, y).backward();
      benchmark::DoNotOptimize(p.grad());
    } else {
      NoGradGuard no_grad;
      benchmark::DoNotOptimize(F::msssim(x, y));
    }
  }
  state.counters["voxels/s"] = benchmark::Counter(static_cast<double>(shape.numel()),
                                                  benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK_CAPTURE(msssim, fwd_cpu_16x512x512, Shape{1, 1, 16, 512, 512}, false)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(msssim, fwd_bwd_cpu_16x512x512, Shape{1, 1, 16, 512, 512}, true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(msssim, fwd_cpu_32x256x256, Shape{1, 1, 32, 256, 256}, false)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(msssim, fwd_bwd_cpu_32x256x256, Shape{1, 1, 32, 256, 256}, true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();
