// One training step of 3D-DDnet (forward, MSE + 0.1 (1 - MS-SSIM), backward, Adam) at
// 1x1x16x64x64, as issue 5 compares with PyTorch (bench/torch/ddnet_step_baseline.py).
// Napkin math: 226,613 multiply-adds per voxel forward (REFERENCE.md) x 65,536 voxels = 14.9 G
// MACs = 29.7 GFLOP forward, ~89 GFLOP per step; at this VM's ~160-190 GFLOP/s peak the floor is
// ~0.5 s. Peak memory: the tensors' peak from the caching allocator (host or device).
#include <benchmark/benchmark.h>

#include "engine/allocator.h"
#include "engine/rng.h"
#include "graph/arena.h"
#include "graph/optim.h"
#include "layers/loss.h"
#include "models/ddnet.h"

using namespace ddnet;

namespace {
void step(benchmark::State& state, bool cuda) {
  if (cuda && cuda_device_count() == 0) {
    state.SkipWithError(("no CUDA device: " + cuda_unavailable_reason()).c_str());
    return;
  }
  const Device dev = cuda ? Device::cuda(0) : Device::cpu();
  const std::int64_t d = state.range(0), hw = state.range(1);
  models::DDnet net({3});
  nn::Arena arena = nn::pack_parameters(net, dev);
  for (const auto& b : net.named_buffers())
    if (b.tensor->dtype() == DType::f32) *b.tensor = b.tensor->to(dev);
  nn::Adam adam(arena, {});
  Generator g(1);
  const Tensor target = g.uniform({1, 1, d, hw, hw}, dev, 0.f, 1.f);
  const Tensor input = g.uniform({1, 1, d, hw, hw}, dev, 0.f, 1.f);
  auto one = [&] {
    adam.zero_grad();
    auto loss = F::ddnet_loss(net.forward(input), target);
    loss.total.backward();
    adam.step();
    benchmark::DoNotOptimize(loss.total.item());  // syncs with the device
  };
  one();
  CachingAllocator& alloc = cuda ? cuda_allocator(0) : host_allocator();
  alloc.reset_peak_stats();
  for (auto _ : state) one();
  state.counters["voxels/s"] = benchmark::Counter(static_cast<double>(d * hw * hw),
                                                  benchmark::Counter::kIsIterationInvariantRate);
  // The tensors' peak (what the step asked the allocator for), on either device.
  state.counters["peak_MiB"] = static_cast<double>(alloc.stats().peak_requested_bytes) / (1 << 20);
}
}  // namespace

BENCHMARK_CAPTURE(step, cpu, false)
    ->Args({16, 64})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3);
BENCHMARK_CAPTURE(step, cuda, true)
    ->Args({16, 64})
    ->Args({16, 512})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();
