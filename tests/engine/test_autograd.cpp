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

namespace {
// f(x, w) = sum over the segment's two steps: h = x * w, y = h * h + w; recorded plainly or as
// one checkpointed segment.
Tensor segment_body(const Tensor& x, const Tensor& w) {
  const Tensor h = F::mul(x, w);
  return F::add(F::mul(h, h), w);
}
}  // namespace

TEST_CASE("autograd: a checkpointed segment gives the plain graph's values and gradients",
          "[autograd][checkpoint]") {
  std::vector<std::vector<float>> results[2];
  for (int checkpointed = 0; checkpointed < 2; ++checkpointed) {
    Tensor a = vec({0.5f, -1.5f, 2.f}).set_requires_grad();
    Tensor w = vec({3.f, 0.25f, -2.f}).set_requires_grad();
    const Tensor x = F::scale(a, 2);  // an input with history, from the outer graph
    int runs = 0, recomputed_runs = 0;
    Tensor y;
    if (checkpointed) {
      y = checkpoint_segment("segment",
                             [&](const std::vector<Tensor>& in) {
                               ++runs;
                               recomputed_runs += recomputing() ? 1 : 0;
                               return segment_body(in[0], w);
                             },
                             {x}, {w});
      CHECK(tape_size() == 2);  // scale, and the segment as one entry (not mul, mul, add)
      CHECK(runs == 1);
      CHECK_FALSE(recomputing());
    } else {
      y = segment_body(x, w);
      CHECK(tape_size() == 4);
    }
    CHECK(y.requires_grad());
    F::sum(F::mul(y, x)).backward();  // x read outside the segment too: contributions add up
    if (checkpointed) {
      CHECK(runs == 2);
      CHECK(recomputed_runs == 1);
      CHECK_FALSE(recomputing());
    }
    CHECK(tape_size() == 0);
    results[checkpointed] = {y.to_vector<float>(), a.grad().to_vector<float>(),
                             w.grad().to_vector<float>()};
  }
  CHECK(results[0] == results[1]);
  // dL/da for L = sum((x^2 w^2 + w) x), x = 2a: 2 (3 x^2 w^2 + w)
  CHECK(results[1][1][0] == Approx(2 * (3 * 1 * 9 + 3)));
}

TEST_CASE("autograd: a checkpointed segment keeps one entry and reports its parameters once",
          "[autograd][checkpoint]") {
  Tensor x = vec({1, 2}).set_requires_grad();
  Tensor w = vec({3, 4}).set_requires_grad();
  int reported = 0;
  std::vector<float> grad_at_report;
  {
    GradReadyHookGuard guard([&](const AutogradMeta* leaf) {
      if (leaf == w.autograd_meta_ptr().get()) {
        ++reported;
        grad_at_report = w.grad().to_vector<float>();
      }
    });
    const Tensor y = checkpoint_segment(
        "segment", [&](const std::vector<Tensor>& in) { return segment_body(in[0], w); }, {x}, {w});
    F::sum(y).backward();
  }
  CHECK(reported == 1);  // not from inside the recomputation's own backward
  CHECK(grad_at_report == w.grad().to_vector<float>());
  // retain_graph: the segment is recomputed again by the second backward.
  x.zero_grad();
  const Tensor y = checkpoint_segment(
      "segment", [&](const std::vector<Tensor>& in) { return segment_body(in[0], w); }, {x}, {w});
  const Tensor l = F::sum(y);
  l.backward(Tensor(), /*retain_graph=*/true);
  const std::vector<float> once = x.grad().to_vector<float>();
  l.backward();
  const std::vector<float> twice = x.grad().to_vector<float>();
  REQUIRE(once.size() == twice.size());
  for (std::size_t i = 0; i < once.size(); ++i) CHECK(twice[i] == 2 * once[i]);
}

TEST_CASE("autograd: a checkpointed segment without grad, and one that reads from outside",
          "[autograd][checkpoint]") {
  Tensor x = vec({1, 2}).set_requires_grad();
  Tensor w = vec({3, 4}).set_requires_grad();
  int runs = 0;
  auto fn = [&](const std::vector<Tensor>& in) {
    ++runs;
    return segment_body(in[0], w);
  };
  {
    NoGradGuard no_grad;
    const Tensor y = checkpoint_segment("segment", fn, {x}, {w});
    CHECK_FALSE(y.requires_grad());
    CHECK(tape_size() == 0);
    CHECK(runs == 1);
  }
  // The segment reads `outside`, a tensor with history that is not one of its inputs: the
  // recomputation cannot reach its graph, and says so.
  const Tensor outside = F::scale(x, 2);
  const Tensor y = checkpoint_segment(
      "segment", [&](const std::vector<Tensor>& in) { return F::mul(in[0], outside); }, {w}, {});
  CHECK_THROWS_WITH(F::sum(y).backward(), Contains("comes from outside the segment"));
  clear_tape();
}
