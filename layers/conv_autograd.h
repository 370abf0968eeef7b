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

// The gradients the closures above compute, for composites that record their own entry
// (layers/batchnorm_conv.h). g: kernels::conv_geometry, or for transpose
// kernels::conv_transpose_geometry; x: the convolution's input; dy: its output's gradient. A
// gradient not asked for is undefined.
struct ConvGrads {
  Tensor dx, dw, db;
};
ConvGrads conv_grads(const kernels::ConvGeometry& g, bool transpose, const Tensor& x,
                     const Tensor& w, const Tensor& dy, bool need_dx, bool need_dw, bool need_db);

}  // namespace ddnet::F
