// GPU entries for batch normalisation: the CUDA path against its CPU twin (forward, the gradients
// of x, weight and bias, the running stats) in training and eval mode over shapes that exercise
// the per-channel partition (one part, many parts, parts that cross (n, c) rows, S = 1, many
// channels), and run-to-run determinism of the reductions.
#include <catch2/catch.hpp>

#include "engine/rng.h"
#include "kernels/batchnorm_ops.h"
#include "layers/batchnorm_autograd.h"
#include "layers/batchnorm_conv.h"
#include "tests/op_harness.h"

using namespace ddnet;

namespace {

const std::vector<Shape>& gpu_shapes() {
  static const std::vector<Shape> shapes = {
      Shape{2, 3, 5, 7},       Shape{3, 2, 1, 1},       Shape{64, 3, 1, 10, 10},
      Shape{3000, 4, 1, 1},    Shape{2, 300, 3, 5},     Shape{1, 16, 3, 5, 33},
      Shape{1, 4, 16, 64, 64}, Shape{2, 1, 7, 129, 65}, Shape{1, 32, 8, 64, 64}};
  return shapes;
}

Tensor running(std::int64_t C, double a, double b, Device device) {
  std::vector<float> v;
  for (std::int64_t c = 0; c < C; ++c)
    v.push_back(static_cast<float>(a + b * static_cast<double>(c)));
  return Tensor::from_vector(v, {C}).to(device);
}

// Running statistics of x's element type (the float64 reference runs in double) and device.
Tensor running_like(const Tensor& x, std::int64_t C, double a, double b) {
  const Tensor r = running(C, a, b, Device::cpu());
  return (x.dtype() == DType::f64 ? test::to_f64(r) : r).to(x.device());
}

}  // namespace

TEST_CASE("gpu batch_norm: forward and gradients of x, weight, bias match the CPU",
          "[gpu][batchnorm]") {
  for (const Shape& s : gpu_shapes())
    for (bool training : {true, false}) {
      const std::int64_t C = s[1];
      test::check_cuda_matches_cpu({training ? "batch_norm train" : "batch_norm eval",
                                    {s, Shape{C}, Shape{C}},
                                    [training, C](const std::vector<Tensor>& in) {
                                      Tensor rm = running_like(in[0], C, -0.2, 0.01),
                                             rv = running_like(in[0], C, 0.5, 0.02);
                                      return F::batch_norm(in[0], in[1], in[2], rm, rv, training);
                                    },
                                    -2.f,
                                    3.f});
      test::check_cuda_matches_cpu(
          {training ? "batch_norm train, no affine" : "batch_norm eval, no affine",
           {s},
           [training, C](const std::vector<Tensor>& in) {
             Tensor rm = running_like(in[0], C, 0.3, -0.01), rv = running_like(in[0], C, 1.5, 0.03);
             return F::batch_norm(in[0], Tensor(), Tensor(), rm, rv, training);
           }});
    }
}

TEST_CASE("gpu batch_norm: running stats and saved statistics match the CPU", "[gpu][batchnorm]") {
  const Device gpu = Device::cuda(0);
  for (const Shape& s : gpu_shapes()) {
    INFO("shape " << s.str());
    const std::int64_t C = s[1];
    Generator g(11);
    Tensor x = g.normal(s, Device::cpu(), 1.5f, 2.f);
    Tensor w = g.uniform({C}), b = g.uniform({C});
    Tensor rm = running(C, 0.1, 0.01, Device::cpu()), rv = running(C, 0.9, 0.01, Device::cpu());
    Tensor rm_g = rm.to(gpu), rv_g = rv.to(gpu);  // copies: each side updates its own
    const auto cpu = kernels::batch_norm_forward(x, w, b, rm, rv, true, 0.2);
    const auto dev =
        kernels::batch_norm_forward(x.to(gpu), w.to(gpu), b.to(gpu), rm_g, rv_g, true, 0.2);
    test::check_close(dev.y, cpu.y, 1e-4, 1e-5, "y");
    test::check_close(dev.mean, cpu.mean, 1e-5, 1e-6, "mean");
    test::check_close(dev.invstd, cpu.invstd, 1e-5, 1e-6, "invstd");
    test::check_close(rm_g, rm, 1e-5, 1e-6, "running_mean");
    test::check_close(rv_g, rv, 1e-5, 1e-6, "running_var");
  }
}

TEST_CASE("gpu batch_norm: reductions are deterministic run to run", "[gpu][batchnorm]") {
  const Device gpu = Device::cuda(0);
  Generator g(12);
  const Shape s{1, 8, 32, 128, 128};
  Tensor x = g.normal(s, gpu), dy = g.normal(s, gpu);
  Tensor w = g.uniform({8}, gpu), b = g.uniform({8}, gpu);
  auto run = [&] {
    Tensor rm = Tensor::zeros({8}, gpu), rv = Tensor::full({8}, 1.0, gpu);
    const auto fw = kernels::batch_norm_forward(x, w, b, rm, rv, true);
    const auto bw =
        kernels::batch_norm_backward(dy, x, w, fw.mean, fw.invstd, true, true, true, true);
    return std::vector<std::vector<float>>{
        fw.mean.to_vector<float>(), fw.invstd.to_vector<float>(),  rv.to_vector<float>(),
        bw.dx.to_vector<float>(),   bw.dweight.to_vector<float>(), bw.dbias.to_vector<float>()};
  };
  const auto first = run();
  const char* names[] = {"mean", "invstd", "running_var", "dx", "dweight", "dbias"};
  for (int i = 0; i < 3; ++i) {
    const auto again = run();
    for (std::size_t k = 0; k < first.size(); ++k) {
      INFO("run " << i + 2 << ", output " << names[k]);
      const bool bitwise_equal = again[k] == first[k];  // not the vectors: megabytes of text
      CHECK(bitwise_equal);
    }
  }
}

