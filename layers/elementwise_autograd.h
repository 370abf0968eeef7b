// Differentiable elementwise ops: add, mul, scale, LeakyReLU (kernels/elementwise_ops.h, with
// their backward closures).
#pragma once

#include "engine/tensor.h"

namespace ddnet::F {

Tensor add(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, double alpha);
Tensor leaky_relu(const Tensor& x, double slope = 0.01);
// LeakyReLU(x) written into `dst` (a view of the same shape, e.g. a channel slice of a dense
// block's or a decoder's concatenation buffer) and returned as a fresh view of it: the same
// values and gradient as copy_into(leaky_relu(x), dst), without keeping the separate output
// (with slope >= 0 backward reads the view). docs/memory.md.
Tensor leaky_relu_into(const Tensor& x, const Tensor& dst, double slope = 0.01);

}  // namespace ddnet::F
