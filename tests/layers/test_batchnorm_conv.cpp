// The lean BatchNorm -> convolution composite (layers/batchnorm_conv.h) and DDnet's lean memory
// mode: values, gradients and running statistics bit for bit those of the two separate ops, the
// recomputation kernel bit for bit the forward's, a float64 gradient check, and the bytes per
// voxel the lean mode holds.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "engine/allocator.h"
#include "engine/rng.h"
#include "graph/nn.h"
#include "kernels/batchnorm_ops.h"
#include "kernels/copy_ops.h"
#include "layers/batchnorm_conv.h"
#include "layers/functional.h"
#include "models/ddnet.h"
#include "tests/op_harness.h"

using namespace ddnet;
using test::same_bits;

namespace {

struct Run {
  Tensor y, dx, dbw, dbb, dw, db, running_mean, running_var;
};

// y = conv(bn(x)) (fused or not) and the gradients of sum(y * r).
Run run(bool fused, bool transpose, bool training, bool affine, bool with_bias) {
  Generator g(7);
  const std::int64_t cin = 5, cout = 3;
  Tensor x = g.uniform({2, cin, 6, 5, 7}, Device::cpu(), -1.f, 2.f).set_requires_grad();
  Tensor bw = affine ? g.uniform({cin}, Device::cpu(), 0.5f, 1.5f).set_requires_grad() : Tensor();
  Tensor bb = affine ? g.uniform({cin}, Device::cpu(), -0.5f, 0.5f).set_requires_grad() : Tensor();
  Tensor rm = g.uniform({cin}, Device::cpu(), -0.1f, 0.1f);
  Tensor rv = g.uniform({cin}, Device::cpu(), 0.9f, 1.1f);
  const Shape ws = transpose ? Shape{cin, cout, 3, 3, 3} : Shape{cout, cin, 3, 3, 3};
  Tensor w = g.uniform(ws, Device::cpu(), -0.3f, 0.3f).set_requires_grad();
  Tensor b =
      with_bias ? g.uniform({cout}, Device::cpu(), -0.3f, 0.3f).set_requires_grad() : Tensor();
  const kernels::ConvOptions o{1, 1};
  Tensor y;
  if (fused) {
    y = F::batch_norm_conv(x, {bw, bb, rm, rv, training}, w, b, o, transpose);
  } else {
    const Tensor t = F::batch_norm(x, bw, bb, rm, rv, training);
    y = transpose ? F::conv_transpose(t, w, b, o) : F::conv(t, w, b, o);
  }
  const Tensor r = Generator(8).uniform(y.shape(), Device::cpu(), -1.f, 1.f);
  F::sum(F::mul(y, r)).backward();
  auto grad = [](const Tensor& t) { return t.defined() ? t.grad() : Tensor(); };
  return {y, grad(x), grad(bw), grad(bb), grad(w), grad(b), rm, rv};
}

}  // namespace

TEST_CASE("batch_norm_apply: the forward's output, bit for bit, from its statistics",
          "[batchnorm_conv]") {
  Generator g(3);
  const Tensor x = g.uniform({3, 4, 5, 6, 7}, Device::cpu(), -2.f, 3.f);
  const Tensor w = g.uniform({4}, Device::cpu(), 0.5f, 1.5f), b = g.uniform({4}, Device::cpu());
  Tensor rm = Tensor::zeros({4}), rv = Tensor::full({4}, 1.0);
  for (bool training : {true, false}) {
    const kernels::BatchNormForward fw =
        kernels::batch_norm_forward(x.narrow(1, 0, 4), w, b, rm, rv, training);
    CHECK(same_bits(kernels::batch_norm_apply(x, fw.mean, fw.invstd, w, b), fw.y));
    CHECK(same_bits(kernels::batch_norm_apply(x, fw.mean, fw.invstd, Tensor(), Tensor()),
                    kernels::batch_norm_forward(x, Tensor(), Tensor(), rm, rv, false).y) ==
          !training);  // eval: the running statistics are the ones given
  }
  REQUIRE_THROWS_WITH(kernels::batch_norm_apply(x, Tensor(), Tensor(), w, b),
                      Catch::Matchers::Contains("batch_norm_apply: mean and invstd are required"));
}

TEST_CASE("batch_norm_conv: values, gradients and running statistics of the two ops, bit for bit",
          "[batchnorm_conv]") {
  for (bool transpose : {false, true})
    for (bool training : {true, false})
      for (bool affine : {true, false})
        for (bool with_bias : {true, false}) {
          INFO("transpose " << transpose << " training " << training << " affine " << affine
                            << " bias " << with_bias);
          const Run a = run(false, transpose, training, affine, with_bias);
          const Run b = run(true, transpose, training, affine, with_bias);
          CHECK(same_bits(a.y, b.y));
          CHECK(same_bits(a.dx, b.dx));
          CHECK(same_bits(a.dbw, b.dbw));
          CHECK(same_bits(a.dbb, b.dbb));
          CHECK(same_bits(a.dw, b.dw));
          CHECK(same_bits(a.db, b.db));
          CHECK(same_bits(a.running_mean, b.running_mean));  // updated once, in forward
          CHECK(same_bits(a.running_var, b.running_var));
        }
}

