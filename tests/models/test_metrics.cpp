// Image scores (models/metrics.h) against independent implementations: scikit-image's SSIM and
// PSNR, and the published MS-SSIM formula in PyTorch float64 (tests/fixtures/gen_metrics.py).
#include <catch2/catch.hpp>

#include <cmath>

#include "models/metrics.h"
#include "tests/fixtures.h"

using namespace ddnet;

TEST_CASE("metrics: SSIM equals scikit-image's structural_similarity", "[models][metrics]") {
  test::Fixtures fx("metrics.h5");
  int pairs = 0;
  for (const std::string& c : fx.cases()) {
    if (c.rfind("ssim_", 0) != 0) continue;
    ++pairs;
    const Tensor x = fx.tensor(c, "x"), y = fx.tensor(c, "y");
    const double got = models::ssim2d(x.data<float>(), y.data<float>(), x.size(0), x.size(1),
                                      fx.attr(c, "data_range"));
    INFO(c);
    CHECK(got == Approx(fx.attr(c, "ssim")).margin(1e-9));
  }
  CHECK(pairs == 5);
}

TEST_CASE("metrics: per-slice MSE, PSNR, SSIM, MS-SSIM and RMSE HU of a volume",
          "[models][metrics]") {
  test::Fixtures fx("metrics.h5");
  const std::string c = "volume_hu_3x32x40";
  const Tensor x = fx.tensor(c, "x"), ref = fx.tensor(c, "ref");
  const auto s =
      models::score_slices(x.data<float>(), ref.data<float>(), x.size(0), x.size(1), x.size(2));
  REQUIRE(s.size() == 3);
  for (std::size_t k = 0; k < s.size(); ++k) {
    INFO("slice " << k);
    const std::string i = std::to_string(k);
    CHECK(s[k].mse == Approx(fx.attr(c, "mse_" + i)).epsilon(1e-9));
    CHECK(s[k].psnr == Approx(fx.attr(c, "psnr_" + i)).epsilon(1e-9));
    CHECK(s[k].ssim == Approx(fx.attr(c, "ssim_" + i)).margin(1e-9));
    CHECK(s[k].msssim == Approx(fx.attr(c, "msssim_" + i)).margin(2e-6));  // float32 kernel
    CHECK(s[k].rmse_hu == Approx(fx.attr(c, "rmse_hu_" + i)).epsilon(1e-9));
  }
  // The summary: mean and population standard deviation over slices.
  const models::Scores sum = models::summarise(s);
  double mean = 0;
  for (std::size_t k = 0; k < 3; ++k) mean += fx.attr(c, "mse_" + std::to_string(k)) / 3;
  double var = 0;
  for (std::size_t k = 0; k < 3; ++k)
    var += std::pow(fx.attr(c, "mse_" + std::to_string(k)) - mean, 2) / 3;
  CHECK(sum.mse.mean == Approx(mean).epsilon(1e-9));
  CHECK(sum.mse.std == Approx(std::sqrt(var)).epsilon(1e-9));
  CHECK(sum.mse.n == 3);
}

TEST_CASE("metrics: identical slices, infinite PSNR left out of the mean, errors",
          "[models][metrics]") {
  std::vector<float> a(2 * 16 * 16);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i % 37) * 10.0f;
  std::vector<float> b = a;
  b[300] += 5;  // slice 1 differs, slice 0 is identical
  const auto s = models::score_slices(b.data(), a.data(), 2, 16, 16);
  CHECK(s[0].mse == 0);
  CHECK(std::isinf(s[0].psnr));
  CHECK(s[0].ssim == Approx(1.0));
  CHECK(s[0].msssim == Approx(1.0));
  CHECK(s[1].mse > 0);
  const models::Scores sum = models::summarise(s);
  CHECK(sum.psnr.n == 1);
  CHECK(sum.psnr.mean == Approx(s[1].psnr));
  CHECK(sum.mse.n == 2);
  CHECK_THROWS_WITH(models::ssim2d(a.data(), b.data(), 10, 25), Catch::Contains("11x11 window"));
}
