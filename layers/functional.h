// Differentiable tensor ops: each calls the kernels/ entry point and, when an input requires
// grad, records its backward closure on the tape (engine/autograd.h).
#pragma once

#include <vector>

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
// Concatenation along channels. When the inputs are adjacent channel slices of one buffer (a
// dense block writing each layer's output into its slice), the result is a view of that buffer
// and nothing is copied; otherwise the concat kernel copies. The backward splits the gradient
// either way.
Tensor concat(const std::vector<Tensor>& parts);
// x itself when contiguous, else a contiguous copy whose gradient flows back to x.
Tensor contiguous(const Tensor& x);
// Copies src into dst (e.g. a channel slice of a buffer) and returns dst as a tensor whose
// gradient flows back to src.
Tensor copy_into(const Tensor& src, const Tensor& dst);
// One-element results (shape (1)).
Tensor sum(const Tensor& x);
Tensor mean(const Tensor& x);
Tensor sum_sq(const Tensor& x);

}  // namespace ddnet::F
