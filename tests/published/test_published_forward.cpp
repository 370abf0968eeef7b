// The published 2D-DDnet weights, loaded by name into our 2D-DDnet, give PyTorch's output on a
// fixed 64x64 slice, in eval mode (running statistics) and in train mode (batch statistics).
// Fixture: tests/fixtures/gen_ddnet2d_published.py.
#include <catch2/catch.hpp>

#include <string>

#include "engine/autograd.h"
#include "models/ddnet.h"
#include "tests/fixtures.h"
#include "tests/op_harness.h"

std::string published_weights_path();

using namespace ddnet;

namespace {
void load_published(models::DDnet& net) {
  test::Fixtures h5(published_weights_path());
  for (const auto& n : net.state_dict()) {
    if (n.name.size() >= 19 && n.name.compare(n.name.size() - 19, 19, "num_batches_tracked") == 0)
      continue;
    n.tensor->copy_(h5.dataset(n.name));
  }
}
}  // namespace

TEST_CASE("published 2D-DDnet: PyTorch's output in eval and train mode",
          "[published][models][parity]") {
  test::Fixtures fx("ddnet2d_published.h5");
  models::DDnet net({2});
  load_published(net);
  const Tensor x = fx.tensor("slice64", "x");
  NoGradGuard no_grad;
  net.eval();
  test::check_close(net.forward(x), fx.tensor("slice64", "y_eval"), 1e-4, 1e-5, "eval-mode output");
  net.train();
  test::check_close(net.forward(x), fx.tensor("slice64", "y_train"), 1e-4, 1e-5,
                    "train-mode output");
}
