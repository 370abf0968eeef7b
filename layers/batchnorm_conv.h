// Batch normalisation followed by a convolution (or a transposed one), recorded as one tape
// entry that keeps the normalisation's input and statistics, not its output: backward
// recomputes the output (kernels::batch_norm_apply, bit for bit the forward's) for the weight
// gradient and frees it again. The technique of memory-efficient DenseNets: per BN -> conv pair
// one activation fewer on the tape (DDnet's lean memory mode, docs/memory.md). Forward values,
// gradients and the running statistics (updated once, in forward) are bit for bit those of
// F::batch_norm then F::conv / F::conv_transpose.
#pragma once

#include "engine/tensor.h"
#include "kernels/conv_ops.h"

namespace ddnet::F {

struct BatchNormArgs {
  const Tensor& weight;  // (C) or undefined
  const Tensor& bias;
  Tensor& running_mean;  // updated in place in training mode
  Tensor& running_var;
  bool training = true;
  double momentum = 0.1, eps = 1e-5;
};

Tensor batch_norm_conv(const Tensor& x, const BatchNormArgs& bn, const Tensor& w,
                       const Tensor& bias, kernels::ConvOptions o, bool transpose);

}  // namespace ddnet::F
