// The autograd closures of copy (see copy_autograd.h).
#include "layers/copy_autograd.h"

#include "engine/autograd.h"
#include "kernels/copy_ops.h"

namespace ddnet::F {

Tensor contiguous(const Tensor& x) {
  if (x.is_contiguous()) return x;
  Tensor y = kernels::contiguous(x);
  if (should_record({&x}))
    record("contiguous", {x}, {y}, [](GradContext& ctx) { ctx.accumulate(0, ctx.grad_output()); });
  return y;
}

Tensor copy_into(const Tensor& src, const Tensor& dst) {
  Tensor out =
      dst.as_strided(dst.shape(), dst.strides(), dst.storage_offset());  // fresh autograd state
  if (out.is_contiguous() && src.is_contiguous())
    out.copy_(src);
  else
    kernels::copy(kernels::contiguous(src), out);
  if (should_record({&src}))
    record("copy_into", {src}, {out},
           [](GradContext& ctx) { ctx.accumulate(0, kernels::contiguous(ctx.grad_output())); });
  return out;
}

}  // namespace ddnet::F
