// The training loss of 3D-DDnet: MSE + gamma * (1 - MS-SSIM), gamma 0.1 by default, with its
// parts for logging. MS-SSIM (and its options, reference or textbook): layers/msssim_autograd.h.
#pragma once

#include "engine/tensor.h"
#include "layers/msssim_autograd.h"

namespace ddnet::F {

// mean((pred - target)^2), one element; gradients for both inputs.
Tensor mse(const Tensor& pred, const Tensor& target);

struct LossParts {
  Tensor total;  // mse + gamma * (1 - msssim), differentiable
  Tensor mse;    // the parts, for logging (share the graph; do not call backward on them too)
  Tensor msssim;
};
LossParts ddnet_loss(const Tensor& pred, const Tensor& target, double gamma = 0.1,
                     const kernels::MsssimOptions& options = kernels::MsssimOptions::reference());

}  // namespace ddnet::F
