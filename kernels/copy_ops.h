// Strided copies between tensors of one device, and contiguous().
// The tensor-level entry point (checks, element type, device dispatch on the tensor's device,
// the current stream; no autograd: that is layers/copy_autograd.h). Raw kernels: copy.h.
#pragma once

#include "engine/tensor.h"
#include "kernels/copy.h"

namespace ddnet::kernels {

// dst = src for any strides, same shape and device.
void copy(const Tensor& src, Tensor& dst);
Tensor contiguous(const Tensor& x);  // x itself when already contiguous

}  // namespace ddnet::kernels
