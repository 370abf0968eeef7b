// Inference over whole volumes (models/denoise.h): eval-mode DDnet forward passes, untiled and in
// tiles, and the activation memory per input voxel that sizes tiles under --memory-mib.
// Napkin math: 226,613 multiply-adds per voxel forward (REFERENCE.md) for 3D-DDnet: a
// 32x128x128 volume (524,288 voxels) is 119 G MACs = 238 GFLOP, ~1.3-1.5 s at this VM's
// ~160-190 GFLOP/s peak, ~4 ms at an H100's ~60 TFLOP/s fp32 (non-tensor-core) peak. Memory: at
// the full-resolution decoder stage a forward pass holds the 16-channel skip, the upsampled 16
// channels, their 32-channel concatenation, its BatchNorm output and the 32-channel transposed
// convolution output: ~128 channels x 4 B = 512 B per voxel before temporaries; the counter
// bytes_per_voxel reports the allocator's measured peak over the input voxels.
#include <benchmark/benchmark.h>

#include "engine/allocator.h"
#include "engine/rng.h"
#include "graph/arena.h"
#include "models/denoise.h"

using namespace ddnet;

namespace {
void denoise(benchmark::State& state, int dims, bool cuda) {
  if (cuda && cuda_device_count() == 0) {
    state.SkipWithError(("no CUDA device: " + cuda_unavailable_reason()).c_str());
    return;
  }
  if (!cuda && !host_caching_enabled()) {
    state.SkipWithError("host allocator bypassed (sanitizer build): no memory statistics");
    return;
  }
  const Device dev = cuda ? Device::cuda(0) : Device::cpu();
  const std::int64_t d = state.range(0), hw = state.range(1), tile = state.range(2);
  models::DDnet net({dims});
  nn::Arena arena = nn::pack_parameters(net, dev);
  for (const auto& b : net.named_buffers())
    if (b.tensor->dtype() == DType::f32) *b.tensor = b.tensor->to(dev);
  Generator g(1);
  const std::vector<float> hu =
      g.uniform(Shape{d * hw * hw}, Device::cpu(), -1000.f, 1000.f).to_vector<float>();
  models::DenoiseOptions o;
  o.device = dev;
  o.tile = {tile, tile, tile};
  o.overlap = tile > 0 ? tile / 4 : 0;
  models::DenoiseStats st;
  for (auto _ : state)
    benchmark::DoNotOptimize(models::denoise_volume(net, hu.data(), d, hw, hw, o, &st).data());
  state.counters["voxels/s"] = benchmark::Counter(static_cast<double>(d * hw * hw),
                                                  benchmark::Counter::kIsIterationInvariantRate);
  state.counters["tiles"] = static_cast<double>(st.grid.count());
  // Peak over the voxels of one forward pass's input (a tile, or a slice for 2D).
  const double per_pass =
      static_cast<double>(dims == 3 ? st.grid.tile_voxels() : st.grid.size[1] * st.grid.size[2]);
  state.counters["peak_MiB"] = st.peak_device_mib;
  state.counters["bytes_per_voxel"] = st.peak_device_mib * 1024 * 1024 / per_pass;
}
}  // namespace

// Args: slices, rows = cols, tile (0: whole volume).
BENCHMARK_CAPTURE(denoise, cpu3d, 3, false)
    ->Args({32, 64, 0})
    ->Args({32, 128, 0})
    ->Args({32, 128, 64})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);
BENCHMARK_CAPTURE(denoise, cpu2d, 2, false)
    ->Args({4, 256, 0})
    ->Args({2, 512, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);
BENCHMARK_CAPTURE(denoise, cuda3d, 3, true)
    ->Args({32, 128, 0})
    ->Args({64, 512, 0})
    ->Args({64, 512, 128})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(denoise, cuda2d, 2, true)
    ->Args({64, 512, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();
