// Batch normalisation on tensors (PyTorch's batch_norm semantics; kernels/batchnorm.h has the
// math and the raw kernels). The tensor-level entry point: shape, dtype and device checks, then
// dispatch on x's device. No autograd here: F::batch_norm (layers/batchnorm_autograd.h) records it.
#pragma once

#include "engine/tensor.h"
#include "kernels/batchnorm.h"

namespace ddnet::kernels {

struct BatchNormForward {
  Tensor y;
  Tensor mean, invstd;  // (C): the statistics y was normalised with (batch or running)
};

// x: (N, C, H, W) or (N, C, D, H, W), any strides. weight, bias: (C) or undefined (1 and 0).
// running_mean, running_var: (C), updated in place in training mode; required in eval mode,
// optional (undefined: not tracked) in training mode.
BatchNormForward batch_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                    Tensor& running_mean, Tensor& running_var, bool training,
                                    double momentum = 0.1, double eps = 1e-5);

// y = (x - mean[c]) * invstd[c] * weight[c] + bias[c] with given statistics: bit for bit the y
// of the batch_norm_forward that returned them (the same kernel), so a composite can free y
// after forward and recompute it in backward (layers/batchnorm_conv.h).
Tensor batch_norm_apply(const Tensor& x, const Tensor& mean, const Tensor& invstd,
                        const Tensor& weight, const Tensor& bias);

struct BatchNormGrads {
  Tensor dx, dweight, dbias;  // undefined where not asked for
};

// The gradients for dy (the shape of x), given the forward's mean / invstd. With overwrite_dy,
// dx is written over dy when dy is contiguous (the caller owns it: Tensor::sole_owner; dx is then
// dy's storage), the same bits: backward holds one tensor of that size instead of two.
BatchNormGrads batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight,
                                   const Tensor& mean, const Tensor& invstd, bool training,
                                   bool need_dx, bool need_dweight, bool need_dbias,
                                   bool overwrite_dy = false);

}  // namespace ddnet::kernels
