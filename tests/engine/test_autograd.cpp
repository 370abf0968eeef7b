// Autograd: shared inputs accumulate, leaves keep gradients across backward calls, released
// graphs refuse a second backward, no-grad scopes record nothing.
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>

#include "engine/autograd.h"
#include "layers/functional.h"
#include "tests/op_harness.h"

using namespace ddnet;
using Catch::Matchers::Contains;

using test::vec;

TEST_CASE("autograd: a shared input accumulates both contributions", "[autograd]") {
  Tensor a = vec({1, -2, 3}).set_requires_grad();
  Tensor b = vec({4, 5, -6}).set_requires_grad();
  // L = sum(a * b + a): dL/da = b + 1, dL/db = a
  Tensor loss = F::sum(F::add(F::mul(a, b), a));
  REQUIRE(tape_size() == 3);
  loss.backward();
  REQUIRE(a.grad().to_vector<float>() == std::vector<float>{5, 6, -5});
  REQUIRE(b.grad().to_vector<float>() == std::vector<float>{1, -2, 3});
  REQUIRE(tape_size() == 0);
}

TEST_CASE("autograd: one map feeding four consumers (a dense block's pattern)", "[autograd]") {
  Tensor x = vec({0.5f, -1.f}).set_requires_grad();
  Tensor h = F::leaky_relu(x);  // non-leaf, used four times
  Tensor l = F::add(F::add(F::scale(h, 1), F::scale(h, 2)), F::add(F::scale(h, 3), F::scale(h, 4)));
  F::sum(l).backward();
  const auto g = x.grad().to_vector<float>();
  REQUIRE(g[0] == Approx(10.f));
  REQUIRE(g[1] == Approx(0.1f));
}

TEST_CASE("autograd: leaf gradients accumulate across backward calls until zeroed", "[autograd]") {
  Tensor w = vec({1, 2}).set_requires_grad();
  F::sum(F::scale(w, 3)).backward();
  F::sum(F::scale(w, 3)).backward();
  REQUIRE(w.grad().to_vector<float>() == std::vector<float>{6, 6});
  w.zero_grad();
  REQUIRE((!w.grad().defined() || w.grad().to_vector<float>() == std::vector<float>{0, 0}));
}

TEST_CASE("autograd: a gradient view into an arena is accumulated in place", "[autograd]") {
  Tensor arena = Tensor::zeros({5});
  Tensor w = vec({1, 2}).set_requires_grad();
  w.set_grad(arena.narrow(0, 1, 2));
  F::sum(F::mul(w, w)).backward();
  REQUIRE(arena.to_vector<float>() == std::vector<float>{0, 2, 4, 0, 0});
  w.zero_grad();
  REQUIRE(arena.to_vector<float>() == std::vector<float>{0, 0, 0, 0, 0});
  REQUIRE(w.grad().shares_storage_with(arena));
}

TEST_CASE("autograd: a second backward through a released graph is an error", "[autograd]") {
  Tensor a = vec({1, 2}).set_requires_grad();
  Tensor loss = F::sum(F::mul(a, a));
  loss.backward();
  REQUIRE_THROWS_WITH(loss.backward(),
                      Contains("already released") && Contains("retain_graph=true"));

  Tensor loss2 = F::sum(F::mul(a, a));
  a.zero_grad();
  loss2.backward({}, /*retain_graph=*/true);
  loss2.backward();
  REQUIRE(a.grad().to_vector<float>() == std::vector<float>{4, 8});

  Tensor h = F::scale(a, 2);
  clear_tape();
  REQUIRE_THROWS_WITH(F::sum(h), Contains("already released"));
}

TEST_CASE("autograd: no-grad scopes record nothing", "[autograd]") {
  Tensor a = vec({1, 2}).set_requires_grad();
  {
    NoGradGuard guard;
    Tensor y = F::mul(a, a);
    REQUIRE_FALSE(y.requires_grad());
    REQUIRE(tape_size() == 0);
    REQUIRE_THROWS_WITH(F::sum(y).backward(), Contains("does not require grad"));
  }
  REQUIRE(grad_enabled());
}

