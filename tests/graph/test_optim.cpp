// Adam against torch.optim.Adam (plain; weight decay + clip_grad_norm_), and ExponentialLR.
#include <catch2/catch.hpp>

#include <cmath>

#include "graph/optim.h"
#include "tests/fixtures.h"
#include "tests/op_harness.h"

using namespace ddnet;

namespace {
nn::Arena arena_of(const Tensor& p0) {
  nn::Arena a;
  a.params = p0.clone();
  a.grads = Tensor::zeros(p0.shape());
  return a;
}
}  // namespace

TEST_CASE("adam parity: six steps of torch.optim.Adam", "[optim][parity]") {
  test::Fixtures fx("adam.h5");
  for (const std::string c : {"decay_clip", "plain"}) {
    INFO(c);
    nn::Arena a = arena_of(fx.tensor(c, "p0"));
    nn::AdamOptions o;
    o.weight_decay = fx.attr(c, "weight_decay");
    o.clip_norm = fx.attr(c, "clip");
    nn::Adam adam(a, o);
    const Tensor grads = fx.tensor(c, "grads"), after = fx.tensor(c, "after");
    for (int s = 0; s < 6; ++s) {
      a.grads.copy_(grads.narrow(0, s, 1).view({37}));
      adam.step();
      test::check_close(a.params, after.narrow(0, s, 1).view({37}), 1e-6, 1e-7,
                        "parameters after step " + std::to_string(s + 1));
    }
    REQUIRE(adam.steps() == 6);
  }
}

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
