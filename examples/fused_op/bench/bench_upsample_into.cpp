// The fused operator against what it replaces, on the CPU (and CUDA where there is a device):
// upsample by 2 written into the decoder's concatenation buffer (fused_op::upsample_into) against
// F::upsample followed by F::copy_into, at the 3D-DDnet decoder's two largest stages at a
// 16 x 64 x 64 / 32 x 128 x 128 output, trilinear with align_corners (the published mode); then
// a whole 3D-DDnet training step and an eval forward with and without the switch.
//
// Napkin math, in units of the input's bytes I (the output is 8 I; float32, batch 1, 16
// channels: I = 512 KiB at 8x32x32 -> 16x64x64, I = 4 MiB at 16x64x64 -> 32x128x128):
//   forward, unfused: upsample reads I and writes a temporary 8 I; copy_into reads the 8 I and
//     writes 8 I into the buffer: 25 I moved (41 I counting the write-allocate reads a CPU makes
//     of every line it writes).
//   forward, fused: reads I, writes 8 I into the buffer: 9 I (17 I with write-allocate).
//   => a memory-bound forward is 25/9 = 2.8x faster fused (41/17 = 2.4x with write-allocate).
//     The 16 MiB and 128 MiB traffic of the unfused path do not fit a cache; the first stage's
//     4 MiB temporary may partly stay in L2/L3, which narrows the gap there. Where the trilinear
//     arithmetic rather than memory bounds the upsample (a few multiply-adds per output on two
//     cores), the shared upsample's time dilutes the gain: expect 1.5x to 2.4x on a small CPU.
//   backward, both paths: the buffer's gradient reaches the op contiguous (the concatenation's
//     backward splits it into tensors of their own), so copy_into's backward passes it on without
//     a copy, and both read 8 I and write I: 9 I (10 I with write-allocate).
//   => forward + backward: 34 I unfused against 18 I fused, 1.9x (51 I against 27 I, 1.9x), if
//     the backward were memory-bound too. It is not on a CPU core: each input gathers from up to
//     4 x 4 x 4 outputs (the transposed tables), so the backward costs about what the unfused
//     forward does, and the forward's saving (the temporary's write and the copy, ~4 ms at the
//     second stage on one core here) is a smaller share of the total: expect ~1.2-1.4x.
//   The model at 1 x 1 x 32 x 64 x 64: the four decoder stages upsample into 16 channels of
//   4x8x8, 8x16x16, 16x32x32 and 32x64x64 voxels, 2.4 M values (9.1 MiB); fused, a forward moves
//   some 18 MiB less (2 x 8 I summed over the stages) and allocates no temporaries, against a
//   training step of ~180 GFLOP of convolutions (REFERENCE.md: 226,613 multiply-adds per voxel
//   forward, x 131,072 voxels, x 3 for the step) that takes seconds on a CPU: a few milliseconds
//   out of seconds, well under 1 %, inside the noise of a CPU step. The op's own speedup is what
//   the first benchmarks measure; in the whole model it is a memory-traffic and allocation saving.
#include <benchmark/benchmark.h>

#include "engine/allocator.h"
#include "engine/autograd.h"
#include "engine/rng.h"
#include "engine/stream.h"
#include "fused_op/upsample_into_autograd.h"
#include "graph/arena.h"
#include "graph/optim.h"
#include "layers/functional.h"
#include "layers/loss.h"
#include "models/ddnet.h"

using namespace ddnet;

