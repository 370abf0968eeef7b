// GPU entries: the fused CUDA MS-SSIM against the CPU (double) implementation: value and
// gradient, 2D and 3D, both combinations, the sizes of issue 4; determinism; NaN detection.
#include <catch2/catch.hpp>

#include <cmath>

#include "engine/rng.h"
#include "layers/functional.h"
#include "layers/loss.h"
#include "tests/op_harness.h"

using namespace ddnet;
using Catch::Matchers::Contains;

TEST_CASE("gpu msssim: value and gradient match the CPU", "[gpu][msssim]") {
  const Device gpu = Device::cuda(0);
  Generator g(9);
  for (const Shape& s : {Shape{1, 1, 16, 64, 64}, Shape{2, 1, 16, 24, 24},
                         Shape{1, 1, 32, 128, 128}, Shape{2, 1, 96, 96}}) {
    for (bool textbook : {false, true}) {
      INFO(s.str() << (textbook ? " textbook" : " reference"));
      const auto opts =
          textbook ? kernels::MsssimOptions::textbook() : kernels::MsssimOptions::reference();
      Tensor y = g.uniform(s, Device::cpu(), 0.f, 1.f);
      Tensor x = F::add(y, g.uniform(s, Device::cpu(), -0.05f, 0.05f));
      Tensor xc = x.clone().set_requires_grad(), xg = x.to(gpu).set_requires_grad();
      // One graph at a time: each backward() releases the tape.
      Tensor vc = F::msssim(xc, y, opts);
      vc.backward();
      Tensor vg = F::msssim(xg, y.to(gpu), opts);
      test::check_close(vg, vc, 1e-4, 1e-6, "value");
      vg.backward();
      const auto gc = xc.grad().to_vector<float>();
      double gmax = 0;
      for (float e : gc) gmax = std::max(gmax, std::fabs(static_cast<double>(e)));
      test::check_close(xg.grad(), xc.grad(), 1e-3, 1e-4 * gmax, "gradient");
    }
  }
}

TEST_CASE("gpu msssim: deterministic, and NaN inputs are reported", "[gpu][msssim]") {
  const Device gpu = Device::cuda(0);
  Generator g(2);
  Tensor y = g.uniform({1, 1, 16, 64, 64}, gpu, 0.f, 1.f),
         x = g.uniform({1, 1, 16, 64, 64}, gpu, 0.f, 1.f);
  const float first = F::msssim(x, y).to_vector<float>()[0];
  for (int i = 0; i < 3; ++i) REQUIRE(F::msssim(x, y).to_vector<float>()[0] == first);
  Tensor bad = x.to(Device::cpu());
  bad.data<float>()[5] = NAN;
  REQUIRE_THROWS_WITH(F::msssim(bad.to(gpu), y), Contains("1 NaN or Inf"));
}
