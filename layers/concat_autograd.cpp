// The autograd closures of concat (see concat_autograd.h).
#include "layers/concat_autograd.h"

#include <algorithm>

#include "engine/autograd.h"
#include "kernels/concat_ops.h"
#include "kernels/copy_ops.h"

namespace ddnet::F {

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

}  // namespace ddnet::F
