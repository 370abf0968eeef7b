// 2D-DDnet and 3D-DDnet exactly as published (../shared/spec/REFERENCE.md), with PyTorch's
// parameter names, so that published weights load by name:
//   batch1, conv1 (7, pad 3) -> LReLU = c0; max1; dnet1 (DenseBlock 16 -> 80); batch2, conv2
//   (1x1 80 -> 16) -> LReLU = c1; ... c4; then four decoder stages: Up (bi/trilinear x2,
//   align_corners) + concat with the skip, batchN, convT (5, pad 2) -> LReLU, batchN+1, convT
//   (1x1) -> LReLU; the last one ends in 1 channel, LReLU included.
#pragma once

#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "graph/nn.h"
#include "kernels/upsample_ops.h"

namespace ddnet::models {

// DenseBlock(16, 5): four times y = LReLU(Conv5(BN(LReLU(Conv1(BN(x)))))), x = cat(x, y). The
// block's 80 channels live in one buffer; each y is written into its channel slice and the
// growing input is a view of the slices so far (no concatenation copies).
class DenseBlock : public nn::Module {
 public:
  DenseBlock(int dims, std::int64_t channels, int kernel, Generator& gen, bool lean = true);
  Tensor forward(const Tensor& x);

 private:
  int dims_;
  bool lean_;
  std::int64_t channels_;
  std::vector<nn::BatchNorm*> bn1_, bn2_;
  std::vector<nn::Conv*> conv1_, conv2_;
};

struct DDnetOptions {
  int dims = 3;                                              // 3: 3D-DDnet; 2: 2D-DDnet
  kernels::UpsampleMode up = kernels::UpsampleMode::linear;  // nearest = the thesis's unpooling
  std::uint64_t seed = 0;                                    // parameter initialisation
  // Not in the published network: output = input + convT8(...) (the residual, without the final
  // LeakyReLU), convT8 zero-initialised so the untrained network is the identity. Learns the
  // noise instead of the image; what brief CPU training (scripts/main.sh) uses. Off: published.
  bool residual = false;
  // Memory: lean (true) records each BatchNorm -> convolution pair as one tape entry that
  // recomputes the normalised tensor in backward (nn::batch_norm_conv), and each dense layer's
  // bottleneck as one entry that recomputes its 1x1 convolution too (nn::bottleneck_conv); fast
  // (false) keeps them.
  // Values and gradients are the same bit for bit (docs/memory.md has the bytes per voxel).
  bool lean = true;
  // Stage recompute (activation checkpointing by level): 0 off; L in 1..4: the levels from L
  // down (encoder level L, everything below it, and the decoder stage back at level L) keep only
  // their input during forward and are run again in backward (checkpoint_segment). The same
  // values, gradients and running statistics, bit for bit; one more forward of those levels.
  int recompute_from_level = 0;
};

// How a decoder stage writes the upsampled features (x, from the level below, upsampled by 2 on
// every spatial axis with `mode` and `align_corners`) into `dst`, the first half of its
// concatenation buffer (a channel slice: a view, not contiguous when N > 1), returning `dst` as
// a differentiable tensor whose gradient reaches x. The default is F::copy_into(F::upsample(...),
// dst). The extension point for an outside fused operator (examples/fused_op writes x straight
// into dst, with no intermediate tensor and no copy); DDnet::set_upsample_into switches it in.
using UpsampleInto = std::function<Tensor(const Tensor& x, const Tensor& dst,
                                          kernels::UpsampleMode mode, bool align_corners)>;

class DDnet : public nn::Module {
 public:
  explicit DDnet(const DDnetOptions& o = {});
  // x: (N, 1, D, H, W) (3D) or (N, 1, H, W) (2D), spatial sizes divisible by 16.
  Tensor forward(const Tensor& x);
  int dims() const { return o_.dims; }
  // Replaces the decoder's upsample-and-copy (UpsampleInto above); an empty function restores
  // the built-in one. It must give the same values and gradients (tests/models/test_ddnet.cpp
  // checks the extension point; examples/fused_op checks its operator against the built-in path).
  void set_upsample_into(UpsampleInto f) { upsample_into_ = std::move(f); }

 private:
  // Level l (1..4, 1/2^l of the input's size): encoder level l from the level above's output,
  // then, below level 4, the levels under it and the decoder stage back at level l.
  Tensor level(int l, const Tensor& above);
  Tensor level_body(int l, const Tensor& above);
  Tensor encoder_level(int l, const Tensor& above);
  // Level l's output LeakyReLU(pre), the skip, written into the second half of the decoder's
  // concatenation buffer at that level (allocated here): the decoder stage writes the upsampled
  // tensor into the first half, and the concatenation is a view, not a copy of the skip.
  Tensor skip_output(const Tensor& pre);
  // Decoder stage at level l (0..3): upsample from level l + 1, concatenate the skip, two
  // BatchNorm -> ConvTranspose -> LeakyReLU.
  Tensor decoder_stage(int l, const Tensor& from_below, const Tensor& skip);
  Tensor bn_conv(nn::BatchNorm* bn, nn::Conv* conv, const Tensor& t);
  std::vector<Tensor> level_parameters(int from);  // those levels from..4 read

  DDnetOptions o_;
  UpsampleInto upsample_into_;
  nn::BatchNorm* batch_[14] = {};
  nn::Conv* conv_[6] = {};
  nn::Conv* convT_[9] = {};
  DenseBlock* dnet_[5] = {};
};

}  // namespace ddnet::models
