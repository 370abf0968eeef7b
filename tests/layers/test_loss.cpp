// The training loss: MSE and MSE + 0.1 (1 - MS-SSIM) with its parts (MS-SSIM itself, the op:
// tests/kernels/test_msssim.cpp).
#include <catch2/catch.hpp>

#include "engine/rng.h"
#include "layers/functional.h"
#include "layers/loss.h"
#include "tests/op_harness.h"

using namespace ddnet;

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
