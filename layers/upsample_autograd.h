// Differentiable upsampling (kernels/upsample_ops.h, with its backward closure).
#pragma once

#include "engine/tensor.h"
#include "kernels/upsample_ops.h"

namespace ddnet::F {

// Upsampling by an integer factor on every spatial axis of (N, C, H, W) or (N, C, D, H, W):
// nearest ("unpooling") or bi/trilinear; the published 3D-DDnet uses linear, align_corners true.
Tensor upsample(const Tensor& x, int factor = 2,
                kernels::UpsampleMode mode = kernels::UpsampleMode::linear,
                bool align_corners = true);

}  // namespace ddnet::F
