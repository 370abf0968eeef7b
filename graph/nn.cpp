// Conv, ConvTranspose and BatchNorm modules.
#include "graph/nn.h"

#include <cmath>

#include "engine/autograd.h"
#include "layers/batchnorm_autograd.h"
#include "layers/batchnorm_conv.h"
#include "layers/conv_autograd.h"
#include "layers/elementwise_autograd.h"

namespace ddnet::nn {

namespace {
Shape kernel_shape(int dims, std::int64_t a, std::int64_t b, int k) {
  return dims == 3 ? Shape{a, b, k, k, k} : Shape{a, b, k, k};
}
// PyTorch's bound: 1 / sqrt(fan_in), fan_in = weight.size(1) * prod(kernel) (for a
// ConvTranspose weight (in, out, k...) that is `out`).
float bound(int dims, std::int64_t in, std::int64_t out, int k, bool transpose) {
  const double fan_in = static_cast<double>(transpose ? out : in) * std::pow(k, dims);
  return static_cast<float>(1.0 / std::sqrt(fan_in));
}
Tensor init_weight(int dims, std::int64_t in, std::int64_t out, int k, bool transpose,
                   Generator& gen) {
  DDNET_CHECK(dims == 2 || dims == 3, "Conv: 2 or 3 spatial dimensions, got ", dims);
  const float b = bound(dims, in, out, k, transpose);
  return gen.uniform(transpose ? kernel_shape(dims, in, out, k) : kernel_shape(dims, out, in, k),
                     Device::cpu(), -b, b);
}
}  // namespace

Conv::Conv(int dims, std::int64_t in, std::int64_t out, int kernel, int padding, Generator& gen,
           bool transpose)
    : weight(register_parameter("weight", init_weight(dims, in, out, kernel, transpose, gen))),
      bias(register_parameter(
          "bias", gen.uniform({out}, Device::cpu(), -bound(dims, in, out, kernel, transpose),
                              bound(dims, in, out, kernel, transpose)))),
      transpose_(transpose),
      options_{1, padding} {}

Tensor Conv::forward(const Tensor& x) {
  return transpose_ ? F::conv_transpose(x, weight, bias, options_)
                    : F::conv(x, weight, bias, options_);
}

BatchNorm::BatchNorm(std::int64_t channels)
    : weight(register_parameter("weight", Tensor::full({channels}, 1.0))),
      bias(register_parameter("bias", Tensor::zeros({channels}))),
      running_mean(register_buffer("running_mean", Tensor::zeros({channels}))),
      running_var(register_buffer("running_var", Tensor::full({channels}, 1.0))),
      num_batches_tracked(register_buffer("num_batches_tracked",
                                          Tensor::zeros(Shape{}, Device::cpu(), DType::i32))) {}

namespace {
// In training mode the running statistics are updated by the forward pass only: a checkpointed
// segment's recomputation (recomputing()) normalises with the batch statistics, as the forward
// did, and updates nothing. `none` stands in for them then.
bool updates_statistics(const BatchNorm& bn) {
  return bn.training() && !recomputing();
}

// Counts a training forward that updates the statistics; returns the update's factor.
double count_batch(BatchNorm& bn) {
  std::int32_t& count = bn.num_batches_tracked.data<std::int32_t>()[0];
  count += 1;
  return bn.momentum ? *bn.momentum : 1.0 / count;
}
}  // namespace

Tensor BatchNorm::forward(const Tensor& x) {
  Tensor none;
  const bool update = updates_statistics(*this);
  const double factor = update ? count_batch(*this) : 0.0;
  const bool skip = training() && !update;
  return F::batch_norm(x, weight, bias, skip ? none : running_mean, skip ? none : running_var,
                       training(), factor);
}

namespace {
// A BatchNorm's arguments for a composite entry, counting the batch as BatchNorm::forward does.
// Refers to `none` in place of the running statistics when they are not updated (so not
// copyable).
struct CompositeBatchNorm {
  explicit CompositeBatchNorm(BatchNorm& bn)
      : skip(bn.training() && !updates_statistics(bn)),
        args{bn.weight, bn.bias, skip ? none : bn.running_mean, skip ? none : bn.running_var,
             bn.training()} {
    args.momentum = updates_statistics(bn) ? count_batch(bn) : 0.0;
  }
  CompositeBatchNorm(const CompositeBatchNorm&) = delete;
  CompositeBatchNorm& operator=(const CompositeBatchNorm&) = delete;
  bool skip;
  Tensor none;
  F::BatchNormArgs args;
};
}  // namespace

Tensor batch_norm_conv(BatchNorm& bn, Conv& conv, const Tensor& x, bool recompute) {
  if (!recompute) return conv.forward(bn.forward(x));
  const CompositeBatchNorm b(bn);
  return F::batch_norm_conv(x, b.args, conv.weight, conv.bias, conv.options(), conv.transpose());
}

Tensor bottleneck_conv(BatchNorm& bn1, Conv& conv1, double slope, BatchNorm& bn2, Conv& conv2,
                       const Tensor& x, bool recompute) {
  DDNET_CHECK(!conv1.transpose() && !conv2.transpose(),
              "bottleneck_conv: plain convolutions only, not transposed ones");
  if (!recompute)
    return conv2.forward(bn2.forward(F::leaky_relu(conv1.forward(bn1.forward(x)), slope)));
  const CompositeBatchNorm b1(bn1), b2(bn2);
  return F::bottleneck_conv(x, b1.args, {conv1.weight, conv1.bias, conv1.options()}, slope, b2.args,
                            {conv2.weight, conv2.bias, conv2.options()});
}

}  // namespace ddnet::nn