TEST_CASE("batch_norm_conv: float64 gradients against finite differences", "[batchnorm_conv]") {
  for (bool transpose : {false, true}) {
    INFO("transpose " << transpose);
    test::OpCase c{
        "batch_norm_conv",
        {{2, 3, 4, 5, 3}, {3}, {3}, transpose ? Shape{3, 2, 3, 3, 3} : Shape{2, 3, 3, 3, 3}, {2}},
        [transpose](const std::vector<Tensor>& in) {
          Tensor rm, rv;  // not tracked
          return F::batch_norm_conv(in[0], {in[1], in[2], rm, rv, true}, in[3], in[4], {1, 1},
                                    transpose);
        }};
    test::check_gradient(c);
  }
}

namespace {

struct BottleneckRun {
  Tensor y;
  std::vector<Tensor> grads;  // x, then bn1 weight, bias, conv1 weight, bias, bn2's, conv2's
  Tensor rm1, rv1, rm2, rv2;
};

// y = conv2(bn2(leaky_relu(conv1(bn1(x))))), fused (one entry) or as the ops DDnet's fast mode
// records, and the gradients of sum(y * r). `frozen` leaves x and the first normalisation and
// convolution without gradients (the entry's early exits).
BottleneckRun run_bottleneck(bool fused, bool training, bool affine, bool with_bias,
                             bool frozen = false) {
  Generator g(11);
  const std::int64_t cin = 5, mid = 8, cout = 3;
  auto param = [&](const Shape& s, float lo, float hi, bool grad) {
    Tensor t = g.uniform(s, Device::cpu(), lo, hi);
    return grad ? t.set_requires_grad() : t;
  };
  Tensor x = param({2, cin, 6, 5, 7}, -1.f, 2.f, !frozen);
  Tensor bw1 = affine ? param({cin}, 0.5f, 1.5f, !frozen) : Tensor();
  Tensor bb1 = affine ? param({cin}, -0.5f, 0.5f, !frozen) : Tensor();
  Tensor w1 = param({mid, cin, 1, 1, 1}, -0.5f, 0.5f, !frozen);
  Tensor b1 = with_bias ? param({mid}, -0.3f, 0.3f, !frozen) : Tensor();
  Tensor bw2 = affine ? param({mid}, 0.5f, 1.5f, true) : Tensor();
  Tensor bb2 = affine ? param({mid}, -0.5f, 0.5f, true) : Tensor();
  Tensor w2 = param({cout, mid, 3, 3, 3}, -0.3f, 0.3f, true);
  Tensor b2 = with_bias ? param({cout}, -0.3f, 0.3f, true) : Tensor();
  Tensor rm1 = g.uniform({cin}, Device::cpu(), -0.1f, 0.1f);
  Tensor rv1 = g.uniform({cin}, Device::cpu(), 0.9f, 1.1f);
  Tensor rm2 = g.uniform({mid}, Device::cpu(), -0.1f, 0.1f);
  Tensor rv2 = g.uniform({mid}, Device::cpu(), 0.9f, 1.1f);
  const kernels::ConvOptions o1{1, 0}, o2{1, 1};
  Tensor y;
  if (fused) {
    y = F::bottleneck_conv(x, {bw1, bb1, rm1, rv1, training}, {w1, b1, o1}, 0.01,
                           {bw2, bb2, rm2, rv2, training}, {w2, b2, o2});
  } else {
    const Tensor h =
        F::leaky_relu(F::conv(F::batch_norm(x, bw1, bb1, rm1, rv1, training), w1, b1, o1), 0.01);
    y = F::conv(F::batch_norm(h, bw2, bb2, rm2, rv2, training), w2, b2, o2);
  }
  const Tensor r = Generator(12).uniform(y.shape(), Device::cpu(), -1.f, 1.f);
  F::sum(F::mul(y, r)).backward();
  BottleneckRun out{y, {}, rm1, rv1, rm2, rv2};
  for (const Tensor* t : {&x, &bw1, &bb1, &w1, &b1, &bw2, &bb2, &w2, &b2})
    out.grads.push_back(t->defined() && t->requires_grad() ? t->grad() : Tensor());
  return out;
}

}  // namespace

