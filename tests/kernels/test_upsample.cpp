// Upsample: PyTorch's source-index rules on small cases, gradient checks of every mode in 2D and
// 3D, errors.
// Parity: upsampling against PyTorch's F.interpolate (fixtures from
// tests/fixtures/make_fixtures.py): forward and input gradient, every mode, 2D and 3D, factors 2
// and 3, rtol 1e-4.
#include <catch2/catch.hpp>

#include <algorithm>

#include "engine/rng.h"
#include "kernels/cpu_features.h"
#include "kernels/upsample_ops.h"
#include "layers/functional.h"
#include "tests/fixtures.h"
#include "tests/op_harness.h"

using namespace ddnet;
using Catch::Matchers::Contains;
using kernels::UpsampleMode;

namespace {
std::vector<float> up_row(std::vector<float> row, UpsampleMode mode, bool align) {
  const auto n = static_cast<std::int64_t>(row.size());
  // H = 1 is doubled too: both output rows are the upsampled row; return the first.
  const auto y =
      kernels::upsample(Tensor::from_vector(row, {1, 1, 1, n}), 2, mode, align).to_vector<float>();
  REQUIRE(std::equal(y.begin(), y.begin() + 2 * n, y.begin() + 2 * n));
  return {y.begin(), y.begin() + 2 * n};
}
}  // namespace

TEST_CASE("upsample: nearest repeats each value factor times per axis", "[upsample]") {
  Tensor x = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {1, 1, 2, 2});
  REQUIRE(kernels::upsample(x, 2, UpsampleMode::nearest, false).to_vector<float>() ==
          std::vector<float>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  Tensor y = kernels::upsample(Tensor::full({1, 2, 1, 1, 1}, 5.0), 3, UpsampleMode::nearest, false);
  REQUIRE(y.shape() == Shape({1, 2, 3, 3, 3}));
}

TEST_CASE("upsample: linear source indices, align_corners true and false", "[upsample]") {
  // align_corners=True: src = o * (in - 1) / (out - 1) = o / 3 -> 0, 1, 2, 3
  const auto t = up_row({0, 3}, UpsampleMode::linear, true);
  for (std::size_t i = 0; i < 4; ++i) REQUIRE(t[i] == Approx(static_cast<float>(i)));
  // align_corners=False: src = (o + 0.5) / 2 - 0.5 clamped at 0 -> 0, 0.25, 0.75, 1 (clamped)
  const auto f = up_row({0, 3}, UpsampleMode::linear, false);
  REQUIRE(f == std::vector<float>{0, 0.75f, 2.25f, 3});
  // a single pixel stays itself
  REQUIRE(up_row({7}, UpsampleMode::linear, true) == std::vector<float>{7, 7});
}

TEST_CASE("upsample: gradient checks, every mode, 2D and 3D", "[upsample][gradcheck]") {
  const std::vector<Shape> shapes = {Shape{1, 1, 1, 1}, Shape{2, 3, 5, 7}, Shape{1, 2, 3, 4, 5},
                                     Shape{2, 1, 1, 3, 1}};
  for (const Shape& s : shapes)
    for (int factor : {2, 3}) {
      test::check_gradient({"upsample nearest", {s}, [factor](const auto& in) {
                              return F::upsample(in[0], factor, UpsampleMode::nearest, false);
                            }});
      for (bool align : {true, false})
        test::check_gradient({"upsample linear", {s}, [factor, align](const auto& in) {
                                return F::upsample(in[0], factor, UpsampleMode::linear, align);
                              }});
    }
}

TEST_CASE("upsample: the AVX2 and baseline twins and the streaming stores give the same bits",
          "[upsample]") {
  // Shapes past the 8-row blocks and 8-column tiles of the AVX2 path (the last one too narrow for
  // the forward's windows), with odd tails and rows that start off a 32-byte boundary; widths of
  // 37 and 64 give the backward's factor-2 interior (Stride2Table) several groups of 8 and a
  // tail; against the float64 path (the scalar loops) too.
  Generator g(7);
  for (const Shape& s : {Shape{1, 2, 5, 17, 19}, Shape{2, 3, 16, 24}, Shape{1, 1, 3, 8, 8},
                         Shape{1, 1, 2, 9, 5}, Shape{1, 2, 3, 5, 37}, Shape{2, 1, 6, 64}})
    for (int factor : {2, 3})
      for (int m = 0; m < 3; ++m) {
        const auto mode = m == 0 ? UpsampleMode::nearest : UpsampleMode::linear;
        const bool align = m == 1;
        INFO("shape " << s.str() << ", factor " << factor << ", mode " << m);
        const Tensor x = g.uniform(s, Device::cpu(), -1.f, 1.f);
        const Tensor y = kernels::upsample(x, factor, mode, align);
        const Tensor dy = g.uniform(y.shape(), Device::cpu(), -1.f, 1.f);
        const Tensor dx = kernels::upsample_backward(dy, s, factor, mode, align);
        {
          kernels::ForceBaselineIsa base;
          REQUIRE(kernels::upsample(x, factor, mode, align).to_vector<float>() ==
                  y.to_vector<float>());
          REQUIRE(kernels::upsample_backward(dy, s, factor, mode, align).to_vector<float>() ==
                  dx.to_vector<float>());
        }
        {
          kernels::ForceStreamStores stream;
          REQUIRE(kernels::upsample(x, factor, mode, align).to_vector<float>() ==
                  y.to_vector<float>());
        }
        const Tensor y64 = kernels::upsample(test::to_f64(x), factor, mode, align);
        const Tensor dx64 = kernels::upsample_backward(test::to_f64(dy), s, factor, mode, align);
        test::check_close(y, y64, 1e-6, 1e-6, "forward against float64");
        test::check_close(dx, dx64, 1e-5, 1e-5, "backward against float64");
      }
}

TEST_CASE("upsample: errors name the problem", "[upsample]") {
  REQUIRE_THROWS_WITH(kernels::upsample(Tensor::zeros({4, 4}), 2, UpsampleMode::linear, true),
                      Contains("must be (N, C, H, W) or (N, C, D, H, W)"));
  REQUIRE_THROWS_WITH(
      kernels::upsample(Tensor::zeros({1, 1, 2, 2}), 2, UpsampleMode::nearest, true),
      Contains("align_corners applies to linear"));
  REQUIRE_THROWS_WITH(kernels::upsample(Tensor::zeros({1, 1, 2, 2}), 0, UpsampleMode::linear, true),
                      Contains("positive integer"));
}

TEST_CASE("upsample parity: F.interpolate forward and backward", "[upsample][parity]") {
  test::Fixtures fx("upsample.h5");
  const auto cases = fx.cases();
  REQUIRE(cases.size() == 15);
  for (const auto& c : cases) {
    INFO("fixture case " << c);
    Tensor x = fx.tensor(c, "x").set_requires_grad();
    const auto mode =
        fx.attr(c, "linear") != 0 ? kernels::UpsampleMode::linear : kernels::UpsampleMode::nearest;
    Tensor y = F::upsample(x, static_cast<int>(fx.attr(c, "factor")), mode,
                           fx.attr(c, "align_corners") != 0);
    test::check_close(y, fx.tensor(c, "y"), 1e-4, 1e-6, c + " forward");
    y.backward(fx.tensor(c, "dy"));
    test::check_close(x.grad(), fx.tensor(c, "dx"), 1e-4, 1e-5, c + " input gradient");
  }
}
