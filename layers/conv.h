// Differentiable convolutions (PyTorch's conv2d/conv3d and conv_transpose2d/3d with a uniform
// stride and padding). bias may be undefined.
#pragma once

#include "engine/tensor.h"
#include "kernels/conv_ops.h"

namespace ddnet::F {

Tensor conv(const Tensor& x, const Tensor& w, const Tensor& bias, kernels::ConvOptions o = {});
Tensor conv_transpose(const Tensor& x, const Tensor& w, const Tensor& bias,
                      kernels::ConvOptions o = {});

}  // namespace ddnet::F
