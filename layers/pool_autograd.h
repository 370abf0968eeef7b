// Differentiable pooling: max (PyTorch's max_pool2d/3d, floor mode) and average (no padding).
#pragma once

#include "engine/tensor.h"

namespace ddnet::F {

Tensor max_pool(const Tensor& x, int kernel, int stride, int padding = 0);
Tensor avg_pool(const Tensor& x, int kernel, int stride);

}  // namespace ddnet::F
