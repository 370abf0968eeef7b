// Differentiable tensor ops: each calls the kernels/ entry point and, when an input requires
// grad, records its backward closure on the tape (engine/autograd.h).
#pragma once

#include "engine/tensor.h"
#include "kernels/upsample.h"

namespace ddnet::F {

Tensor add(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, double alpha);
Tensor leaky_relu(const Tensor& x, double slope = 0.01);
// Upsampling by an integer factor on every spatial axis of (N, C, H, W) or (N, C, D, H, W):
// nearest ("unpooling") or bi/trilinear; the published 3D-DDnet uses linear, align_corners true.
Tensor upsample(const Tensor& x, int factor = 2,
                kernels::UpsampleMode mode = kernels::UpsampleMode::linear,
                bool align_corners = true);
// One-element results (shape (1)).
Tensor sum(const Tensor& x);
Tensor mean(const Tensor& x);
Tensor sum_sq(const Tensor& x);

}  // namespace ddnet::F
