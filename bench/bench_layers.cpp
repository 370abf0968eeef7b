// Memory-bound layers of 3D-DDnet: trilinear upsampling by 2 (the decoder's Up) forward and
// backward, and the dense-block concatenation (kernel copy vs the zero-copy view). Counter:
// bytes moved per second (each input read once, each output written once), to be read against
// the device's copy bandwidth (bench/README.md).
#include <benchmark/benchmark.h>

#include "bench/bench_util.h"

#include "engine/rng.h"
#include "engine/stream.h"
#include "kernels/concat_ops.h"
#include "kernels/upsample_ops.h"
#include "layers/functional.h"

using namespace ddnet;

namespace {

// The decoder's last Up: 1 x 16 x 16 x 128 x 128 -> 1 x 16 x 32 x 256 x 256 (16 MiB in, 128 MiB
// out).
const Shape kUpIn{1, 16, 16, 128, 128};

void BM_upsample_fwd(benchmark::State& state, bool cuda) {
  Device dev;
  if (!bench::pick_device(state, cuda, &dev)) return;
  Tensor x = Generator(1).uniform(kUpIn, dev);
  const double bytes = 4.0 * static_cast<double>(kUpIn.numel()) * 9;
  bench::timed(state, dev, bytes, [&] {
    benchmark::DoNotOptimize(kernels::upsample(x, 2, kernels::UpsampleMode::linear, true));
  });
}

void BM_upsample_bwd(benchmark::State& state, bool cuda) {
  Device dev;
  if (!bench::pick_device(state, cuda, &dev)) return;
  Tensor dy = Generator(2).uniform({1, 16, 32, 256, 256}, dev);
  const double bytes = 4.0 * static_cast<double>(kUpIn.numel()) * 9;
  bench::timed(state, dev, bytes, [&] {
    benchmark::DoNotOptimize(
        kernels::upsample_backward(dy, kUpIn, 2, kernels::UpsampleMode::linear, true));
  });
}

// A dense block's output at half resolution: 5 maps of 16 channels, 1 x 16 x 16 x 128 x 128 each.
void BM_concat_kernel(benchmark::State& state, bool cuda) {
  Device dev;
  if (!bench::pick_device(state, cuda, &dev)) return;
  Generator g(3);
  std::vector<Tensor> parts;
  for (int i = 0; i < 5; ++i) parts.push_back(g.uniform(kUpIn, dev));
  const double bytes = 2.0 * 4 * 5 * static_cast<double>(kUpIn.numel());
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

BENCHMARK_CAPTURE(BM_upsample_fwd, cpu, false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_upsample_fwd, cuda, true)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_upsample_bwd, cpu, false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_upsample_bwd, cuda, true)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_concat_kernel, cpu, false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_concat_kernel, cuda, true)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_concat_view, cpu, false)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_concat_view, cuda, true)->UseManualTime()->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
