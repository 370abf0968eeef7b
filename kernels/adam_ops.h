// Adam's fused update on tensors (kernels/adam.h has the math and the raw kernels). The
// tensor-level entry point: checks, then dispatch on the parameters' device, on its current
// stream. The optimiser that owns the moments and the step count is graph/optim.h.
#pragma once

#include "engine/tensor.h"
#include "kernels/adam.h"

namespace ddnet::kernels {

// One Adam step over flat float32 tensors of equal size on one device: params, grads and the
// moments m and v (updated in place). grad_sq_sum: undefined, or a one-element tensor on that
// device holding sum(grads^2) for gradient clipping (read on the device: no host round trip).
void adam_step(Tensor& params, const Tensor& grads, Tensor& m, Tensor& v, const AdamStep& s,
               const Tensor& grad_sq_sum = Tensor());

}  // namespace ddnet::kernels
