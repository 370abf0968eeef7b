// CUDA tests of fused_op::upsample_into, run on the engine's CPU emulator of CUDA against an
// emulated install and on a real GPU where there is one (main_cuda.cpp skips otherwise): the
// CUDA kernels against the CPU twin, bit for bit (the kernels follow the twin's operations and
// order, compiled without FMA contraction); and the model switch on the device.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/stream.h"
#include "kernels/copy_ops.h"
#include "kernels/upsample_ops.h"
#include "layers/functional.h"
#include "model_run.h"

using namespace fused_op::test;
namespace F = ddnet::F;

namespace {

struct Result {
  Tensor buffer, grad;
};
// The fused op on `device`: the concatenation buffer after the forward and x's gradient for a
// strided output gradient.
Result run(const Tensor& x0, const Tensor& seed0, const Mode& m, Device device) {
  Tensor x = x0.to(device).clone();
  x.set_requires_grad();
  const Tensor seed = seed0.to(device);
  Shape wide = seed.shape();
  wide[1] *= 2;
  Tensor seed_buffer = Tensor::zeros(wide, device, seed.dtype());
  Tensor strided = seed_buffer.narrow(1, 0, seed.size(1));
  strided.copy_(seed);
  ConcatBuffer b = concat_buffer(doubled(x.shape()), x.dtype(), device);
  fused_op::upsample_into(x, b.first_half, m.mode, m.align_corners).backward(strided);
  return {b.buffer.to(Device::cpu()), x.grad().to(Device::cpu())};
}

}  // namespace

TEST_CASE("cuda: the kernels equal the CPU twin bit for bit, forward and backward",
          "[cuda][kernels]") {
  const Device cuda = Device::cuda(0);
  for (DType dtype : {DType::f32, DType::f64})
    for (const Shape& s : shapes())
      for (const Mode& m : modes()) {
        INFO(describe(s, m, dtype));
        const Tensor x = random(s, dtype, 31);
        const Tensor seed = random(doubled(s), dtype, 32);
        const Result gpu = run(x, seed, m, cuda), cpu = run(x, seed, m, Device::cpu());
        REQUIRE(same_bits(gpu.buffer, cpu.buffer));
        REQUIRE(same_bits(gpu.grad, cpu.grad));
      }
}

TEST_CASE("cuda: close to the engine's own CUDA upsample + copy_into", "[cuda][kernels]") {
  // The engine's CUDA kernel sums in another order: close, not equal.
  const Device cuda = Device::cuda(0);
  for (const Shape& s : {Shape{2, 3, 3, 4, 5}, Shape{2, 3, 5, 7}})
    for (const Mode& m : modes()) {
      INFO(describe(s, m, DType::f32));
      const Tensor x = random(s, DType::f32, 33, cuda);
      ConcatBuffer fused = concat_buffer(doubled(s), DType::f32, cuda);
      ConcatBuffer unfused = concat_buffer(doubled(s), DType::f32, cuda);
      fused_op::upsample_into(x, fused.first_half, m.mode, m.align_corners);
      F::copy_into(F::upsample(x, 2, m.mode, m.align_corners), unfused.first_half);
      check_close(fused.buffer, unfused.buffer, 1e-6, 1e-6, "forward");
      const Tensor dy = random(doubled(s), DType::f32, 34, cuda);
      check_close(fused_op::upsample_into_backward(dy, s, m.mode, m.align_corners),
                  ddnet::kernels::upsample_backward(dy, s, 2, m.mode, m.align_corners), 1e-5, 1e-6,
                  "backward");
    }
}

TEST_CASE("cuda: on a stream of its own", "[cuda][kernels]") {
  // The kernels and the tables' upload go to the current stream, not the default one.
  const Device cuda = Device::cuda(0);
  const ddnet::Stream stream = ddnet::Stream::create(0);
  ddnet::StreamGuard guard(stream);
  const Shape s{2, 4, 4, 6, 6};
  const Mode& m = modes()[2];
  const Tensor x = random(s, DType::f32, 35);
  const Tensor seed = random(doubled(s), DType::f32, 36);
  const Result gpu = run(x, seed, m, cuda);
  stream.synchronize();
  const Result cpu = run(x, seed, m, Device::cpu());
  REQUIRE(same_bits(gpu.buffer, cpu.buffer));
  REQUIRE(same_bits(gpu.grad, cpu.grad));
}

TEST_CASE("cuda model: 3D-DDnet and 2D-DDnet agree with and without the switch", "[cuda][model]") {
  // On the device the unfused path is the engine's CUDA upsample, whose backward sums in another
  // order than this op's (the CPU twin's): the upsample gradients differ in the last bits. The
  // forward values and the running statistics are compared elementwise. Train-mode batch
  // normalisation of one volume turns a few gradients into sums that cancel to ~1e-6 of their
  // terms (batch1.weight, conv1.bias), where those last bits become ~10 % of the result; so the
  // gradients are compared at the network's gradient scale: the whole gradient's relative L2
  // distance, and every element against the largest gradient magnitude (measured on the
  // emulator: 5e-7 and 5e-7 of it; a wrong weight or a lost contribution gives 1e-2 and more).
  struct Case {
    int dims;
    Shape input;
  };
  for (const Case& c : {Case{3, {1, 1, 16, 32, 32}}, Case{2, {2, 1, 32, 32}}}) {
    const std::string what = std::to_string(c.dims) + "D " + c.input.str() + ": ";
    const ModelRun unfused = run_model(c.dims, c.input, false, Device::cuda(0));
    const ModelRun fused = run_model(c.dims, c.input, true, Device::cuda(0));
    REQUIRE(fused.fused_calls == 8);  // training and eval forwards
    REQUIRE(unfused.fused_calls == 0);
    REQUIRE(fused.results.size() == unfused.results.size());
    double diff_sq = 0, norm_sq = 0, largest = 0;
    for (const ModelResult& r : unfused.results)
      if (r.gradient)
        for (double v : values(r.value)) {
          norm_sq += v * v;
          largest = std::max(largest, std::abs(v));
        }
    for (std::size_t i = 0; i < fused.results.size(); ++i) {
      if (!fused.results[i].gradient) {
        check_close(fused.results[i].value, unfused.results[i].value, 1e-4, 1e-6,
                    what + fused.results[i].name);
        continue;
      }
      check_close(fused.results[i].value, unfused.results[i].value, 0, 1e-5 * largest,
                  what + fused.results[i].name);
      const std::vector<double> a = values(fused.results[i].value),
                                b = values(unfused.results[i].value);
      for (std::size_t k = 0; k < a.size(); ++k) diff_sq += (a[k] - b[k]) * (a[k] - b[k]);
    }
    INFO(what << "all gradients: relative L2 distance " << std::sqrt(diff_sq / norm_sq));
    REQUIRE(std::sqrt(diff_sq / norm_sq) <= 1e-5);
  }
}
