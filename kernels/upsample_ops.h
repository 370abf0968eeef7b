// Upsampling (nearest or bi/trilinear) by an integer factor, and its gradient.
// The tensor-level entry point (checks, element type, device dispatch on the tensor's device,
// the current stream; no autograd: that is layers/upsample_autograd.h). Raw kernels: upsample.h.
#pragma once

#include "engine/tensor.h"
#include "kernels/upsample.h"

namespace ddnet::kernels {

// Upsampling of (N, C, H, W) or (N, C, D, H, W) by an integer factor on every spatial axis.
// align_corners applies to linear mode only (as in PyTorch).
Tensor upsample(const Tensor& x, int factor, UpsampleMode mode, bool align_corners);
// The gradient with respect to the input of shape `input_shape`, given dy.
Tensor upsample_backward(const Tensor& dy, const Shape& input_shape, int factor, UpsampleMode mode,
                         bool align_corners);

}  // namespace ddnet::kernels
