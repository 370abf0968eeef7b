// Tensor-level entry points of kernels/: check shapes, element types and devices, then dispatch
// to the CPU twin or the CUDA launcher on the tensor's device (never on a global mode). No
// autograd here: layers/functional.h records the backward closures.
#pragma once

#include <vector>

#include "engine/tensor.h"
#include "kernels/reduce.h"
#include "kernels/upsample.h"

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

// A one-element tensor (shape (1)) on the input's device, computed without host synchronisation.
Tensor reduce(ReduceOp op, const Tensor& x);
inline Tensor sum(const Tensor& x) {
  return reduce(ReduceOp::sum, x);
}
inline Tensor mean(const Tensor& x) {
  return reduce(ReduceOp::mean, x);
}
inline Tensor max(const Tensor& x) {
  return reduce(ReduceOp::max, x);
}
inline Tensor sum_sq(const Tensor& x) {
  return reduce(ReduceOp::sum_sq, x);
}

// Upsampling of (N, C, H, W) or (N, C, D, H, W) by an integer factor on every spatial axis.
// align_corners applies to linear mode only (as in PyTorch).
Tensor upsample(const Tensor& x, int factor, UpsampleMode mode, bool align_corners);
// The gradient with respect to the input of shape `input_shape`, given dy.
Tensor upsample_backward(const Tensor& dy, const Shape& input_shape, int factor, UpsampleMode mode,
                         bool align_corners);

// Concatenation along channels (dim 1) of tensors equal in every other dimension, into a new
// tensor, by one kernel (groups of kConcatMaxInputs); and its inverse, which copies the channel
// ranges of x out into new tensors. Inputs need every sample contiguous (slices are fine).
Tensor concat(const std::vector<Tensor>& parts);
std::vector<Tensor> split_channels(const Tensor& x, const std::vector<std::int64_t>& channels);

// dst = src for any strides, same shape and device.
void copy(const Tensor& src, Tensor& dst);
Tensor contiguous(const Tensor& x);  // x itself when already contiguous

}  // namespace ddnet::kernels
