// Pooling against PyTorch's max_pool2d/3d and avg_pool2d/3d (tests/fixtures/gen_pool.py).
#include <catch2/catch.hpp>

#include "layers/pool_autograd.h"
#include "tests/fixtures.h"
#include "tests/op_harness.h"

using namespace ddnet;

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
