// Differentiable tensor ops: each calls the kernels/ entry point and, when an input requires
// grad, records its backward closure on the tape (engine/autograd.h).
#pragma once

#include "engine/tensor.h"

namespace ddnet::F {

Tensor add(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, double alpha);
Tensor leaky_relu(const Tensor& x, double slope = 0.01);
// One-element results (shape (1)).
Tensor sum(const Tensor& x);
Tensor mean(const Tensor& x);
Tensor sum_sq(const Tensor& x);

}  // namespace ddnet::F
