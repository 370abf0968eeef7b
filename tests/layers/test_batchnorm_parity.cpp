// Batch normalisation against PyTorch's F.batch_norm (fixtures from
// tests/fixtures/make_fixtures.py batchnorm): forward, running stats after the call, and the
// gradients of x, weight and bias, training and eval, 2D and 3D, affine and not; rtol 1e-4.
#include <catch2/catch.hpp>

#include "layers/batchnorm_autograd.h"
#include "tests/fixtures.h"
#include "tests/op_harness.h"

using namespace ddnet;

TEST_CASE("batch_norm parity: F.batch_norm forward, running stats and gradients",
          "[batchnorm][parity]") {
  test::Fixtures fx("batchnorm.h5");
  const auto cases = fx.cases();
  REQUIRE(cases.size() == 8);
  for (const auto& c : cases) {
    INFO("fixture case " << c);
    const bool training = fx.attr(c, "training") != 0;
    const bool affine = fx.has(c, "weight");
    Tensor x = fx.tensor(c, "x").set_requires_grad();
    Tensor weight, bias;
    if (affine) {
      weight = fx.tensor(c, "weight").set_requires_grad();
      bias = fx.tensor(c, "bias").set_requires_grad();
    }
    Tensor running_mean = fx.tensor(c, "running_mean"), running_var = fx.tensor(c, "running_var");
    Tensor y = F::batch_norm(x, weight, bias, running_mean, running_var, training,
                             fx.attr(c, "momentum"), fx.attr(c, "eps"));
    test::check_close(y, fx.tensor(c, "y"), 1e-4, 1e-5, c + " forward");
    test::check_close(running_mean, fx.tensor(c, "running_mean_after"), 1e-4, 1e-6,
                      c + " running_mean");
    test::check_close(running_var, fx.tensor(c, "running_var_after"), 1e-4, 1e-6,
                      c + " running_var");
    y.backward(fx.tensor(c, "dy"));
    test::check_close(x.grad(), fx.tensor(c, "dx"), 1e-4, 1e-5, c + " input gradient");
    if (affine) {
      test::check_close(weight.grad(), fx.tensor(c, "dweight"), 1e-4, 1e-5, c + " dweight");
      test::check_close(bias.grad(), fx.tensor(c, "dbias"), 1e-4, 1e-5, c + " dbias");
    }
  }
}
