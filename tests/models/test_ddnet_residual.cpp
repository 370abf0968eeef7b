// DDnet's residual option (not in the published network): the untrained network is exactly the
// identity, gradients still reach every layer after one step, and the published form is
// untouched when it is off.
#include <catch2/catch.hpp>

#include "engine/autograd.h"
#include "engine/rng.h"
#include "graph/arena.h"
#include "graph/optim.h"
#include "layers/loss.h"
#include "models/ddnet.h"

using namespace ddnet;

TEST_CASE("ddnet residual: identity at initialisation, learns from the first step", "[models]") {
  for (const int dims : {2, 3}) {
    models::DDnet net({dims, kernels::UpsampleMode::linear, 3, /*residual=*/true});
    CHECK(net.parameter_count() == (dims == 2 ? 566451 : 2619155));  // same parameters
    Generator g(5);
    const Shape shape = dims == 2 ? Shape{1, 1, 32, 32} : Shape{1, 1, 16, 32, 32};
    const Tensor x = g.uniform(shape);
    Tensor y;
    {
      NoGradGuard no_grad;
      y = net.forward(x);
    }
    CHECK(y.to_vector<float>() == x.to_vector<float>());  // exactly the input

    nn::Arena arena = nn::pack_parameters(net, Device::cpu());
    nn::Adam adam(arena, nn::AdamOptions{});
    const Tensor target = g.uniform(shape);
    adam.zero_grad();
    F::mse(net.forward(x), target).backward();
    adam.step();
    adam.zero_grad();
    F::mse(net.forward(x), target).backward();
    // After one step the last layer is no longer zero, so the earlier layers get gradients too.
    double conv1_grad = 0;
    for (const auto& p : net.named_parameters())
      if (p.name == "conv1.weight")
        for (const float v : p.tensor->grad().to_vector<float>())
          conv1_grad += static_cast<double>(std::abs(v));
    CHECK(conv1_grad > 0);
  }
}
