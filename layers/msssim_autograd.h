// Differentiable MS-SSIM (kernels/msssim_ops.h, with its backward closure). Options (reference or
// textbook): kernels/msssim.h.
#pragma once

#include "engine/tensor.h"
#include "kernels/msssim_ops.h"

namespace ddnet::F {

// MS-SSIM of pred against target, one element; the gradient flows to pred (the target is data).
// Shapes (N, C, H, W) or (N, C, D, H, W). NaN or Inf in either input is an error.
Tensor msssim(const Tensor& pred, const Tensor& target,
              const kernels::MsssimOptions& options = kernels::MsssimOptions::reference());

}  // namespace ddnet::F
