// The tensor-level entry point of upsample_into (no autograd: upsample_into_autograd.h): the
// checks a user can get wrong, with messages they can act on, the element type, and dispatch on
// the tensors' device (CPU twin or CUDA on the device's current stream). Raw kernels:
// upsample_into.h.
#pragma once

#include "engine/tensor.h"
#include "fused_op/upsample_into.h"

namespace fused_op {

// Writes upsample(x) by 2 on every spatial axis into dst's memory, nothing else allocated but the
// axis tables. x: (N, C, H, W) or (N, C, D, H, W), float32 or float64 (a strided x is made
// contiguous first); dst: (N, C, 2H, 2W) or (N, C, 2D, 2H, 2W) on x's device and of its type,
// each batch item contiguous (a channel slice of a wider buffer is), not overlapping x.
// align_corners applies to linear mode only, as in PyTorch.
void upsample_into_forward(const ddnet::Tensor& x, const ddnet::Tensor& dst, UpsampleMode mode,
                           bool align_corners);

// The gradient with respect to an input of shape `input_shape` (contiguous, a new tensor) from dy,
// the gradient of dst: read where each batch item lies when its items are contiguous (a channel
// slice of the concatenation's gradient), made contiguous first otherwise.
ddnet::Tensor upsample_into_backward(const ddnet::Tensor& dy, const ddnet::Shape& input_shape,
                                     UpsampleMode mode, bool align_corners);

// Whether `t`'s batch items are each contiguous (strides of dims 1.. are the dense ones): the
// layouts the kernels address with one stride per item.
bool items_contiguous(const ddnet::Tensor& t);

}  // namespace fused_op
