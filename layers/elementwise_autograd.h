// Differentiable elementwise ops: add, mul, scale, LeakyReLU (kernels/elementwise_ops.h, with
// their backward closures).
#pragma once

#include "engine/tensor.h"

namespace ddnet::F {

Tensor add(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, double alpha);
Tensor leaky_relu(const Tensor& x, double slope = 0.01);

}  // namespace ddnet::F
