// GPU entries for the elementwise ops: add, mul, scale and LeakyReLU against the CPU (forward and
// input gradients) over odd shapes; axpy and fill.
#include <catch2/catch.hpp>

#include "engine/rng.h"
#include "kernels/elementwise_ops.h"
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

TEST_CASE("gpu kernels: axpy and fill match the CPU", "[gpu]") {
  const Device gpu = Device::cuda(0);
  Generator g(5);
  Tensor x = g.uniform({3, 7, 2, 5, 9}), y = g.uniform({3, 7, 2, 5, 9});
  Tensor xg = x.to(gpu), yg = y.to(gpu);
  kernels::axpy_(0.25, x, y);
  kernels::axpy_(0.25, xg, yg);
  test::check_close(yg, y, 1e-6, 1e-7, "axpy");
  kernels::fill_(yg, -3.5);
  for (float f : yg.to_vector<float>()) REQUIRE(f == -3.5f);
}

TEST_CASE("gpu kernels: leaky_relu_backward_inplace writes over dy on the device, as on the CPU",
          "[gpu]") {
  const Device gpu = Device::cuda(0);
  Generator g(6);
  for (const Shape& s : {Shape{7}, Shape{3, 7, 2, 5, 9}}) {
    const Tensor x = g.uniform(s, Device::cpu(), -1.f, 1.f), dy = g.uniform(s);
    const Tensor want = kernels::leaky_relu_backward(x, dy, 0.01);
    Tensor dyg = dy.to(gpu);
    const void* where = dyg.raw_data();
    kernels::leaky_relu_backward_inplace(x.to(gpu), dyg, 0.01);
    CHECK(dyg.raw_data() == where);
    CHECK(dyg.to(Device::cpu()).to_vector<float>() == want.to_vector<float>());
  }
}
