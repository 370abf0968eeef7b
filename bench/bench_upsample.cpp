// Trilinear and nearest upsampling by 2 (kernels/upsample_ops.h; the decoder's Up), forward and
// backward, on the CPU and CUDA. Counter: bytes moved per second (each input read once, each output
// written once), to be read against the device's copy bandwidth (bench/README.md).
#include <benchmark/benchmark.h>

#include "bench/bench_util.h"

#include "engine/rng.h"
#include "engine/stream.h"
#include "kernels/upsample_ops.h"

using namespace ddnet;

namespace {

// The decoder's last Up: 1 x 16 x 16 x 128 x 128 -> 1 x 16 x 32 x 256 x 256 (16 MiB in, 128 MiB
// out).
const Shape kUpIn{1, 16, 16, 128, 128};

void BM_upsample_fwd(benchmark::State& state, bool cuda, kernels::UpsampleMode mode) {
  Device dev;
  if (!bench::pick_device(state, cuda, &dev)) return;
  Tensor x = Generator(1).uniform(kUpIn, dev);
  const double bytes = 4.0 * static_cast<double>(kUpIn.numel()) * 9;
  bench::timed(state, dev, bytes, [&] {
    benchmark::DoNotOptimize(kernels::upsample(x, 2, mode, mode == kernels::UpsampleMode::linear));
  });
}

void BM_upsample_bwd(benchmark::State& state, bool cuda, kernels::UpsampleMode mode) {
  Device dev;
  if (!bench::pick_device(state, cuda, &dev)) return;
  Tensor dy = Generator(2).uniform({1, 16, 32, 256, 256}, dev);
  const double bytes = 4.0 * static_cast<double>(kUpIn.numel()) * 9;
  bench::timed(state, dev, bytes, [&] {
    benchmark::DoNotOptimize(
        kernels::upsample_backward(dy, kUpIn, 2, mode, mode == kernels::UpsampleMode::linear));
  });
}

}  // namespace

using kernels::UpsampleMode;
BENCHMARK_CAPTURE(BM_upsample_fwd, cpu, false, UpsampleMode::linear)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_upsample_fwd, cuda, true, UpsampleMode::linear)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_upsample_bwd, cpu, false, UpsampleMode::linear)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_upsample_bwd, cuda, true, UpsampleMode::linear)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_upsample_fwd, nearest_cpu, false, UpsampleMode::nearest)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_upsample_fwd, nearest_cuda, true, UpsampleMode::nearest)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_upsample_bwd, nearest_cpu, false, UpsampleMode::nearest)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_upsample_bwd, nearest_cuda, true, UpsampleMode::nearest)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
