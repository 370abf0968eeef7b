// The autograd closure of MS-SSIM (see msssim_autograd.h): the forward computes the gradient
// with respect to the prediction in the same pass; the backward scales it by the seed.
#include "layers/msssim_autograd.h"

#include "engine/autograd.h"
#include "kernels/elementwise_ops.h"

namespace ddnet::F {

Tensor msssim(const Tensor& pred, const Tensor& target, const kernels::MsssimOptions& options) {
  const bool grad = should_record({&pred});
  kernels::MsssimForward r = kernels::msssim(pred, target, options, grad);
  if (grad)
    record("msssim", {pred}, {r.value}, [gx = r.grad_x](GradContext& ctx) {
      ctx.accumulate(0, kernels::scale_by_scalar(gx, ctx.grad_output(), 1.0, gx.shape()));
    });
  return r.value;
}

}  // namespace ddnet::F
