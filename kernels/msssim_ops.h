// MS-SSIM on tensors (kernels/msssim.h has the math, the options and the raw kernels). The
// tensor-level entry point: shape, type and device checks, then the CPU twin or the fused CUDA
// kernel on the inputs' device. No autograd here: F::msssim (layers/msssim_autograd.h) records
// the backward with the gradient computed here.
#pragma once

#include "engine/tensor.h"
#include "kernels/msssim.h"

namespace ddnet::kernels {

struct MsssimForward {
  Tensor value;   // one element, on the inputs' device
  Tensor grad_x;  // d value / d pred (pred's shape), when asked for; else undefined
};

// pred and target: equal shapes (N, C, H, W) or (N, C, D, H, W), one device and element type
// (float32 or float64 on the CPU, float32 on CUDA); any strides. With options.check_finite a
// NaN or Inf in either input is an error.
MsssimForward msssim(const Tensor& pred, const Tensor& target, const MsssimOptions& options,
                     bool need_grad);

}  // namespace ddnet::kernels
