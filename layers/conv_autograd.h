// Differentiable convolutions (PyTorch's conv2d/conv3d and conv_transpose2d/3d with a uniform
// stride and padding). bias may be undefined.
#pragma once

#include "engine/tensor.h"
#include "kernels/conv_ops.h"

namespace ddnet::F {

Tensor conv(const Tensor& x, const Tensor& w, const Tensor& bias, kernels::ConvOptions o = {});
// conv written into `dst` (e.g. a layer's channel slice of a dense block's buffer: no copy);
// returns dst as a tensor whose gradient flows back to x, w and bias.
Tensor conv_into(const Tensor& x, const Tensor& w, const Tensor& bias, kernels::ConvOptions o,
                 const Tensor& dst);
Tensor conv_transpose(const Tensor& x, const Tensor& w, const Tensor& bias,
                      kernels::ConvOptions o = {});

}  // namespace ddnet::F
