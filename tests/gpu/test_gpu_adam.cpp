// GPU entry: the fused Adam step (with clipping) on CUDA against the CPU twin.
#include <catch2/catch.hpp>

#include "engine/rng.h"
#include "graph/optim.h"
#include "tests/op_harness.h"

using namespace ddnet;

TEST_CASE("gpu optim: Adam with clipping matches the CPU", "[gpu][optim]") {
  Generator g(3);
  const Tensor p0 = g.uniform({100003});
  nn::Arena c{p0.clone(), Tensor::zeros({100003}), {}, {}},
      d{p0.to(Device::cuda(0)), Tensor::zeros({100003}, Device::cuda(0)), {}, {}};
  nn::AdamOptions o;
  o.clip_norm = 1.0;
  o.weight_decay = 0.01;
  nn::Adam ac(c, o), ad(d, o);
  for (int s = 0; s < 5; ++s) {
    const Tensor grad = g.normal({100003});
    c.grads.copy_(grad);
    d.grads.copy_(grad);
    ac.step();
    ad.step();
  }
  test::check_close(d.params, c.params, 1e-6, 1e-7, "parameters after 5 steps");
}
