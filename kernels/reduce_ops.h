// Reductions of a whole tensor to one element (sum, mean, max, sum of squares), on the tensor's
// device without a host round trip. The tensor-level entry point (checks, element type, device
// dispatch on the tensor's device, the current stream; no autograd: that is
// layers/reduce_autograd.h). Raw kernels: reduce.h.
#pragma once

#include "engine/tensor.h"
#include "kernels/reduce.h"

namespace ddnet::kernels {

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

}  // namespace ddnet::kernels
