// The dense-block concatenation (kernels/concat_ops.h): the kernel's copy against the zero-copy
// view F::concat takes for adjacent slices, on the CPU and CUDA. Counter: bytes moved per second,
// against the copy bandwidth (bench/README.md).
#include <benchmark/benchmark.h>

#include "bench/bench_util.h"

#include "engine/rng.h"
#include "engine/stream.h"
#include "kernels/concat_ops.h"
#include "layers/concat_autograd.h"

using namespace ddnet;

namespace {

// A dense block's output at half resolution: 5 maps of 16 channels, 1 x 16 x 16 x 128 x 128 each.
const Shape kMap{1, 16, 16, 128, 128};

void BM_concat_kernel(benchmark::State& state, bool cuda) {
  Device dev;
  if (!bench::pick_device(state, cuda, &dev)) return;
  Generator g(3);
  std::vector<Tensor> parts;
  for (int i = 0; i < 5; ++i) parts.push_back(g.uniform(kMap, dev));
  const double bytes = 2.0 * 4 * 5 * static_cast<double>(kMap.numel());
  bench::timed(state, dev, bytes, [&] { benchmark::DoNotOptimize(kernels::concat(parts)); });
}

void BM_concat_view(benchmark::State& state, bool cuda) {
  Device dev;
  if (!bench::pick_device(state, cuda, &dev)) return;
  Tensor buf = Tensor::zeros({1, 80, 16, 128, 128}, dev);
  std::vector<Tensor> parts;
  for (int i = 0; i < 5; ++i) parts.push_back(buf.narrow(1, 16 * i, 16));
  bench::timed(state, dev, 0, [&] { benchmark::DoNotOptimize(F::concat(parts)); });
}

}  // namespace

BENCHMARK_CAPTURE(BM_concat_kernel, cpu, false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_concat_kernel, cuda, true)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_concat_view, cpu, false)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_concat_view, cuda, true)->UseManualTime()->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
