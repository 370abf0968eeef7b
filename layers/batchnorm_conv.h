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

struct ConvArgs {
  const Tensor& weight;
  const Tensor& bias;  // or undefined
  kernels::ConvOptions options;
};

// A dense layer's bottleneck and its convolution, conv2(bn2(leaky_relu(conv1(bn1(x))))) with
// plain (not transposed) convolutions, as one tape entry that keeps only x and the two
// normalisations' statistics: backward recomputes conv1's output and its LeakyReLU from them
// (the forward's kernels, so the same bits) instead of holding the bottleneck's activation (4x
// the growth rate in DDnet: 64 channels per dense layer). The cost is conv1 again, a 1x1
// convolution. Values, gradients and running statistics (updated once, in forward) are bit
// for bit those of batch_norm_conv, leaky_relu, batch_norm_conv. slope >= 0.
Tensor bottleneck_conv(const Tensor& x, const BatchNormArgs& bn1, const ConvArgs& conv1,
                       double slope, const BatchNormArgs& bn2, const ConvArgs& conv2);

}  // namespace ddnet::F
