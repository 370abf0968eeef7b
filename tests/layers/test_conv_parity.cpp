// Convolutions against PyTorch's F.conv{2,3}d and F.conv_transpose{2,3}d (fixtures from
// tests/fixtures/gen_conv.py): output and the gradients of input, weight and bias, rtol 1e-4.
#include <catch2/catch.hpp>

#include "layers/conv_autograd.h"
#include "tests/fixtures.h"
#include "tests/op_harness.h"

using namespace ddnet;

TEST_CASE("conv parity: PyTorch conv and conv_transpose, forward and backward", "[conv][parity]") {
  test::Fixtures fx("conv.h5");
  const auto cases = fx.cases();
  REQUIRE(cases.size() == 9);
  for (const auto& c : cases) {
    INFO("fixture case " << c);
    Tensor x = fx.tensor(c, "x").set_requires_grad();
    Tensor w = fx.tensor(c, "w").set_requires_grad();
    Tensor b = fx.tensor(c, "b").set_requires_grad();
    const kernels::ConvOptions o{static_cast<int>(fx.attr(c, "stride")),
                                 static_cast<int>(fx.attr(c, "padding"))};
    Tensor y = fx.attr(c, "transpose") != 0 ? F::conv_transpose(x, w, b, o) : F::conv(x, w, b, o);
    test::check_close(y, fx.tensor(c, "y"), 1e-4, 1e-5, c + " forward");
    y.backward(fx.tensor(c, "dy"));
    test::check_close(x.grad(), fx.tensor(c, "dx"), 1e-4, 1e-5, c + " input gradient");
    test::check_close(w.grad(), fx.tensor(c, "dw"), 1e-4, 1e-4, c + " weight gradient");
    test::check_close(b.grad(), fx.tensor(c, "db"), 1e-4, 1e-4, c + " bias gradient");
  }
}