TEST_CASE("bottleneck_conv: values, gradients and running statistics of the four ops, bit for bit",
          "[batchnorm_conv]") {
  for (bool training : {true, false})
    for (bool affine : {true, false})
      for (bool with_bias : {true, false})
        for (bool frozen : {false, true}) {
          INFO("training " << training << " affine " << affine << " bias " << with_bias
                           << " first half frozen " << frozen);
          const BottleneckRun a = run_bottleneck(false, training, affine, with_bias, frozen);
          const BottleneckRun b = run_bottleneck(true, training, affine, with_bias, frozen);
          CHECK(same_bits(a.y, b.y));
          for (std::size_t i = 0; i < a.grads.size(); ++i) {
            INFO("gradient " << i
                             << " (0: x, 1-4: bn1 weight, bias, conv1 weight, bias, 5-8: bn2, "
                                "conv2)");
            REQUIRE(a.grads[i].defined() == b.grads[i].defined());
            if (a.grads[i].defined()) CHECK(same_bits(a.grads[i], b.grads[i]));
          }
          CHECK(same_bits(a.rm1, b.rm1));  // updated once, in forward
          CHECK(same_bits(a.rv1, b.rv1));
          CHECK(same_bits(a.rm2, b.rm2));
          CHECK(same_bits(a.rv2, b.rv2));
        }
  Generator g(1);
  const Tensor x = g.uniform({1, 2, 3, 3, 3}), w = g.uniform({2, 2, 1, 1, 1});
  Tensor rm = Tensor::zeros({2}), rv = Tensor::full({2}, 1.0);
  REQUIRE_THROWS_WITH(
      F::bottleneck_conv(x, {Tensor(), Tensor(), rm, rv, true}, {w, Tensor(), {}}, -0.1,
                         {Tensor(), Tensor(), rm, rv, true}, {w, Tensor(), {}}),
      Catch::Matchers::Contains("slope must be >= 0"));
}

TEST_CASE("bottleneck_conv: float64 gradients against finite differences", "[batchnorm_conv]") {
  test::OpCase c{"bottleneck_conv",
                 {{2, 3, 4, 5, 3}, {3}, {3}, {4, 3, 1, 1, 1}, {4}, {4}, {4}, {2, 4, 3, 3, 3}, {2}},
                 [](const std::vector<Tensor>& in) {
                   Tensor rm, rv;  // not tracked
                   return F::bottleneck_conv(in[0], {in[1], in[2], rm, rv, true},
                                             {in[3], in[4], {1, 0}}, 0.01,
                                             {in[5], in[6], rm, rv, true}, {in[7], in[8], {1, 1}});
                 }};
  test::check_gradient(c);
}

TEST_CASE("ddnet lean memory: the same outputs, gradients and statistics as fast, bit for bit",
          "[batchnorm_conv][models]") {
  for (int dims : {2, 3})
    for (bool training : {true, false}) {
      INFO(dims << "D, " << (training ? "train" : "eval") << " mode");
      std::vector<std::vector<Tensor>> results;
      for (bool lean : {false, true}) {
        models::DDnetOptions o;
        o.dims = dims;
        o.seed = 5;
        o.lean = lean;
        models::DDnet net(o);
        if (training)
          net.train();
        else
          net.eval();
        const Shape s = dims == 3 ? Shape{1, 1, 16, 16, 32} : Shape{2, 1, 32, 48};
        const Tensor x = Generator(6).uniform(s, Device::cpu(), 0.f, 1.f);
        const Tensor y = net.forward(x);
        F::mean(F::mul(y, y)).backward();
        std::vector<Tensor> r = {y};
        for (const auto& p : net.named_parameters()) r.push_back(p.tensor->grad());
        for (const auto& b : net.named_buffers()) r.push_back(b.tensor->clone());
        results.push_back(std::move(r));
      }
      REQUIRE(results[0].size() == results[1].size());
      for (std::size_t i = 0; i < results[0].size(); ++i) {
        INFO("result " << i << " (0: output, then gradients, then buffers)");
        CHECK(same_bits(results[0][i], results[1][i]));
      }
    }
}

TEST_CASE("ddnet lean memory: 3D-DDnet holds under 0.4 of what the fast mode holds",
          "[batchnorm_conv][models]") {
  if (!host_caching_enabled()) {
    SUCCEED("host allocator bypassed (AddressSanitizer): no statistics to read");
    return;
  }
  auto measure = [](bool lean) {
    models::DDnetOptions o;
    o.lean = lean;
    models::DDnet net(o);
    net.train();
    const Tensor x = Generator(6).uniform({1, 1, 16, 32, 32}, Device::cpu(), 0.f, 1.f);
    CachingAllocator& a = host_allocator();
    const std::int64_t base = a.stats().requested_bytes;
    Tensor loss = F::mean(net.forward(x));
    const std::int64_t held = a.stats().requested_bytes - base;
    loss.backward();
    return static_cast<double>(held) / static_cast<double>(x.numel());
  };
  const double fast = measure(false), lean = measure(true);
  INFO("bytes per voxel held after forward: fast " << fast << ", lean " << lean);
  CHECK(lean < 0.4 * fast);
  CHECK(lean < 450);  // docs/memory.md: 369 at 16x64x64
}
