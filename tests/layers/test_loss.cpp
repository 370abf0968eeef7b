// Losses: MS-SSIM gradient checks in double (2D and 3D, both combinations), edge cases
// (constant volumes, NaN/Inf inputs, volumes too small for the levels), MSE, the combined loss.
#include <catch2/catch.hpp>

#include <cmath>

#include "engine/rng.h"
#include "layers/functional.h"
#include "layers/loss.h"
#include "tests/op_harness.h"

using namespace ddnet;
using Catch::Matchers::Contains;

TEST_CASE("msssim: gradient checks, 2D and 3D, reference and textbook", "[msssim][gradcheck]") {
  Generator g(21);
  for (const Shape& s : {Shape{1, 1, 16, 18, 17}, Shape{2, 1, 33, 32}}) {
    const Tensor target = test::to_f64(g.uniform(s, Device::cpu(), 0.f, 1.f));
    for (bool textbook : {false, true}) {
      const auto opts =
          textbook ? kernels::MsssimOptions::textbook() : kernels::MsssimOptions::reference();
      // prediction = target + 0.1 * noise: correlated, as a denoiser's output is (independent
      // volumes give negative contrast terms, and a negative base to a fractional power is NaN).
      test::OpCase c{"msssim", {s}, [target, opts](const auto& in) {
                       return F::msssim(F::add(target, F::scale(in[0], 0.1)), target, opts);
                     }};
      test::check_gradient(c, 3, 1e-6, 1e-6);
    }
  }
}

TEST_CASE("msssim: constant volumes give 1 and no NaN", "[msssim]") {
  Tensor c = Tensor::full({1, 1, 16, 16, 16}, 0.5);
  Tensor x = c.clone().set_requires_grad();
  Tensor v = F::msssim(x, c);
  REQUIRE(v.item() == Approx(1.0));
  v.backward();
  for (float e : x.grad().to_vector<float>()) REQUIRE(std::isfinite(e));
}

TEST_CASE("msssim: errors say what is wrong", "[msssim]") {
  Tensor a = Tensor::full({1, 1, 16, 16, 16}, 0.5), b = a.clone();
  b.data<float>()[77] = NAN;
  REQUIRE_THROWS_WITH(F::msssim(b, a), Contains("prediction contains NaN (element 77)"));
  b.data<float>()[77] = INFINITY;
  REQUIRE_THROWS_WITH(F::msssim(a, b), Contains("target contains Inf (element 77)"));
  REQUIRE_THROWS_WITH(F::msssim(Tensor::zeros({1, 1, 4, 4, 4}), Tensor::zeros({1, 1, 4, 4, 4})),
                      Contains("too small for 4 levels"));
  REQUIRE_THROWS_WITH(
      F::msssim(Tensor::zeros({1, 1, 16, 16, 16}), Tensor::zeros({1, 1, 16, 16, 8})),
      Contains("differ in shape"));
}

TEST_CASE("loss: mse and MSE + 0.1 (1 - MS-SSIM) with its parts", "[loss]") {
  Generator g(5);
  Tensor t = g.uniform({1, 1, 16, 16, 16}, Device::cpu(), 0.f, 1.f);
  Tensor p = g.uniform({1, 1, 16, 16, 16}, Device::cpu(), 0.f, 1.f).set_requires_grad();
  double expect = 0;
  const auto pv = p.to_vector<float>(), tv = t.to_vector<float>();
  for (std::size_t i = 0; i < pv.size(); ++i) {
    const double d = static_cast<double>(pv[i]) - static_cast<double>(tv[i]);
    expect += d * d;
  }
  expect /= static_cast<double>(pv.size());
  auto parts = F::ddnet_loss(p, t, 0.1);
  REQUIRE(parts.mse.item() == Approx(expect).epsilon(1e-5));
  REQUIRE(parts.total.item() ==
          Approx(parts.mse.item() + 0.1 * (1 - parts.msssim.item())).epsilon(1e-5));
  parts.total.backward();
  REQUIRE(p.grad().defined());
  test::check_gradient(
      {"mse", {{2, 3, 4}, {2, 3, 4}}, [](const auto& in) { return F::mse(in[0], in[1]); }});
}
