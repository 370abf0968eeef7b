// Benchmarks of the first kernels on the CPU and CUDA. Counters: bytes moved per second (the
// napkin math in bench/README.md compares them with the memory bandwidth). CUDA cases time with
// events (manual time) and report an error, not a number, where no device exists.
#include <benchmark/benchmark.h>

#include "bench/bench_util.h"

#include "engine/allocator.h"
#include "engine/device.h"
#include "engine/rng.h"
#include "engine/stream.h"
#include "kernels/copy_ops.h"
#include "kernels/elementwise_ops.h"
#include "kernels/reduce_ops.h"

using namespace ddnet;

namespace {

// A 1x1x32x256x256 volume: one 3D-DDnet training sample at reduced resolution (8 MiB).
constexpr std::int64_t kVoxels = 32LL * 256 * 256;

void BM_add(benchmark::State& state, bool cuda) {
  Device dev;
  if (!bench::pick_device(state, cuda, &dev)) return;
  Generator g(1);
  Tensor a = g.uniform({kVoxels}, dev), b = g.uniform({kVoxels}, dev);
  bench::timed(state, dev, 3.0 * 4 * kVoxels,
               [&] { benchmark::DoNotOptimize(kernels::add(a, b)); });
}

void BM_leaky_relu(benchmark::State& state, bool cuda) {
  Device dev;
  if (!bench::pick_device(state, cuda, &dev)) return;
  Tensor x = Generator(2).normal({kVoxels}, dev);
  bench::timed(state, dev, 2.0 * 4 * kVoxels,
               [&] { benchmark::DoNotOptimize(kernels::leaky_relu(x)); });
}

void BM_sum(benchmark::State& state, bool cuda) {
  Device dev;
  if (!bench::pick_device(state, cuda, &dev)) return;
  Tensor x = Generator(3).normal({kVoxels}, dev);
  bench::timed(state, dev, 4.0 * kVoxels, [&] { benchmark::DoNotOptimize(kernels::sum(x)); });
}

// Writing a 16-channel feature map into its slice of an 80-channel dense-block buffer.
void BM_copy_into_channel_slice(benchmark::State& state, bool cuda) {
  Device dev;
  if (!bench::pick_device(state, cuda, &dev)) return;
  const Shape s{2, 16, 16, 64, 64};
  Tensor y = Generator(4).uniform(s, dev);
  Tensor buf = Tensor::zeros({2, 80, 16, 64, 64}, dev);
  Tensor slice = buf.narrow(1, 32, 16);
  bench::timed(state, dev, 2.0 * 4 * static_cast<double>(s.numel()),
               [&] { kernels::copy(y, slice); });
}

void BM_normal(benchmark::State& state, bool cuda) {
  Device dev;
  if (!bench::pick_device(state, cuda, &dev)) return;
  Tensor t = Tensor::empty({kVoxels}, dev);
  std::uint64_t offset = 0;
  bench::timed(state, dev, 4.0 * kVoxels, [&] { fill_normal(t, 7, offset++); });
}

}  // namespace

BENCHMARK_CAPTURE(BM_add, cpu, false)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_add, cuda, true)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_leaky_relu, cpu, false)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_leaky_relu, cuda, true)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_sum, cpu, false)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_sum, cuda, true)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_copy_into_channel_slice, cpu, false)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_copy_into_channel_slice, cuda, true)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_normal, cpu, false)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_normal, cuda, true)->UseManualTime()->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
