// Pooling: hand-computed cases (ties, padding, NaN), output sizes, errors, gradient checks.
// Parity: pooling against PyTorch's max_pool2d/3d and avg_pool2d/3d (tests/fixtures/gen_pool.py).
#include <catch2/catch.hpp>

#include <array>
#include <cmath>

#include "engine/parallel.h"
#include "engine/rng.h"
#include "kernels/copy_ops.h"
#include "kernels/pool_impl.h"
#include "kernels/pool_ops.h"
#include "layers/pool_autograd.h"
#include "tests/fixtures.h"
#include "tests/op_harness.h"

using namespace ddnet;
using Catch::Matchers::Contains;

TEST_CASE("pool: max with padding, ties and the argmax", "[pool]") {
  // 1 x 1 x 3 x 3, kernel 3, stride 2, padding 1 -> 2 x 2
  Tensor x = Tensor::from_vector(std::vector<float>{1, 5, 2, 5, 3, 0, -1, 4, 4}, {1, 1, 3, 3});
  auto r = kernels::max_pool(x, 3, 2, 1);
  REQUIRE(r.y.shape() == Shape({1, 1, 2, 2}));
  REQUIRE(r.y.to_vector<float>() == std::vector<float>{5, 5, 5, 4});
  // ties: the first maximum in scan order wins (index 1 before index 3)
  REQUIRE(r.argmax.to_vector<std::int32_t>() == std::vector<std::int32_t>{1, 1, 3, 7});
  // padding never wins: an all-negative input keeps its own values
  Tensor neg = Tensor::full({1, 1, 2, 2}, -3.0);
  REQUIRE(kernels::max_pool(neg, 3, 2, 1).y.to_vector<float>() == std::vector<float>{-3});
  // NaN is a maximum
  Tensor n = Tensor::from_vector(std::vector<float>{1, NAN, 2, 3}, {1, 1, 2, 2});
  REQUIRE(std::isnan(kernels::max_pool(n, 2, 2, 0).y.item()));
  // gradient routes to the argmax; an input chosen by two windows sums both
  Tensor dx = kernels::max_pool_backward(
      Tensor::from_vector(std::vector<float>{1, 10, 100, 1000}, {1, 1, 2, 2}), r.argmax, x.shape(),
      3, 2, 1);
  REQUIRE(dx.to_vector<float>() == std::vector<float>{0, 11, 0, 100, 0, 0, 0, 1000, 0});
}

TEST_CASE("pool: average and output sizes", "[pool]") {
  Tensor x = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {1, 1, 2, 5});
  Tensor y = kernels::avg_pool(x, 2, 2);
  REQUIRE(y.shape() == Shape({1, 1, 1, 2}));                  // floor: the fifth column is dropped
  REQUIRE(y.to_vector<float>() == std::vector<float>{4, 6});  // (1+2+6+7)/4, (3+4+8+9)/4
  REQUIRE(kernels::max_pool(Tensor::zeros({1, 2, 16, 32, 32}), 3, 2, 1).y.shape() ==
          Shape({1, 2, 8, 16, 16}));
  REQUIRE(kernels::max_pool(Tensor::zeros({1, 2, 7, 9, 5}), 3, 2, 1).y.shape() ==
          Shape({1, 2, 4, 5, 3}));
}

TEST_CASE("pool: errors name the problem", "[pool]") {
  REQUIRE_THROWS_WITH(kernels::max_pool(Tensor::zeros({1, 1, 8, 8}), 3, 2, 2),
                      Contains("padding 2 is more than half the kernel 3"));
  REQUIRE_THROWS_WITH(kernels::avg_pool(Tensor::zeros({1, 1, 1, 8}), 2, 2),
                      Contains("smaller than the kernel"));
  REQUIRE_THROWS_WITH(kernels::avg_pool(Tensor::zeros({8, 8}), 2, 2),
                      Contains("must be (N, C, H, W)"));
  // The argmax's 32-bit range, checked on the geometry (no 8 GiB tensor needed): a 2^31-element
  // channel is refused, 512x512x256 channels (2^26) and many of them are fine.
  const auto big = kernels::pool_geometry("max_pool", Shape{1, 1, 2048, 1024, 1024}, 3, 2, 1);
  REQUIRE_THROWS_WITH(kernels::check_argmax_range("max_pool", big),
                      Contains("2147483648 elements (2048x1024x1024)"));
  REQUIRE_NOTHROW(kernels::check_argmax_range(
      "max_pool", kernels::pool_geometry("max_pool", Shape{1, 32, 256, 512, 512}, 3, 2, 1)));
}

TEST_CASE("pool: gradient checks, 2D and 3D", "[pool][gradcheck]") {
  for (const Shape& s :
       {Shape{2, 3, 7, 9}, Shape{1, 2, 5, 6, 7}, Shape{1, 1, 2, 4, 4}, Shape{2, 1, 3, 3}}) {
    test::check_gradient(
        {"max_pool 3/2/1", {s}, [](const auto& in) { return F::max_pool(in[0], 3, 2, 1); }});
    test::check_gradient(
        {"max_pool 2/2/0", {s}, [](const auto& in) { return F::max_pool(in[0], 2, 2, 0); }});
    test::check_gradient(
        {"avg_pool 2/2", {s}, [](const auto& in) { return F::avg_pool(in[0], 2, 2); }});
  }
}

