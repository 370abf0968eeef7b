// MS-SSIM: gradient checks in double (2D and 3D, both combinations), edge cases (constant volumes,
// NaN/Inf inputs, volumes too small for the levels), and parity with the PyTorch fixtures
// (tests/fixtures/gen_msssim.py, float64): value, per-level terms, the inferred data range, and
// the gradient (full, or 2000 samples for the two large volumes that both sides build from the
// same exact integer formula), rtol 1e-4 in fp32.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>

#include "engine/rng.h"
#include "layers/functional.h"
#include "tests/fixtures.h"
#include "tests/formula.h"
#include "tests/op_harness.h"

using namespace ddnet;
using Catch::Matchers::Contains;

using test::formula_volume;

TEST_CASE("msssim parity: reference and textbook formulas against PyTorch", "[msssim][parity]") {
  test::Fixtures fx("msssim.h5");
  const auto cases = fx.cases();
  REQUIRE(cases.size() == 8);
  for (const auto& c : cases) {
    INFO("fixture case " << c);
    Tensor x, y;
    const bool formula = fx.attr(c, "formula") != 0;
    if (formula) {
      formula_volume(static_cast<std::int64_t>(fx.attr(c, "shape_d")),
                     static_cast<std::int64_t>(fx.attr(c, "shape_h")),
                     static_cast<std::int64_t>(fx.attr(c, "shape_w")), &x, &y);
    } else {
      x = fx.tensor(c, "x");
      y = fx.tensor(c, "y");
    }
    const auto opts = fx.attr(c, "textbook") != 0 ? kernels::MsssimOptions::textbook()
                                                  : kernels::MsssimOptions::reference();
    // per-level terms and the inferred range, from the kernel
    kernels::VolumeShape s;
    s.is_3d = x.dim() == 5;
    s.planes = x.size(0) * x.size(1);
    s.d = s.is_3d ? x.size(2) : 1;
    s.h = x.size(x.dim() - 2);
    s.w = x.size(x.dim() - 1);
    const auto r = kernels::cpu::msssim<float>(x.data<float>(), y.data<float>(), s, opts, nullptr);
    test::check_close(Tensor::from_vector(r.ssim, {static_cast<std::int64_t>(r.ssim.size())}),
                      fx.tensor(c, "ssim"), 1e-5, 1e-7, "ssim per level");
    test::check_close(Tensor::from_vector(r.cs, {static_cast<std::int64_t>(r.cs.size())}),
                      fx.tensor(c, "cs"), 1e-5, 1e-7, "cs per level");
    test::check_close(Tensor::from_vector(r.range, {static_cast<std::int64_t>(r.range.size())}),
                      fx.tensor(c, "range"), 0, 1e-6, "data range per level");
    // value and gradient through autograd
    x.set_requires_grad();
    Tensor v = F::msssim(x, y, opts);
    test::check_close(v, fx.tensor(c, "value"), 1e-5, 1e-7, "value");
    v.backward();
    const auto g = x.grad().to_vector<float>();
    double gmax = 0;
    for (float e : g) gmax = std::max(gmax, std::fabs(static_cast<double>(e)));
    if (formula) {
      const auto idx = fx.tensor(c, "grad_index").to_vector<float>();
      std::vector<float> sampled;
      for (float i : idx) sampled.push_back(g[static_cast<std::size_t>(i)]);
      test::check_close(Tensor::from_vector(sampled, {static_cast<std::int64_t>(sampled.size())}),
                        fx.tensor(c, "grad_sample"), 1e-4, 1e-4 * gmax, "sampled gradient");
    } else {
      test::check_close(x.grad(), fx.tensor(c, "dx"), 1e-4, 1e-4 * gmax + 1e-12, "gradient");
    }
  }
}

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
