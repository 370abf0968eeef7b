// Layers with parameters, as modules: Conv and ConvTranspose (2D or 3D), BatchNorm. Defaults
// follow PyTorch: conv weights and biases uniform in +-1/sqrt(fan_in) (kaiming_uniform with
// a = sqrt(5)), batch norm weight 1, bias 0, running mean 0, running variance 1, momentum 0.1,
// eps 1e-5. Names match PyTorch's ("weight", "bias", "running_mean", ...).
#pragma once

#include <optional>

#include "engine/rng.h"
#include "graph/module.h"
#include "kernels/conv_ops.h"

namespace ddnet::nn {

class Conv : public Module {
 public:
  // dims 2 or 3; weight (out, in, k...) ; transpose: weight (in, out, k...).
  Conv(int dims, std::int64_t in, std::int64_t out, int kernel, int padding, Generator& gen,
       bool transpose = false);
  Tensor forward(const Tensor& x);
  Tensor& weight;
  Tensor& bias;
  bool transpose() const { return transpose_; }
  const kernels::ConvOptions& options() const { return options_; }

 private:
  bool transpose_;
  kernels::ConvOptions options_;
};

class BatchNorm : public Module {
 public:
  explicit BatchNorm(std::int64_t channels);
  Tensor forward(const Tensor& x);
  // The factor of the running statistics' update in training mode (PyTorch's momentum). Empty is
  // PyTorch's momentum=None: each training forward weighs 1 / num_batches_tracked (after its
  // count), so the statistics are the plain average of every batch since the count was 0 (what
  // BatchNorm recalibration uses: models/recalibrate.h).
  std::optional<double> momentum = 0.1;
  Tensor& weight;
  Tensor& bias;
  Tensor& running_mean;
  Tensor& running_var;
  Tensor& num_batches_tracked;  // one int32 (PyTorch: int64), counts training forwards
};

// conv.forward(bn.forward(x)); with `recompute`, as one tape entry that keeps x instead of the
// normalised tensor and recomputes it in backward (F::batch_norm_conv): the same values,
// gradients and running statistics, one activation fewer held (DDnet's lean memory mode).
Tensor batch_norm_conv(BatchNorm& bn, Conv& conv, const Tensor& x, bool recompute);

// A dense layer's bottleneck and convolution: conv2.forward(bn2.forward(leaky_relu(
// conv1.forward(bn1.forward(x)), slope))), plain convolutions. With `recompute`, as one tape
// entry that keeps x and the normalisations' statistics only and recomputes the rest in backward
// (F::bottleneck_conv): the same values, gradients and running statistics, the bottleneck's
// activation not held (DDnet's lean memory mode).
Tensor bottleneck_conv(BatchNorm& bn1, Conv& conv1, double slope, BatchNorm& bn2, Conv& conv2,
                       const Tensor& x, bool recompute);

}  // namespace ddnet::nn
