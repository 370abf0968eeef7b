// The autograd closures of upsample (see upsample_autograd.h).
#include "layers/upsample_autograd.h"

#include "engine/autograd.h"
#include "kernels/upsample_ops.h"

namespace ddnet::F {

Tensor upsample(const Tensor& x, int factor, kernels::UpsampleMode mode, bool align_corners) {
  Tensor y = kernels::upsample(x, factor, mode, align_corners);
  if (should_record({&x}))
    record(
        "upsample", {x}, {y}, [shape = x.shape(), factor, mode, align_corners](GradContext& ctx) {
          ctx.accumulate(
              0, kernels::upsample_backward(ctx.grad_output(), shape, factor, mode, align_corners));
        });
  return y;
}

}  // namespace ddnet::F