TEST_CASE("pool: max-pool backward, the per-plane scatter equals the per-element gather",
          "[pool]") {
  // Enough planes for the scatter (2 per thread); each plane alone (one plane) takes the gather.
  // Integer inputs make ties, overlapping windows (3/2/1) give inputs several outputs' gradients,
  // and gradients of mixed magnitude make the order of their sums visible in the last bits.
  const std::int64_t planes = 2 * cpu_threads() + 1;
  Generator gen(11);
  const Shape shape{1, planes, 5, 7, 9};
  std::vector<float> xv = gen.uniform(shape, Device::cpu(), 0, 4).to_vector<float>();
  for (float& v : xv) v = std::floor(v);
  const Tensor x = Tensor::from_vector(xv, shape);
  for (const auto& [k, s, p] : std::vector<std::array<int, 3>>{{3, 2, 1}, {2, 2, 0}, {3, 1, 1}}) {
    auto r = kernels::max_pool(x, k, s, p);
    std::vector<float> g = gen.uniform(r.y.shape(), Device::cpu(), -1, 1).to_vector<float>();
    const std::vector<float> e = gen.uniform(r.y.shape(), Device::cpu(), -8, 8).to_vector<float>();
    for (std::size_t i = 0; i < g.size(); ++i) g[i] *= std::exp(e[i]);
    const Tensor dy = Tensor::from_vector(g, r.y.shape());
    const auto all =
        kernels::max_pool_backward(dy, r.argmax, x.shape(), k, s, p).to_vector<float>();
    const std::int64_t in_plane = x.numel() / planes;
    for (std::int64_t c = 0; c < planes; ++c) {
      const Shape one{1, 1, 5, 7, 9};
      const auto dx =
          kernels::max_pool_backward(kernels::contiguous(dy.narrow(1, c, 1)),
                                     kernels::contiguous(r.argmax.narrow(1, c, 1)), one, k, s, p)
              .to_vector<float>();
      for (std::int64_t i = 0; i < in_plane; ++i)
        REQUIRE(all[static_cast<std::size_t>(c * in_plane + i)] == dx[static_cast<std::size_t>(i)]);
    }
  }
}

TEST_CASE("pool: max-pool forward by rows equals the per-element form (ties, NaN, padding)",
          "[pool]") {
  // The CPU forward works a row of outputs at a time; the CUDA kernel runs pool_impl::max_at per
  // output. Both must pick the same value and the same argmax.
  Generator gen(12);
  for (const Shape& shape :
       {Shape{2, 3, 5, 7, 9}, Shape{1, 2, 8, 6, 11}, Shape{3, 2, 7, 10}, Shape{1, 2, 4, 5, 41}}) {
    std::vector<float> xv = gen.uniform(shape, Device::cpu(), -3, 3).to_vector<float>();
    for (std::size_t i = 0; i < xv.size(); ++i) {
      xv[i] = std::floor(xv[i]);           // ties
      if (i % 37 == 5) xv[i] = NAN;        // NaN wins
      if (i % 53 == 7) xv[i] = -INFINITY;  // never above a finite value
    }
    const Tensor x = Tensor::from_vector(xv, shape);
    for (const auto& [k, s, p] :
         std::vector<std::array<int, 3>>{{3, 2, 1}, {2, 2, 0}, {3, 1, 1}, {2, 1, 1}, {3, 3, 0}}) {
      const kernels::PoolGeometry g = kernels::pool_geometry("test", shape, k, s, p);
      const auto r = kernels::max_pool(x, k, s, p);
      const auto y = r.y.to_vector<float>();
      const auto a = r.argmax.to_vector<std::int32_t>();
      std::vector<float> y_ref(y.size());
      std::vector<std::int32_t> a_ref(a.size());
      for (std::int64_t i = 0; i < g.planes * g.out_plane(); ++i)
        kernels::pool_impl::max_at(g, xv.data(), i, y_ref.data(), a_ref.data());
      for (std::size_t i = 0; i < y.size(); ++i) {
        INFO("kernel " << k << " stride " << s << " padding " << p << " output " << i);
        REQUIRE(a[i] == a_ref[i]);
        REQUIRE((y[i] == y_ref[i] || (std::isnan(y[i]) && std::isnan(y_ref[i]))));
      }
    }
  }
}

TEST_CASE("pool parity: PyTorch max and average pooling, forward and backward", "[pool][parity]") {
  test::Fixtures fx("pool.h5");
  const auto cases = fx.cases();
  REQUIRE(cases.size() == 5);
  for (const auto& c : cases) {
    INFO("fixture case " << c);
    Tensor x = fx.tensor(c, "x").set_requires_grad();
    const int k = static_cast<int>(fx.attr(c, "kernel")),
              s = static_cast<int>(fx.attr(c, "stride"));
    Tensor y = fx.attr(c, "max") != 0
                   ? F::max_pool(x, k, s, static_cast<int>(fx.attr(c, "padding")))
                   : F::avg_pool(x, k, s);
    test::check_close(y, fx.tensor(c, "y"), 0, 1e-7, c + " forward");
    y.backward(fx.tensor(c, "dy"));
    test::check_close(x.grad(), fx.tensor(c, "dx"), 1e-4, 1e-6, c + " input gradient");
  }
}