TEST_CASE("autograd: errors a user can act on", "[autograd]") {
  Tensor a = vec({1, 2}).set_requires_grad();
  Tensor y = F::scale(a, 2);
  REQUIRE_THROWS_WITH(y.backward(), Contains("needs an explicit gradient"));
  REQUIRE_THROWS_WITH(y.backward(vec({1, 2, 3})), Contains("does not match"));
  REQUIRE_THROWS_WITH(y.set_requires_grad(), Contains("only leaves"));
  clear_tape();
}

TEST_CASE("autograd: the grad-ready hook reports each leaf once, when its gradient is complete",
          "[autograd]") {
  Tensor w1 = vec({1, 2}).set_requires_grad();
  Tensor w2 = vec({3, 4}).set_requires_grad();
  Tensor w3 = vec({5, 6}).set_requires_grad();  // read twice: reported after its last reader
  Tensor unused = vec({7, 8}).set_requires_grad();
  std::vector<std::string> order;
  std::vector<std::vector<float>> grad_at_report;
  {
    GradReadyHookGuard guard([&](const AutogradMeta* leaf) {
      for (const auto& [name, t] : {std::pair<const char*, Tensor*>{"w1", &w1},
                                    {"w2", &w2},
                                    {"w3", &w3},
                                    {"unused", &unused}})
        if (t->autograd_meta_ptr().get() == leaf) {
          order.push_back(name);
          grad_at_report.push_back(t->grad().to_vector<float>());
        }
    });
    // L = sum(w3 * (w2 * (w1 + w3))): backward reaches w2 first, then w1 and w3.
    Tensor h = F::add(w1, w3);
    Tensor l = F::sum(F::mul(w3, F::mul(w2, h)));
    l.backward();
  }
  REQUIRE(order.size() == 3);
  CHECK(order[0] == "w2");  // its only reader is the last op recorded but one
  CHECK(std::find(order.begin(), order.end(), "unused") == order.end());
  // At each report the gradient is already final: it equals the value after backward.
  for (std::size_t i = 0; i < order.size(); ++i) {
    const Tensor& t = order[i] == "w1" ? w1 : order[i] == "w2" ? w2 : w3;
    CHECK(grad_at_report[i] == t.grad().to_vector<float>());
  }
  // dL/dw3 = w2 * (w1 + w3) + w3 * w2 = {3*6 + 5*3, 4*8 + 6*4}
  CHECK(w3.grad().to_vector<float>() == std::vector<float>{33, 56});
  // Without a guard nothing is called.
  order.clear();
  F::sum(F::scale(w1, 2)).backward();
  CHECK(order.empty());
}

TEST_CASE("autograd: backward frees what an entry saved once the entry has run", "[autograd]") {
  for (bool retain : {false, true}) {
    INFO("retain_graph " << retain);
    auto saved = std::make_shared<int>(1);  // stands for an activation a closure keeps
    const std::weak_ptr<int> watch = saved;
    bool freed_before_first = false;
    Tensor x = vec({1, 2}).set_requires_grad();
    Tensor y1 = vec({1, 2}), y2 = vec({1, 2});
    record("first", {x}, {y1}, [&freed_before_first, &watch](GradContext& ctx) {
      freed_before_first = watch.expired();  // runs after "second"
      ctx.accumulate(0, ctx.grad_output());
    });
    record("second", {y1}, {y2},
           [s = std::move(saved)](GradContext& ctx) { ctx.accumulate(0, ctx.grad_output()); });
    REQUIRE_FALSE(watch.expired());  // held by the tape until backward
    y2.backward(vec({1, 1}), retain);
    CHECK(freed_before_first == !retain);  // a retained graph keeps it for the next backward
    CHECK(watch.expired() == !retain);
    clear_tape();
    CHECK(watch.expired());
  }
}
