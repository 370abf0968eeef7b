// fused_op::upsample_into: upsample by 2 written straight into a destination view, differentiable.
// What a 3D-DDnet decoder stage does with `F::copy_into(F::upsample(x, 2, mode, align_corners),
// dst)`, without the intermediate tensor and the copy, and with one tape entry instead of two.
// Switch it into the model with `net.set_upsample_into(fused_op::upsample_into)`.
#pragma once

#include "engine/tensor.h"
#include "fused_op/upsample_into_ops.h"

namespace fused_op {

// Writes upsample(x) into dst (shapes and layouts: upsample_into_ops.h) and returns dst as a
// tensor of its own autograd state (a fresh view of dst's memory) whose gradient flows to x. The
// backward computes x's gradient from dst's gradient directly, reading each batch item where it
// lies. The bits, forward and backward, are those of F::copy_into(F::upsample(...), dst).
ddnet::Tensor upsample_into(const ddnet::Tensor& x, const ddnet::Tensor& dst, UpsampleMode mode,
                            bool align_corners);

}  // namespace fused_op