namespace {

constexpr auto kMode = kernels::UpsampleMode::linear;  // trilinear, align_corners: published
constexpr bool kAlign = true;

// The decoder stages benchmarked: input (1, 16, d, hw, hw), output (1, 16, 2d, 2hw, 2hw).
Shape stage_input(std::int64_t which) {
  return which == 0 ? Shape{1, 16, 8, 32, 32} : Shape{1, 16, 16, 64, 64};
}

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

void sync(Device dev) {
  if (dev.is_cuda()) current_stream(dev.index()).synchronize();
}

// range(0): the stage (0: 8x32x32 -> 16x64x64, 1: 16x64x64 -> 32x128x128); range(1): 1 fused,
// 0 unfused; range(2): 1 with the backward.
void BM_upsample_into(benchmark::State& state, bool cuda) {
  Device dev;
  if (!pick_device(state, cuda, &dev)) return;
  const Shape in = stage_input(state.range(0));
  const bool fused = state.range(1) != 0, backward = state.range(2) != 0;
  Shape out = in, wide = in;
  for (int i = 2; i < 5; ++i) out[i] *= 2;
  wide = out;
  wide[1] *= 2;
  // The decoder's buffer: the upsampled half first, the skip after it.
  const Tensor buffer = Tensor::zeros(wide, dev);
  const Tensor dst = buffer.narrow(1, 0, in[1]);
  Tensor x = Generator(1).uniform(in, dev);
  const Tensor dy = Generator(2).uniform(out, dev);
  if (backward) x.set_requires_grad();
  auto once = [&] {
    const Tensor y = fused ? fused_op::upsample_into(x, dst, kMode, kAlign)
                           : F::copy_into(F::upsample(x, 2, kMode, kAlign), dst);
    if (backward) {
      y.backward(dy);
      x.zero_grad();
    }
    sync(dev);
  };
  once();
  for (auto _ : state) once();
  const double i_bytes = 4.0 * static_cast<double>(in.numel());
  const double moved = fused ? 9 * i_bytes : 25 * i_bytes;
  state.counters["moved_MiB"] = (moved + (backward ? 9 * i_bytes : 0)) / (1 << 20);
  // Bytes per second of the useful traffic (x read, the output written), the same for both
  // paths: the ratio of the two is the speedup.
  state.SetBytesProcessed(static_cast<std::int64_t>(9 * i_bytes) * state.iterations());
}

// A 3D-DDnet at 1 x 1 x 32 x 64 x 64, published mode, with (range(0) = 1) or without the switch:
// range(1) = 1: one training step (forward, MSE + 0.1 (1 - MS-SSIM), backward, Adam), 0: an eval
// forward under NoGradGuard.
void BM_ddnet(benchmark::State& state, bool cuda) {
  Device dev;
  if (!pick_device(state, cuda, &dev)) return;
  const bool fused = state.range(0) != 0, train = state.range(1) != 0;
  models::DDnet net({3});
  if (fused) net.set_upsample_into(fused_op::upsample_into);
  nn::Arena arena = nn::pack_parameters(net, dev);
  for (const auto& b : net.named_buffers())
    if (b.tensor->dtype() == DType::f32) *b.tensor = b.tensor->to(dev);
  nn::Adam adam(arena, {});
  Generator g(1);
  const Shape s{1, 1, 32, 64, 64};
  const Tensor input = g.uniform(s, dev, 0.f, 1.f), target = g.uniform(s, dev, 0.f, 1.f);
  net.train(train);
  auto once = [&] {
    if (train) {
      adam.zero_grad();
      auto loss = F::ddnet_loss(net.forward(input), target);
      loss.total.backward();
      adam.step();
      benchmark::DoNotOptimize(loss.total.item());  // synchronises with the device
    } else {
      NoGradGuard no_grad;
      benchmark::DoNotOptimize(net.forward(input).to(Device::cpu()));
    }
  };
  once();
  CachingAllocator& alloc = cuda ? cuda_allocator(0) : host_allocator();
  alloc.reset_peak_stats();
  for (auto _ : state) once();
  state.counters["peak_MiB"] = static_cast<double>(alloc.stats().peak_requested_bytes) / (1 << 20);
}

void stage_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"stage", "fused", "backward"});
  for (int stage : {0, 1})
    for (int backward : {0, 1})
      for (int fused : {0, 1}) b->Args({stage, fused, backward});
}

}  // namespace

BENCHMARK_CAPTURE(BM_upsample_into, cpu, false)
    ->Apply(stage_args)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_upsample_into, cuda, true)
    ->Apply(stage_args)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_ddnet, cpu, false)
    ->ArgNames({"fused", "train"})
    ->Args({0, 1})
    ->Args({1, 1})
    ->Args({0, 0})
    ->Args({1, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(2);
BENCHMARK_CAPTURE(BM_ddnet, cuda, true)
    ->ArgNames({"fused", "train"})
    ->Args({0, 1})
    ->Args({1, 1})
    ->Args({0, 0})
    ->Args({1, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();
