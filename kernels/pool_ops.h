// Tensor-level pooling with shape checks. Max pooling returns the argmax it saved for the
// backward; both work on (N, C, H, W) and (N, C, D, H, W), the same kernel/stride/padding on
// every spatial axis (what the networks use: MaxPool3d(3, 2, 1), AvgPool3d(2)).
#pragma once

#include "engine/tensor.h"
#include "kernels/pool.h"

namespace ddnet::kernels {

PoolGeometry pool_geometry(const char* op, const Shape& x, int kernel, int stride, int padding);
// Max pooling stores its argmax as an int32 index within one channel's input volume: refuses a
// volume of 2^31 elements or more, naming it.
void check_argmax_range(const char* op, const PoolGeometry& g);
Shape pool_output_shape(const PoolGeometry& g, const Shape& x);

struct MaxPoolResult {
  Tensor y;
  Tensor argmax;  // int32, same shape as y
};
MaxPoolResult max_pool(const Tensor& x, int kernel, int stride, int padding);
Tensor max_pool_backward(const Tensor& dy, const Tensor& argmax, const Shape& x_shape, int kernel,
                         int stride, int padding);
Tensor avg_pool(const Tensor& x, int kernel, int stride);
Tensor avg_pool_backward(const Tensor& dy, const Shape& x_shape, int kernel, int stride);

}  // namespace ddnet::kernels
