// The depth split of convolutions (kernels/conv.h, ConvSplitLimits) inside whole 3D-DDnet steps:
// with limits that split every full-resolution convolution over 32 channels (as cuDNN's
// 2^31-element limit splits them at 512x512x256) and leave the lower levels whole, the output,
// the gradients and the running statistics agree with one call per convolution, within float32
// summation order.
#include <catch2/catch.hpp>

#include <vector>

#include "engine/rng.h"
#include "kernels/conv.h"
#include "layers/functional.h"
#include "models/ddnet.h"
#include "tests/op_harness.h"

using namespace ddnet;

namespace {

struct Step {
  Tensor output;
  std::vector<Tensor> gradients, buffers;
};

Step step(bool training, bool lean, int recompute_from_level) {
  models::DDnetOptions o;
  o.seed = 5;
  o.lean = lean;
  o.recompute_from_level = recompute_from_level;
  models::DDnet net(o);
  net.train(training);
  const Tensor x = Generator(6).uniform({1, 1, 16, 16, 32}, Device::cpu(), 0.f, 1.f);
  Step s;
  s.output = net.forward(x);
  F::mean(F::mul(s.output, s.output)).backward();
  for (const auto& p : net.named_parameters()) s.gradients.push_back(p.tensor->grad());
  for (const auto& b : net.named_buffers()) s.buffers.push_back(b.tensor->clone());
  return s;
}

void check_agree(const Tensor& split, const Tensor& whole, const char* what) {
  if (whole.dtype() == DType::i32) {
    CHECK(test::same_bits(split, whole));  // the batch counters
    return;
  }
  test::check_close(split, whole, 1e-3, 1e-6, what);
}

}  // namespace

TEST_CASE("ddnet depth split: 3D-DDnet steps with their full-resolution convolutions split",
          "[split][models]") {
  // Full resolution here is 16x16x32 = 8192 voxels: a 32-channel tensor has 262,144 elements,
  // over the limit; level 1's widest (80 channels of 1,024 voxels) and the first convolution's
  // 16-channel output (131,072) are under it. Chunks of 65,536 elements: one to four depth rows.
  //
  // Gradients are compared in eval mode. In train mode at this size the deepest level holds
  // 1 x 1 x 2 voxels, and its batch normalisation over two values makes the parameters'
  // gradients ill-conditioned: the same step with the im2col reference in place of the CPU fast
  // paths, no split at all, moves them by up to several per cent. Train mode is compared by its
  // output and running statistics, which the forward pass alone decides.
  struct Case {
    bool training, lean;
    int level;
  };
  for (const Case c : {Case{false, true, 0}, Case{false, false, 0}, Case{false, true, 1},
                       Case{true, true, 0}, Case{true, true, 1}}) {
    INFO((c.training ? "train" : "eval")
         << " mode, " << (c.lean ? "lean" : "fast") << ", recompute from level " << c.level);
    const Step whole = step(c.training, c.lean, c.level);
    const std::int64_t before = kernels::conv_split_count();
    Step split;
    {
      const kernels::ScopedConvSplitLimits scope({200000, 65536});
      split = step(c.training, c.lean, c.level);
    }
    // The decoder's two convolutions at full resolution: forward, input and weight gradients.
    CHECK(kernels::conv_split_count() - before == 6);
    check_agree(split.output, whole.output, "output");
    for (std::size_t i = 0; i < whole.buffers.size(); ++i) {
      INFO("buffer " << i);
      check_agree(split.buffers[i], whole.buffers[i], "buffer");
    }
    if (c.training) continue;
    for (std::size_t i = 0; i < whole.gradients.size(); ++i) {
      INFO("gradient " << i);
      check_agree(split.gradients[i], whole.gradients[i], "gradient");
    }
  }
}
