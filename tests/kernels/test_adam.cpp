// Adam's fused update: parity with torch.optim.Adam over six steps (plain; weight decay +
// clip_grad_norm_; fixtures from tests/fixtures/gen_adam.py), and the entry point's checks. Adam
// has no autograd closure: it is the optimiser's update, not a differentiable op.
#include <catch2/catch.hpp>

#include <string>

#include "graph/optim.h"
#include "kernels/adam_ops.h"
#include "tests/fixtures.h"
#include "tests/op_harness.h"

using namespace ddnet;
using Catch::Matchers::Contains;

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

TEST_CASE("adam: the entry point's checks name what is wrong", "[optim]") {
  Tensor p = Tensor::zeros({5}), g = Tensor::zeros({5}), m = Tensor::zeros({5}),
         v = Tensor::zeros({4});
  const auto s = kernels::adam_scalars(1e-3, 0.9, 0.999, 1e-8, 0, 1, 0);
  REQUIRE_THROWS_WITH(kernels::adam_step(p, g, m, v, s), Contains("adam: v") && Contains("params"));
  Tensor v5 = Tensor::zeros({5});
  Tensor g64 = Tensor::zeros({5}, Device::cpu(), DType::f64);
  REQUIRE_THROWS_WITH(kernels::adam_step(p, g64, m, v5, s), Contains("float32 only"));
  REQUIRE_THROWS_WITH(kernels::adam_step(p, g, m, v5, s, Tensor::zeros({2})),
                      Contains("squared norm"));
  kernels::adam_step(p, g, m, v5, s, Tensor::zeros({1}));  // zero gradients: nothing moves
  for (float e : p.to_vector<float>()) REQUIRE(e == 0.f);
}
