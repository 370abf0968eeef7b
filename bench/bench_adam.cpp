// Adam's fused update (kernels/adam_ops.h) over 3D-DDnet's whole parameter arena, with and
// without gradient clipping, on the CPU and CUDA. Napkin math: per parameter the update reads p,
// g, m, v and writes p, m, v (28 bytes; clipping adds one read of g for the norm, 32 bytes), so
// it is bound by memory bandwidth; the counter is bytes moved per second (bench/README.md).
#include <benchmark/benchmark.h>

#include "bench/bench_util.h"

#include "engine/rng.h"
#include "engine/stream.h"
#include "graph/arena.h"
#include "graph/optim.h"
#include "models/ddnet.h"

using namespace ddnet;

namespace {

void BM_adam_step(benchmark::State& state, bool cuda, double clip_norm) {
  Device dev;
  if (!bench::pick_device(state, cuda, &dev)) return;
  models::DDnet net({3});
  nn::Arena arena = nn::pack_parameters(net, dev);
  arena.grads.copy_(Generator(1).normal(arena.grads.shape(), dev));
  nn::AdamOptions o;
  o.clip_norm = clip_norm;
  nn::Adam adam(arena, o);
  const double n = static_cast<double>(arena.params.numel());
  bench::timed(state, dev, (clip_norm > 0 ? 32.0 : 28.0) * n, [&] { adam.step(); });
  state.counters["params"] = n;
}

}  // namespace

BENCHMARK_CAPTURE(BM_adam_step, cpu, false, 0.0)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_adam_step, cpu_clipped, false, 1.0)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_adam_step, cuda, true, 0.0)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_adam_step, cuda_clipped, true, 1.0)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