TEST_CASE("gpu batch_norm_apply: the device's forward output, bit for bit, from its statistics",
          "[gpu][batchnorm]") {
  const Device gpu = Device::cuda(0);
  for (const Shape& s : gpu_shapes()) {
    INFO("shape " << s.str());
    const std::int64_t C = s[1];
    Generator g(12);
    const Tensor x = g.normal(s, Device::cpu(), 0.5f, 2.f).to(gpu);
    const Tensor w = g.uniform({C}).to(gpu), b = g.uniform({C}).to(gpu);
    Tensor rm = running(C, 0.1, 0.01, gpu), rv = running(C, 0.9, 0.01, gpu);
    const auto fw = kernels::batch_norm_forward(x, w, b, rm, rv, true);
    const Tensor y = kernels::batch_norm_apply(x, fw.mean, fw.invstd, w, b);
    const std::vector<float> a = y.to(Device::cpu()).to_vector<float>(),
                             e = fw.y.to(Device::cpu()).to_vector<float>();
    REQUIRE(a == e);
  }
}

TEST_CASE(
    "gpu batch_norm_conv: the lean composite (normalisation recomputed in backward) "
    "matches the CPU",
    "[gpu][batchnorm]") {
  for (bool transpose : {false, true})
    for (bool training : {true, false}) {
      const Shape ws = transpose ? Shape{3, 4, 3, 3, 3} : Shape{4, 3, 3, 3, 3};
      test::check_cuda_matches_cpu(
          {transpose ? "batch_norm_conv transposed" : "batch_norm_conv",
           {Shape{2, 3, 6, 5, 7}, Shape{3}, Shape{3}, ws, Shape{4}},
           [transpose, training](const std::vector<Tensor>& in) {
             Tensor rm = running_like(in[0], 3, -0.2, 0.01), rv = running_like(in[0], 3, 0.5, 0.02);
             return F::batch_norm_conv(in[0], {in[1], in[2], rm, rv, training}, in[3], in[4],
                                       {1, 1}, transpose);
           },
           -1.f,
           2.f});
    }
}

TEST_CASE(
    "gpu bottleneck_conv: the lean dense layer (bottleneck recomputed in backward) matches the "
    "CPU",
    "[gpu][batchnorm]") {
  for (bool training : {true, false})
    test::check_cuda_matches_cpu(
        {"bottleneck_conv",
         {Shape{2, 3, 6, 5, 7}, Shape{3}, Shape{3}, Shape{8, 3, 1, 1, 1}, Shape{8}, Shape{8},
          Shape{8}, Shape{4, 8, 3, 3, 3}, Shape{4}},
         [training](const std::vector<Tensor>& in) {
           Tensor rm1 = running_like(in[0], 3, -0.2, 0.01), rv1 = running_like(in[0], 3, 0.5, 0.02);
           Tensor rm2 = running_like(in[0], 8, 0.1, 0.01), rv2 = running_like(in[0], 8, 0.7, 0.05);
           return F::bottleneck_conv(in[0], {in[1], in[2], rm1, rv1, training},
                                     {in[3], in[4], {1, 0}}, 0.01,
                                     {in[5], in[6], rm2, rv2, training}, {in[7], in[8], {1, 1}});
         },
         -1.f,
         2.f,
         // Two normalisations in a row: the second's batch statistics scale the first's float32
         // rounding by its 1 / std (1.4e-5 absolute seen at 1e-5).
         1e-4,
         5e-5});
}

TEST_CASE("gpu batch_norm backward: overwrite_dy writes over dy on the device, as on the CPU",
          "[gpu][batchnorm]") {
  const Device gpu = Device::cuda(0);
  Generator g(31);
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{1, 16, 3, 5, 33}})
    for (bool training : {true, false}) {
      INFO("shape " << s.str() << ", training " << training);
      const std::int64_t C = s[1];
      const Tensor x = g.uniform(s, Device::cpu(), -2.f, 3.f), dy = g.uniform(s, Device::cpu());
      const Tensor w = running(C, 0.5, 0.25, Device::cpu());
      Tensor rm = running(C, 0.1, 0.01, Device::cpu()), rv = running(C, 1.2, 0.1, Device::cpu());
      Tensor rmg = rm.to(gpu), rvg = rv.to(gpu);
      const Tensor xg = x.to(gpu), wg = w.to(gpu);
      const kernels::BatchNormForward fw =
          kernels::batch_norm_forward(x, w, Tensor(), rm, rv, training);
      const kernels::BatchNormForward fwg =
          kernels::batch_norm_forward(xg, wg, Tensor(), rmg, rvg, training);
      const kernels::BatchNormGrads want =
          kernels::batch_norm_backward(dy, x, w, fw.mean, fw.invstd, training, true, true, true);
      const Tensor dyg = dy.to(gpu);
      const kernels::BatchNormGrads got = kernels::batch_norm_backward(
          dyg, xg, wg, fwg.mean, fwg.invstd, training, true, true, true, true);
      CHECK(got.dx.shares_storage_with(dyg));
      test::check_close(got.dx, want.dx, 1e-4, 1e-5, "dx over dy");
      test::check_close(got.dweight, want.dweight, 1e-4, 1e-4, "dweight");
    }
}
