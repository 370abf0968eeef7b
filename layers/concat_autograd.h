// Differentiable concatenation along channels (kernels/concat_ops.h, with its backward closure).
#pragma once

#include <vector>

#include "engine/tensor.h"

namespace ddnet::F {

// Concatenation along channels. When the inputs are adjacent channel slices of one buffer (a
// dense block writing each layer's output into its slice), the result is a view of that buffer
// and nothing is copied; otherwise the concat kernel copies. The backward splits the gradient
// either way.
Tensor concat(const std::vector<Tensor>& parts);

}  // namespace ddnet::F
