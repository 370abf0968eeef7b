// Differentiable copies (kernels/copy_ops.h, with their backward closures).
#pragma once

#include "engine/tensor.h"

namespace ddnet::F {

// x itself when contiguous, else a contiguous copy whose gradient flows back to x.
Tensor contiguous(const Tensor& x);
// Copies src into dst (e.g. a channel slice of a buffer) and returns dst as a tensor whose
// gradient flows back to src.
Tensor copy_into(const Tensor& src, const Tensor& dst);

}  // namespace ddnet::F
