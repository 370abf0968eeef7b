// GPU entries for kernels/: every op's CUDA path against its CPU twin (forward and input
// gradients) over odd shapes, reduction determinism, strided copies.
#include <catch2/catch.hpp>

#include "engine/rng.h"
#include "kernels/copy_ops.h"
#include "kernels/elementwise_ops.h"
#include "kernels/reduce_ops.h"
#include "kernels/upsample_ops.h"
#include "layers/functional.h"
#include "tests/op_harness.h"

using namespace ddnet;

TEST_CASE("gpu kernels: elementwise ops match the CPU", "[gpu]") {
  for (const Shape& s : test::odd_shapes()) {
    test::check_cuda_matches_cpu(
        {"add", {s, s}, [](const auto& in) { return F::add(in[0], in[1]); }});
    test::check_cuda_matches_cpu(
        {"mul", {s, s}, [](const auto& in) { return F::mul(in[0], in[1]); }});
    test::check_cuda_matches_cpu(
        {"scale", {s}, [](const auto& in) { return F::scale(in[0], 0.3); }});
    test::check_cuda_matches_cpu(
        {"leaky_relu", {s}, [](const auto& in) { return F::leaky_relu(in[0]); }});
  }
}

TEST_CASE("gpu kernels: reductions match the CPU", "[gpu][reduce]") {
  for (const Shape& s : test::odd_shapes()) {
    test::check_cuda_matches_cpu({"sum", {s}, [](const auto& in) { return F::sum(in[0]); }});
    test::check_cuda_matches_cpu({"mean", {s}, [](const auto& in) { return F::mean(in[0]); }});
    test::check_cuda_matches_cpu({"sum_sq", {s}, [](const auto& in) { return F::sum_sq(in[0]); }});
    test::check_cuda_matches_cpu(
        {"max", {s}, [](const auto& in) { return kernels::max(in[0]); }, -1.f, 1.f, 0, 0, false});
  }
}

TEST_CASE("gpu kernels: reductions are deterministic run to run", "[gpu][reduce]") {
  Tensor x = Generator(8).normal({1, 1, 32, 256, 256}, Device::cuda(0));
  const float first = kernels::sum(x).to_vector<float>()[0];
  for (int i = 0; i < 5; ++i) REQUIRE(kernels::sum(x).to_vector<float>()[0] == first);
}

TEST_CASE("gpu kernels: axpy, fill and strided copy match the CPU", "[gpu]") {
  const Device gpu = Device::cuda(0);
  Generator g(5);
  Tensor x = g.uniform({3, 7, 2, 5, 9}), y = g.uniform({3, 7, 2, 5, 9});
  Tensor xg = x.to(gpu), yg = y.to(gpu);
  kernels::axpy_(0.25, x, y);
  kernels::axpy_(0.25, xg, yg);
  test::check_close(yg, y, 1e-6, 1e-7, "axpy");
  Tensor v = x.narrow(1, 2, 3).narrow(4, 1, 6);
  test::check_close(kernels::contiguous(xg.narrow(1, 2, 3).narrow(4, 1, 6)), kernels::contiguous(v),
                    0, 0, "strided copy");
  kernels::fill_(yg, -3.5);
  for (float f : yg.to_vector<float>()) REQUIRE(f == -3.5f);
}

TEST_CASE("gpu kernels: upsample (nearest, linear, both align_corners) matches the CPU",
          "[gpu][upsample]") {
  using kernels::UpsampleMode;
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{1, 16, 4, 8, 8}, Shape{1, 2, 3, 33, 17}})
    for (int factor : {2, 3}) {
      test::check_cuda_matches_cpu({"upsample nearest", {s}, [factor](const auto& in) {
                                      return F::upsample(in[0], factor, UpsampleMode::nearest,
                                                         false);
                                    }});
      for (bool align : {true, false})
        test::check_cuda_matches_cpu({"upsample linear", {s}, [factor, align](const auto& in) {
                                        return F::upsample(in[0], factor, UpsampleMode::linear,
                                                           align);
                                      }});
    }
}
