// The optimiser around Adam's kernel: ExponentialLR and the argument checks (the update itself:
// tests/kernels/test_adam.cpp).
#include <catch2/catch.hpp>

#include "graph/optim.h"

using namespace ddnet;

namespace {
nn::Arena arena_of(const Tensor& p0) {
  nn::Arena a;
  a.params = p0.clone();
  a.grads = Tensor::zeros(p0.shape());
  return a;
}
}  // namespace

TEST_CASE("optim: ExponentialLR and argument checks", "[optim]") {
  nn::Arena a = arena_of(Tensor::zeros({3}));
  nn::Adam adam(a, {});
  nn::ExponentialLR sched(adam, 0.8);
  sched.step();
  sched.step();
  REQUIRE(adam.lr() == Approx(1e-3 * 0.64));
  sched.set_epoch(0);
  REQUIRE(adam.lr() == Approx(1e-3));
  nn::AdamOptions bad;
  bad.beta1 = 1.5;
  REQUIRE_THROWS_WITH(nn::Adam(a, bad), Catch::Matchers::Contains("out of range"));
}
