// Differentiable batch normalisation (PyTorch's torch.nn.functional.batch_norm).
#pragma once

#include "engine/tensor.h"

namespace ddnet::F {

// x: (N, C, H, W) or (N, C, D, H, W). weight (gamma), bias (beta): (C), or undefined for
// affine=False (1 and 0). running_mean, running_var: (C) buffers.
//
// training: normalise with the batch mean and biased variance over (N, spatial), and update the
// running stats in place (r = (1 - momentum) * r + momentum * batch value, the variance
// unbiased); needs more than one value per channel. Undefined running stats are not tracked.
// eval: normalise with the running stats (required), which are left unchanged.
//
// Records a backward for x, weight and bias (those that require grad). The running stats are
// buffers: their update is not recorded, and they must not require grad.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean,
                  Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);

}  // namespace ddnet::F
