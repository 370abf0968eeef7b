// Convolution benchmarks at the sizes of issue 3's comparison with PyTorch: Conv3d 64->16 and
// ConvTranspose3d 32->32, 5^3 kernel, padding 2, input 1 x C x 32 x 64 x 64; forward, and
// forward + backward (input, weight and bias gradients). Counter: FLOP/s (2 x multiply-adds;
// the backward does twice the forward's). PyTorch's numbers: bench/torch/conv_baseline.py.
#include <benchmark/benchmark.h>

#include "bench/bench_util.h"

#include "engine/autograd.h"
#include "engine/rng.h"
#include "engine/stream.h"
#include "kernels/cpu_conv/dnnl.h"
#include "kernels/cpu_conv/wgrad.h"
#include "layers/conv_autograd.h"

using namespace ddnet;
namespace direct = kernels::cpu_conv::direct_wgrad;

namespace {

void conv(benchmark::State& state, bool cuda, bool transpose, bool backward) {
  Device dev;
  if (!bench::pick_device(state, cuda, &dev)) return;
  const std::int64_t cin = transpose ? 32 : 64, cout = transpose ? 32 : 16;
  Generator g(1);
  Tensor x = g.uniform({1, cin, 32, 64, 64}, dev);
  Tensor w = g.uniform(transpose ? Shape{cin, cout, 5, 5, 5} : Shape{cout, cin, 5, 5, 5}, dev,
                       -0.05f, 0.05f);
  Tensor b = g.uniform({cout}, dev);
  if (backward) {
    x.set_requires_grad();
    w.set_requires_grad();
    b.set_requires_grad();
  }
  Tensor dy = g.uniform({1, cout, 32, 64, 64}, dev);
  auto step = [&] {
    Tensor y = transpose ? F::conv_transpose(x, w, b, {1, 2}) : F::conv(x, w, b, {1, 2});
    if (backward) y.backward(dy);
  };
  step();  // warm-up (cuDNN algorithm search, allocator)
  for (auto _ : state) {
    step();
    if (cuda) cuda_synchronize(0);
  }
  const double flops =
      2.0 * static_cast<double>(cin * cout * 125) * 32 * 64 * 64 * (backward ? 3 : 1);
  state.counters["FLOP/s"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
}

// The weight gradient alone at 3D-DDnet's geometries for a 1x1x16x64x64 step, the direct AVX2
// kernel (kernels/cpu_conv/wgrad.h) against oneDNN's primitive: args (cin, cout, D, H=W, k).
// variant: the direct kernel's (kernels/cpu_conv/wgrad.h), unused for oneDNN.
void wgrad(benchmark::State& state, bool use_direct, direct::Variant variant) {
  kernels::ConvGeometry g;
  g.cin = state.range(0);
  g.cout = state.range(1);
  g.in[0] = state.range(2);
  g.in[1] = g.in[2] = state.range(3);
  for (int a = 0; a < 3; ++a) {
    g.k[a] = state.range(4);
    g.pad[a] = state.range(4) / 2;
  }
  kernels::conv_output_size(g);
  if (use_direct && !direct::supports(g)) {
    state.SkipWithError("no AVX2/FMA on this CPU");
    return;
  }
  if (!use_direct && !kernels::cpu_conv::dnnl_path::compiled()) {
    state.SkipWithError("this build has no oneDNN");
    return;
  }
  Generator gen(1);
  const Tensor x = gen.uniform({g.cin * g.in_plane()}), dy = gen.uniform({g.cout * g.out_plane()});
  Tensor dw = Tensor::empty({g.cout * g.cin * g.kvol()}), db = Tensor::empty({g.cout});
  auto run = [&] {
    if (use_direct)
      direct::conv_backward_filter(g, x.data<float>(), dy.data<float>(), dw.data<float>(),
                                   db.data<float>(), false, {}, variant);
    else
      kernels::cpu_conv::dnnl_path::conv_backward_filter(
          g, x.data<float>(), dy.data<float>(), dw.data<float>(), db.data<float>(), false, {});
  };
  run();
  for (auto _ : state) run();
  state.counters["FLOP/s"] =
      benchmark::Counter(g.flops(), benchmark::Counter::kIsIterationInvariantRate);
}

// 3D-DDnet's weight gradients: 32->32 5^3 (convT7), 64->16 5^3 (dense block 1), 1->16 7^3 (conv1).
void ddnet_wgrad_shapes(benchmark::internal::Benchmark* b) {
  b->Args({32, 32, 16, 64, 5})->Args({64, 16, 8, 32, 5})->Args({1, 16, 16, 64, 7});
}

}  // namespace

BENCHMARK_CAPTURE(wgrad, direct_cpu, true, direct::Variant::automatic)
    ->Apply(ddnet_wgrad_shapes)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(wgrad, direct_position_lanes_cpu, true, direct::Variant::position_lanes)
    ->Apply(ddnet_wgrad_shapes)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(wgrad, onednn_cpu, false, direct::Variant::automatic)
    ->Apply(ddnet_wgrad_shapes)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_CAPTURE(conv, conv3d_64_16_fwd_cpu, false, false, false)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(conv, conv3d_64_16_fwd_bwd_cpu, false, false, true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(conv, convT3d_32_32_fwd_cpu, false, true, false)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(conv, convT3d_32_32_fwd_bwd_cpu, false, true, true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(conv, conv3d_64_16_fwd_cuda, true, false, false)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(conv, conv3d_64_16_fwd_bwd_cuda, true, false, true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(conv, convT3d_32_32_fwd_cuda, true, true, false)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(conv, convT3d_32_32_fwd_bwd_cuda, true, true, true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();
