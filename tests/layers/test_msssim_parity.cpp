// MS-SSIM against the PyTorch fixtures (tests/fixtures/gen_msssim.py, float64): value, per-level
// terms, the inferred data range, and the gradient (full, or 2000 samples for the two large
// volumes that both sides build from the same exact integer formula), rtol 1e-4 in fp32.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>

#include "layers/loss.h"
#include "tests/fixtures.h"
#include "tests/op_harness.h"

using namespace ddnet;

namespace {

std::uint32_t hash32(std::uint64_t i) {
  std::uint32_t h = static_cast<std::uint32_t>(i * 2654435761u);
  h ^= h >> 16;
  h *= 2246822519u;
  h ^= h >> 13;
  return h;
}

// The same volumes as gen_msssim.py's formula_volume (exact in float32).
void formula_volume(std::int64_t d, std::int64_t h, std::int64_t w, Tensor* pred, Tensor* target) {
  std::vector<float> p(static_cast<std::size_t>(d * h * w)), t(p.size());
  for (std::int64_t z = 0; z < d; ++z)
    for (std::int64_t y = 0; y < h; ++y)
      for (std::int64_t x = 0; x < w; ++x) {
        const std::int64_t i = (z * h + y) * w + x;
        const double tv = static_cast<double>((z * 5 + y * 3 + x * 7) % 97) / 128.0 +
                          static_cast<double>(((y / 8) + (x / 8) + (z / 4)) % 2) * 0.125;
        const double noise =
            (static_cast<double>(hash32(static_cast<std::uint64_t>(i)) % 257) - 128.0) / 2048.0;
        t[static_cast<std::size_t>(i)] = static_cast<float>(tv);
        p[static_cast<std::size_t>(i)] = static_cast<float>(tv + noise);
      }
  *pred = Tensor::from_vector(p, {1, 1, d, h, w});
  *target = Tensor::from_vector(t, {1, 1, d, h, w});
}

}  // namespace

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
