// Differentiable reductions to one element (kernels/reduce_ops.h, with their backward closures).
#pragma once

#include "engine/tensor.h"

namespace ddnet::F {

// One-element results (shape (1)).
Tensor sum(const Tensor& x);
Tensor mean(const Tensor& x);
Tensor sum_sq(const Tensor& x);

}  // namespace ddnet::F
