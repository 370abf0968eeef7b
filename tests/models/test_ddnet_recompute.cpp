// Stage recompute (DDnetOptions::recompute_from_level): 2D- and 3D-DDnet give the same outputs,
// gradients and buffers (running statistics updated once per step, not again by the
// recomputation) as without it, bit for bit, in train and eval mode, lean and fast; and what
// a 3D-DDnet step holds and peaks at falls.
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "engine/allocator.h"
#include "engine/autograd.h"
#include "engine/rng.h"
#include "kernels/copy_ops.h"
#include "layers/functional.h"
#include "models/ddnet.h"
#include "tests/op_harness.h"

using namespace ddnet;
using test::same_bits;

namespace {

// Output, then every parameter's gradient, then every buffer after two steps' forward and
// backward (the second step's batch statistics depend on nothing, but its running statistics
// on the first's update).
std::vector<Tensor> run(int dims, bool training, bool lean, int recompute_from_level,
                        bool residual) {
  models::DDnetOptions o;
  o.dims = dims;
  o.seed = 5;
  o.lean = lean;
  o.residual = residual;
  o.recompute_from_level = recompute_from_level;
  models::DDnet net(o);
  net.train(training);
  const Shape s = dims == 3 ? Shape{1, 1, 16, 16, 32} : Shape{2, 1, 32, 48};
  Tensor y;
  for (int step = 0; step < 2; ++step) {
    const Tensor x =
        Generator(6 + static_cast<std::uint64_t>(step)).uniform(s, Device::cpu(), 0.f, 1.f);
    y = net.forward(x);
    F::mean(F::mul(y, y)).backward();
  }
  std::vector<Tensor> r = {y};
  for (const auto& p : net.named_parameters()) r.push_back(p.tensor->grad());
  for (const auto& b : net.named_buffers()) r.push_back(b.tensor->clone());
  return r;
}

}  // namespace

TEST_CASE("ddnet stage recompute: the same outputs, gradients and statistics, bit for bit",
          "[recompute][models]") {
  struct Case {
    int dims;
    bool training, lean;
    int level;
    bool residual;
  };
  // 3D twice (it takes most of the time under the sanitizers); eval mode and the other levels
  // on 2D, whose code is the same.
  const Case cases[] = {{3, true, true, 1, false},   {3, true, false, 3, true},
                        {2, true, true, 1, false},   {2, false, true, 2, false},
                        {2, false, false, 1, false}, {2, true, false, 4, true}};
  for (const Case& c : cases) {
    INFO(c.dims << "D, " << (c.training ? "train" : "eval") << " mode, "
                << (c.lean ? "lean" : "fast") << ", recompute from level " << c.level
                << (c.residual ? ", residual" : ""));
    const std::vector<Tensor> plain = run(c.dims, c.training, c.lean, 0, c.residual);
    const std::vector<Tensor> recomputed = run(c.dims, c.training, c.lean, c.level, c.residual);
    REQUIRE(plain.size() == recomputed.size());
    for (std::size_t i = 0; i < plain.size(); ++i) {
      INFO("result " << i << " (0: output, then gradients, then buffers)");
      CHECK(same_bits(plain[i], recomputed[i]));
    }
    CHECK_FALSE(recomputing());
  }
}

TEST_CASE("ddnet stage recompute: the options are checked", "[recompute][models]") {
  models::DDnetOptions o;
  o.recompute_from_level = 5;
  CHECK_THROWS_WITH(models::DDnet(o), Catch::Matchers::Contains("recompute_from_level"));
}

TEST_CASE("ddnet stage recompute: 3D-DDnet holds and peaks at less (lean under 0.3 of PyTorch)",
          "[recompute][models]") {
  if (!host_caching_enabled()) {
    SUCCEED("host allocator bypassed (AddressSanitizer): no statistics to read");
    return;
  }
  struct Bytes {
    double held, peak;
  };
  auto measure = [](int level) {
    models::DDnetOptions o;
    o.recompute_from_level = level;
    models::DDnet net(o);
    net.train();
    // Gradients in place before the step, as the trainer's arena has them: the figures are
    // then activations and their gradients only.
    for (const auto& p : net.named_parameters())
      p.tensor->set_grad(Tensor::zeros(p.tensor->shape()));
    const Tensor x = Generator(6).uniform({1, 1, 16, 32, 32}, Device::cpu(), 0.f, 1.f);
    CachingAllocator& a = host_allocator();
    a.empty_cache();
    const std::int64_t base = a.stats().requested_bytes;
    a.reset_peak_stats();
    Tensor loss = F::mean(net.forward(x));
    const std::int64_t held = a.stats().requested_bytes - base;
    loss.backward();
    const std::int64_t peak = a.stats().peak_requested_bytes - base;
    const auto n = static_cast<double>(x.numel());
    return Bytes{static_cast<double>(held) / n, static_cast<double>(peak) / n};
  };
  const Bytes lean = measure(0), recompute = measure(1);
  INFO("bytes per voxel, lean: held " << lean.held << ", peak " << lean.peak
                                      << "; recompute from level 1: held " << recompute.held
                                      << ", peak " << recompute.peak);
  // At this size (16x32x32): lean 362 held, 517 peak; recompute 260, 415 (at 16x64x64: 369 /
  // 493 and 268 / 396, docs/memory.md).
  CHECK(recompute.held < 0.8 * lean.held);
  CHECK(recompute.peak < 0.85 * lean.peak);
  // Issue 18's goal: PyTorch 1.13 saves 1,827 B/voxel for backward of the published model at
  // 1x1x16x64x64 (bench/torch/saved_bytes.py; docs/memory.md); lean peaks under 0.4 of it, and
  // since the dense layers' bottlenecks are recomputed, under 0.3.
  CHECK(lean.peak < 0.3 * 1827);
}
