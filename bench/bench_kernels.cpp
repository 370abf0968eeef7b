// Benchmarks of the first kernels on the CPU and CUDA. Counters: bytes moved per second (the
// napkin math in bench/README.md compares them with the memory bandwidth). CUDA cases time with
// events (manual time) and report an error, not a number, where no device exists.
#include <benchmark/benchmark.h>

#include "engine/allocator.h"
#include "engine/device.h"
#include "engine/rng.h"
#include "engine/stream.h"
#include "kernels/ops.h"

using namespace ddnet;

namespace {

// A 1x1x32x256x256 volume: one 3D-DDnet training sample at reduced resolution (8 MiB).
constexpr std::int64_t kVoxels = 32LL * 256 * 256;

bool pick_device(benchmark::State& state, bool cuda, Device* out) {
  if (!cuda) {
    *out = Device::cpu();
    return true;
  }
  if (cuda_device_count() == 0) {
    state.SkipWithError(("no CUDA device: " + cuda_unavailable_reason()).c_str());
    return false;
  }
  *out = Device::cuda(0);
  return true;
}

// Runs body() per iteration; on CUDA the time of each iteration is measured with events.
template <class Body>
void run(benchmark::State& state, Device dev, double bytes, Body&& body) {
  if (dev.is_cuda()) {
    Event start(true), stop(true);
    const Stream s = current_stream(dev.index());
    for (auto _ : state) {
      start.record(s);
      body();
      stop.record(s);
      stop.synchronize();
      state.SetIterationTime(static_cast<double>(stop.elapsed_ms(start)) / 1e3);
    }
    state.counters["peak_MiB"] =
        static_cast<double>(cuda_allocator(dev.index()).stats().peak_allocated_bytes) / (1 << 20);
  } else {
    for (auto _ : state) body();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * state.iterations());
}

void BM_add(benchmark::State& state, bool cuda) {
  Device dev;
  if (!pick_device(state, cuda, &dev)) return;
  Generator g(1);
  Tensor a = g.uniform({kVoxels}, dev), b = g.uniform({kVoxels}, dev);
  run(state, dev, 3.0 * 4 * kVoxels, [&] { benchmark::DoNotOptimize(kernels::add(a, b)); });
}

void BM_leaky_relu(benchmark::State& state, bool cuda) {
  Device dev;
  if (!pick_device(state, cuda, &dev)) return;
  Tensor x = Generator(2).normal({kVoxels}, dev);
  run(state, dev, 2.0 * 4 * kVoxels, [&] { benchmark::DoNotOptimize(kernels::leaky_relu(x)); });
}

void BM_sum(benchmark::State& state, bool cuda) {
  Device dev;
  if (!pick_device(state, cuda, &dev)) return;
  Tensor x = Generator(3).normal({kVoxels}, dev);
  run(state, dev, 4.0 * kVoxels, [&] { benchmark::DoNotOptimize(kernels::sum(x)); });
}

// Writing a 16-channel feature map into its slice of an 80-channel dense-block buffer.
void BM_copy_into_channel_slice(benchmark::State& state, bool cuda) {
  Device dev;
  if (!pick_device(state, cuda, &dev)) return;
  const Shape s{2, 16, 16, 64, 64};
  Tensor y = Generator(4).uniform(s, dev);
  Tensor buf = Tensor::zeros({2, 80, 16, 64, 64}, dev);
  Tensor slice = buf.narrow(1, 32, 16);
  run(state, dev, 2.0 * 4 * static_cast<double>(s.numel()), [&] { kernels::copy(y, slice); });
}

void BM_normal(benchmark::State& state, bool cuda) {
  Device dev;
  if (!pick_device(state, cuda, &dev)) return;
  Tensor t = Tensor::empty({kVoxels}, dev);
  std::uint64_t offset = 0;
  run(state, dev, 4.0 * kVoxels, [&] { fill_normal(t, 7, offset++); });
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
