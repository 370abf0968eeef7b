// MSE and the combined training loss (MS-SSIM itself: msssim_autograd.cpp).
#include "layers/loss.h"

#include "layers/elementwise_autograd.h"
#include "layers/reduce_autograd.h"

namespace ddnet::F {

Tensor mse(const Tensor& pred, const Tensor& target) {
  DDNET_CHECK(pred.shape() == target.shape(), "mse: prediction ", pred.shape().str(),
              " and target ", target.shape().str(), " differ in shape");
  const Tensor diff = add(pred, scale(target, -1.0));
  return scale(sum_sq(diff), 1.0 / static_cast<double>(pred.numel()));
}

LossParts ddnet_loss(const Tensor& pred, const Tensor& target, double gamma,
                     const kernels::MsssimOptions& options) {
  LossParts p;
  p.mse = mse(pred, target);
  p.msssim = msssim(pred, target, options);
  // mse + gamma * (1 - msssim) = mse - gamma * msssim + gamma; the constant does not change the
  // gradient, and is added to the value afterwards.
  Tensor t = add(p.mse, scale(p.msssim, -gamma));
  Tensor shift = Tensor::full(Shape{1}, gamma, pred.device(), pred.dtype());
  p.total = add(t, shift);
  return p;
}

}  // namespace ddnet::F
