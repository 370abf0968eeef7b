// Backward closures of the differentiable elementwise ops and reductions.
#include "layers/functional.h"

#include <algorithm>

#include "engine/autograd.h"
#include "kernels/ops.h"

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

Tensor leaky_relu(const Tensor& x, double slope) {
  Tensor y = kernels::leaky_relu(x, slope);
  if (should_record({&x}))
    record("leaky_relu", {x}, {y}, [x, slope](GradContext& ctx) {
      ctx.accumulate(0, kernels::leaky_relu_backward(x, ctx.grad_output(), slope));
    });
  return y;
}

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

namespace {
// The channel view covering adjacent slices of one buffer, or an undefined tensor.
Tensor adjacent_view(const std::vector<Tensor>& parts) {
  const Tensor& a = parts[0];
  if (a.dim() < 2) return {};
  std::int64_t channels = a.size(1);
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const Tensor& p = parts[i];
    const Tensor& q = parts[i - 1];
    if (!p.shares_storage_with(a) || p.dim() != a.dim() || p.dtype() != a.dtype()) return {};
    for (int d = 0; d < a.dim(); ++d)
      if ((d != 1 && p.size(d) != a.size(d)) || p.stride(d) != a.stride(d)) return {};
    if (p.storage_offset() != q.storage_offset() + q.size(1) * q.stride(1)) return {};
    channels += p.size(1);
  }
  Shape s = a.shape();
  s[1] = channels;
  Tensor v = a.as_strided(s, a.strides(), a.storage_offset());
  return v;
}
}  // namespace

Tensor concat(const std::vector<Tensor>& parts) {
  DDNET_CHECK(!parts.empty(), "concat: no inputs");
  Tensor y = adjacent_view(parts);
  if (!y.defined()) y = kernels::concat(parts);
  const bool any = grad_enabled() && std::any_of(parts.begin(), parts.end(),
                                                 [](const Tensor& t) { return t.requires_grad(); });
  if (any) {
    std::vector<std::int64_t> channels;
    for (const Tensor& p : parts) channels.push_back(p.size(1));
    record("concat", parts, {y}, [channels](GradContext& ctx) {
      const auto pieces = kernels::split_channels(kernels::contiguous(ctx.grad_output()), channels);
      for (std::size_t i = 0; i < pieces.size(); ++i)
        if (ctx.needs_input_grad(i)) ctx.accumulate(i, pieces[i]);
    });
  }
  return y;
}

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

namespace {
// d(sum)/dx = 1, d(mean)/dx = 1/n, d(sum_sq)/dx = 2x: all scale_by_scalar of the seed.
Tensor reduction(kernels::ReduceOp op, const char* name, const Tensor& x) {
  Tensor y = kernels::reduce(op, x);
  if (should_record({&x})) {
    const Tensor saved = op == kernels::ReduceOp::sum_sq ? x : Tensor();
    const double n = static_cast<double>(x.numel());
    record(name, {x}, {y}, [op, saved, n, shape = x.shape()](GradContext& ctx) {
      const Tensor& g = ctx.grad_output();
      switch (op) {
        case kernels::ReduceOp::sum:
          ctx.accumulate(0, kernels::scale_by_scalar({}, g, 1.0, shape));
          break;
        case kernels::ReduceOp::mean:
          ctx.accumulate(0, kernels::scale_by_scalar({}, g, 1.0 / n, shape));
          break;
        case kernels::ReduceOp::sum_sq:
          ctx.accumulate(0, kernels::scale_by_scalar(saved, g, 2.0, shape));
          break;
        case kernels::ReduceOp::max:
          DDNET_FAIL("max has no backward");
      }
    });
  }
  return y;
}
}  // namespace

Tensor sum(const Tensor& x) {
  return reduction(kernels::ReduceOp::sum, "sum", x);
}
Tensor mean(const Tensor& x) {
  return reduction(kernels::ReduceOp::mean, "mean", x);
}
Tensor sum_sq(const Tensor& x) {
  return reduction(kernels::ReduceOp::sum_sq, "sum_sq", x);
}

}  // namespace ddnet::F
