// Concatenation along channels and its inverse (split_channels).
// The tensor-level entry point (checks, element type, device dispatch on the tensor's device,
// the current stream; no autograd: that is layers/concat_autograd.h). Raw kernels: concat.h.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/tensor.h"
#include "kernels/concat.h"

namespace ddnet::kernels {

// Concatenation along channels (dim 1) of tensors equal in every other dimension, into a new
// tensor, by one kernel (groups of kConcatMaxInputs); and its inverse, which copies the channel
// ranges of x out into new tensors. Inputs need every sample contiguous (slices are fine).
Tensor concat(const std::vector<Tensor>& parts);
std::vector<Tensor> split_channels(const Tensor& x, const std::vector<std::int64_t>& channels);

}  // namespace ddnet::kernels
