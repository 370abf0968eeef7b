// Upsample against PyTorch's F.interpolate (fixtures from tests/fixtures/make_fixtures.py):
// forward and input gradient, every mode, 2D and 3D, factors 2 and 3, rtol 1e-4.
#include <catch2/catch.hpp>

#include "layers/functional.h"
#include "tests/fixtures.h"
#include "tests/op_harness.h"

using namespace ddnet;

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
