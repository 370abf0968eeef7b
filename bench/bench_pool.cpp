// MaxPool3d(3, 2, 1) as 3D-DDnet uses it, on a 1 x 16 x 32 x 256 x 256 map (128 MiB in, 16 MiB
// out + the int32 argmax), forward and backward, CPU and CUDA; and AvgPool3d(2) (MS-SSIM's).
// Counter: bytes moved (each input read once, each output written once).
#include <benchmark/benchmark.h>

#include "bench/bench_util.h"

#include "engine/rng.h"
#include "engine/stream.h"
#include "kernels/pool_ops.h"

using namespace ddnet;

namespace {

const Shape kIn{1, 16, 32, 256, 256};

void BM_max_pool_fwd(benchmark::State& state, bool cuda) {
  Device dev;
  if (!bench::pick_device(state, cuda, &dev)) return;
  Tensor x = Generator(1).uniform(kIn, dev);
  const double n = static_cast<double>(kIn.numel());
  bench::timed(state, dev, 4 * n + 8 * n / 8,
               [&] { benchmark::DoNotOptimize(kernels::max_pool(x, 3, 2, 1)); });
}

void BM_max_pool_bwd(benchmark::State& state, bool cuda) {
  Device dev;
  if (!bench::pick_device(state, cuda, &dev)) return;
  Tensor x = Generator(1).uniform(kIn, dev);
  auto r = kernels::max_pool(x, 3, 2, 1);
  Tensor dy = Generator(2).uniform(r.y.shape(), dev);
  const double n = static_cast<double>(kIn.numel());
  bench::timed(state, dev, 4 * n + 8 * n / 8, [&] {
    benchmark::DoNotOptimize(kernels::max_pool_backward(dy, r.argmax, kIn, 3, 2, 1));
  });
}

void BM_avg_pool_fwd(benchmark::State& state, bool cuda) {
  Device dev;
  if (!bench::pick_device(state, cuda, &dev)) return;
  Tensor x = Generator(3).uniform(kIn, dev);
  const double n = static_cast<double>(kIn.numel());
  bench::timed(state, dev, 4 * n + 4 * n / 8,
               [&] { benchmark::DoNotOptimize(kernels::avg_pool(x, 2, 2)); });
}

}  // namespace

BENCHMARK_CAPTURE(BM_max_pool_fwd, cpu, false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_max_pool_fwd, cuda, true)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_max_pool_bwd, cpu, false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_max_pool_bwd, cuda, true)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_avg_pool_fwd, cpu, false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_avg_pool_fwd, cuda, true)->UseManualTime()->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
