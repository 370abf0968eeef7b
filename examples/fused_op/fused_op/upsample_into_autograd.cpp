// The autograd closure of upsample_into (see upsample_into_autograd.h).
#include "fused_op/upsample_into_autograd.h"

#include "engine/autograd.h"

namespace fused_op {

using ddnet::GradContext;
using ddnet::Tensor;

Tensor upsample_into(const Tensor& x, const Tensor& dst, UpsampleMode mode, bool align_corners) {
  // A new view of dst's memory, so that dst's own autograd state (none, for a buffer) is not
  // touched and the returned tensor becomes this op's output.
  Tensor out = dst.as_strided(dst.shape(), dst.strides(), dst.storage_offset());
  upsample_into_forward(x, out, mode, align_corners);
  if (ddnet::should_record({&x}))
    // Only the input's shape is saved: the backward needs no activation.
    ddnet::record("fused_op::upsample_into", {x}, {out},
                  [shape = x.shape(), mode, align_corners](GradContext& ctx) {
                    // Taken, not copied: the gradient is freed as soon as it has been read.
                    const Tensor dy = ctx.take_grad_output();
                    if (!dy.defined()) return;
                    ctx.accumulate(0, upsample_into_backward(dy, shape, mode, align_corners));
                  });
  return out;
}

}  // namespace fused_op
