// Elementwise ops on tensors: add, mul, scale, axpy, fill, scale_by_scalar, LeakyReLU and its
// gradient. The tensor-level entry point (checks, element type, device dispatch on the tensor's
// device, the current stream; no autograd: that is layers/elementwise_autograd.h). Raw kernels:
// elementwise.h.
#pragma once

#include "engine/tensor.h"
#include "kernels/elementwise.h"

namespace ddnet::kernels {

Tensor add(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, double alpha);
void axpy_(double alpha, const Tensor& x, Tensor& y);  // y += alpha * x
void fill_(Tensor& y, double value);
// alpha * s * x with s a one-element tensor on x's device (x undefined: alpha * s broadcast to
// `shape`). The backward of reductions: no host round trip for the scalar.
Tensor scale_by_scalar(const Tensor& x, const Tensor& s, double alpha, const Shape& shape);
Tensor leaky_relu(const Tensor& x, double slope = 0.01);
Tensor leaky_relu_backward(const Tensor& x, const Tensor& dy, double slope = 0.01);
// The same gradient written over dy (contiguous; the caller owns it: Tensor::sole_owner), the
// same bits: backward holds one tensor of that size instead of two.
void leaky_relu_backward_inplace(const Tensor& x, Tensor& dy, double slope = 0.01);

}  // namespace ddnet::kernels
