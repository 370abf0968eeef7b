// Batch normalisation on a (1, 32, 32, 128, 128) float32 feature map (16 Mi values, 64 MiB):
// a 32-channel 3D-DDnet activation. Forward in training mode (batch statistics and the running
// stats update), forward in eval mode, and forward + backward in training mode (dx, dweight,
// dbias), on the CPU and CUDA. The kernels:: entry points are timed, without the tape.
// bytes_per_second counts the bytes these kernels actually move (see bench/README-batchnorm.md
// for the passes and the floor on an H100). CUDA cases time with events and report an error,
// not a number, where no device exists.
#include <benchmark/benchmark.h>

#include "bench/bench_util.h"

#include "engine/allocator.h"
#include "engine/device.h"
#include "engine/rng.h"
#include "engine/stream.h"
#include "kernels/batchnorm_ops.h"

using namespace ddnet;

namespace {

const Shape kShape{1, 32, 32, 128, 128};
constexpr std::int64_t kChannels = 32;

struct Inputs {
  Tensor x, dy, weight, bias, running_mean, running_var;
};

Inputs make_inputs(Device dev) {
  Generator g(1);
  Inputs in;
  in.x = g.normal(kShape, dev, 0.5f, 2.f);
  in.dy = g.normal(kShape, dev);
  in.weight = g.uniform({kChannels}, dev, 0.5f, 1.5f);
  in.bias = g.uniform({kChannels}, dev, -0.5f, 0.5f);
  in.running_mean = Tensor::zeros({kChannels}, dev);
  in.running_var = Tensor::full({kChannels}, 1.0, dev);
  return in;
}

// Passes over a (1, 32, 32, 128, 128) float32 tensor: 64 MiB each.
constexpr double kPass = 4.0 * 32 * 32 * 128 * 128;

// Training forward: statistics read x twice (mean, then squared deviations), apply reads x and
// writes y: 4 passes.
void BM_batch_norm_forward_train(benchmark::State& state, bool cuda) {
  Device dev;
  if (!bench::pick_device(state, cuda, &dev)) return;
  Inputs in = make_inputs(dev);
  bench::timed(state, dev, 4 * kPass, [&] {
    benchmark::DoNotOptimize(kernels::batch_norm_forward(in.x, in.weight, in.bias, in.running_mean,
                                                         in.running_var, true));
  });
}

// Eval forward: read x, write y: 2 passes.
void BM_batch_norm_forward_eval(benchmark::State& state, bool cuda) {
  Device dev;
  if (!bench::pick_device(state, cuda, &dev)) return;
  Inputs in = make_inputs(dev);
  bench::timed(state, dev, 2 * kPass, [&] {
    benchmark::DoNotOptimize(kernels::batch_norm_forward(in.x, in.weight, in.bias, in.running_mean,
                                                         in.running_var, false));
  });
}

// Training forward (4 passes) + backward: the sums read dy and x, dx reads dy and x and writes
// dx (5 passes): 9 passes.
void BM_batch_norm_forward_backward_train(benchmark::State& state, bool cuda) {
  Device dev;
  if (!bench::pick_device(state, cuda, &dev)) return;
  Inputs in = make_inputs(dev);
  bench::timed(state, dev, 9 * kPass, [&] {
    const auto fw = kernels::batch_norm_forward(in.x, in.weight, in.bias, in.running_mean,
                                                in.running_var, true);
    benchmark::DoNotOptimize(kernels::batch_norm_backward(in.dy, in.x, in.weight, fw.mean,
                                                          fw.invstd, true, true, true, true));
  });
}

// Backward alone (5 passes), given the forward's statistics.
void BM_batch_norm_backward_train(benchmark::State& state, bool cuda) {
  Device dev;
  if (!bench::pick_device(state, cuda, &dev)) return;
  Inputs in = make_inputs(dev);
  const auto fw =
      kernels::batch_norm_forward(in.x, in.weight, in.bias, in.running_mean, in.running_var, true);
  bench::timed(state, dev, 5 * kPass, [&] {
    benchmark::DoNotOptimize(kernels::batch_norm_backward(in.dy, in.x, in.weight, fw.mean,
                                                          fw.invstd, true, true, true, true));
  });
}

// The CPU kernels alone, writing into buffers allocated once (the entry points allocate y, dx
// and the statistics per call: on the host that is a fresh mmap whose first touch page-faults).
void BM_batch_norm_cpu_kernels_forward_train(benchmark::State& state) {
  Inputs in = make_inputs(Device::cpu());
  Tensor y = Tensor::zeros(kShape), mean = Tensor::zeros({kChannels}),
         invstd = Tensor::zeros({kChannels});
  const std::int64_t S = kShape.numel() / kChannels;
  bench::timed(state, Device::cpu(), 4 * kPass, [&] {
    kernels::cpu::batch_norm_stats(in.x.data<float>(), 1, kChannels, S, mean.data<float>(),
                                   invstd.data<float>(), in.running_mean.data<float>(),
                                   in.running_var.data<float>(), 0.1, 1e-5);
    kernels::cpu::batch_norm_apply(in.x.data<float>(), mean.data<float>(), invstd.data<float>(),
                                   in.weight.data<float>(), in.bias.data<float>(), y.data<float>(),
                                   1, kChannels, S);
  });
}

void BM_batch_norm_cpu_kernels_backward_train(benchmark::State& state) {
  Inputs in = make_inputs(Device::cpu());
  Tensor dx = Tensor::zeros(kShape), sum_dy = Tensor::zeros({kChannels}),
         sum_dy_xhat = Tensor::zeros({kChannels});
  const auto fw =
      kernels::batch_norm_forward(in.x, in.weight, in.bias, in.running_mean, in.running_var, true);
  const std::int64_t S = kShape.numel() / kChannels;
  bench::timed(state, Device::cpu(), 5 * kPass, [&] {
    kernels::cpu::batch_norm_backward_reduce(
        in.dy.data<float>(), in.x.data<float>(), fw.mean.data<float>(), fw.invstd.data<float>(),
        sum_dy.data<float>(), sum_dy_xhat.data<float>(), 1, kChannels, S);
    kernels::cpu::batch_norm_backward_input(
        in.dy.data<float>(), in.x.data<float>(), fw.mean.data<float>(), fw.invstd.data<float>(),
        in.weight.data<float>(), sum_dy.data<float>(), sum_dy_xhat.data<float>(), dx.data<float>(),
        1, kChannels, S, true);
  });
}

}  // namespace

BENCHMARK(BM_batch_norm_cpu_kernels_forward_train)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_batch_norm_cpu_kernels_backward_train)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_batch_norm_forward_train, cpu, false)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_batch_norm_forward_train, cuda, true)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_batch_norm_forward_eval, cpu, false)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_batch_norm_forward_eval, cuda, true)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_batch_norm_backward_train, cpu, false)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_batch_norm_backward_train, cuda, true)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_batch_norm_forward_backward_train, cpu, false)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_batch_norm_forward_backward_train, cuda, true)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
