// The autograd closures of elementwise (see elementwise_autograd.h).
#include "layers/elementwise_autograd.h"

#include "engine/autograd.h"
#include "kernels/copy_ops.h"
#include "kernels/elementwise_ops.h"

namespace ddnet::F {

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor y = kernels::add(a, b);
  if (should_record({&a, &b}))
    record("add", {a, b}, {y}, [](GradContext& ctx) {
      ctx.accumulate(0, ctx.grad_output());
      ctx.accumulate(1, ctx.grad_output());
    });
  return y;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor y = kernels::mul(a, b);
  if (should_record({&a, &b}))
    record("mul", {a, b}, {y}, [a, b](GradContext& ctx) {
      const Tensor& g = ctx.grad_output();
      if (ctx.needs_input_grad(0)) ctx.accumulate(0, kernels::mul(g, b));
      if (ctx.needs_input_grad(1)) ctx.accumulate(1, kernels::mul(g, a));
    });
  return y;
}

Tensor scale(const Tensor& x, double alpha) {
  Tensor y = kernels::scale(x, alpha);
  if (should_record({&x}))
    record("scale", {x}, {y}, [alpha](GradContext& ctx) {
      ctx.accumulate(0, kernels::scale(ctx.grad_output(), alpha));
    });
  return y;
}

namespace {
// LeakyReLU's input gradient from the output's, written over it when the gradient is this
// entry's alone (Tensor::sole_owner: no other entry or view reads it) and contiguous: the same
// bits, one full-size tensor less in flight during backward.
Tensor leaky_relu_grad(const Tensor& saved, GradContext& ctx, double slope) {
  Tensor dy = ctx.take_grad_output();
  if (!dy.defined()) return dy;
  if (dy.sole_owner() && dy.is_contiguous()) {
    kernels::leaky_relu_backward_inplace(saved, dy, slope);
    return dy;
  }
  return kernels::leaky_relu_backward(saved, kernels::contiguous(dy), slope);
}
}  // namespace

Tensor leaky_relu(const Tensor& x, double slope) {
  Tensor y = kernels::leaky_relu(x, slope);
  if (!should_record({&x})) return y;
  // With slope >= 0, y > 0 exactly where x > 0 (y = slope * x <= 0 elsewhere, and NaN stays
  // NaN), so backward can read the output: the layer before (a convolution's output) is freed
  // after forward instead of being kept for this closure; the output is usually kept anyway by
  // the next op. The gradient is bit for bit the same.
  const Tensor& saved = slope >= 0 ? y : x;
  record("leaky_relu", {x}, {y}, [saved, slope](GradContext& ctx) {
    ctx.accumulate(0, leaky_relu_grad(saved, ctx, slope));
  });
  return y;
}

Tensor leaky_relu_into(const Tensor& x, const Tensor& dst, double slope) {
  DDNET_CHECK(x.shape() == dst.shape() && x.dtype() == dst.dtype() && x.device() == dst.device(),
              "leaky_relu_into: output ", dst.str(), " does not match the input ", x.str());
  Tensor out =
      dst.as_strided(dst.shape(), dst.strides(), dst.storage_offset());  // fresh autograd state
  {
    const Tensor y = kernels::leaky_relu(x, slope);  // freed here: the output lives in dst
    if (out.is_contiguous())
      out.copy_(y);
    else
      kernels::copy(y, out);
  }
  if (!should_record({&x})) return out;
  const Tensor& saved = slope >= 0 ? out : x;  // as in leaky_relu
  record("leaky_relu_into", {x}, {out}, [saved, slope](GradContext& ctx) {
    ctx.accumulate(0, leaky_relu_grad(kernels::contiguous(saved), ctx, slope));
  });
  return out;
}

}  // namespace ddnet::F
