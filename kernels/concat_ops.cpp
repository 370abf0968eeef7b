// Tensor-level concat and split: checks, grouping by kConcatMaxInputs, dispatch.
#include "kernels/concat_ops.h"

#include <algorithm>

#include "kernels/dispatch.h"

namespace ddnet::kernels {

namespace {

std::int64_t sample_stride(const Tensor& t) {
  std::int64_t expected = 1;
  for (int d = t.dim() - 1; d >= 1; --d) {
    DDNET_CHECK(t.size(d) == 1 || t.stride(d) == expected, "concat: ", t.str(),
                " must have each sample contiguous");
    expected *= t.size(d);
  }
  return t.size(0) == 1 ? expected : t.stride(0);
}

void check_parts(const std::vector<Tensor>& parts) {
  DDNET_CHECK(!parts.empty(), "concat: no inputs");
  const Tensor& a = parts[0];
  DDNET_CHECK(a.dim() >= 2, "concat: inputs need a channel dimension, got ", a.str());
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const Tensor& t = parts[i];
    DDNET_CHECK(
        t.defined() && t.dim() == a.dim() && t.device() == a.device() && t.dtype() == a.dtype(),
        "concat: input ", i, " ", t.str(), " does not match input 0 ", a.str());
    for (int d = 0; d < a.dim(); ++d)
      DDNET_CHECK(d == 1 || t.size(d) == a.size(d), "concat: input ", i, " has shape ",
                  t.shape().str(), ", input 0 has ", a.shape().str(),
                  ": only the channel dimension may differ");
  }
}

// Runs `fn(args)` for each group of parts of the concatenated tensor `whole`.
template <class T, class Fn>
void for_groups(const std::vector<Tensor>& parts, const Tensor& whole, Fn&& fn) {
  ConcatArgs<T> a;
  a.n = whole.size(0);
  a.out_channels = whole.size(1);
  a.plane = whole.numel() / std::max<std::int64_t>(1, whole.size(0) * whole.size(1));
  a.out_batch_stride = sample_stride(whole);
  std::int64_t start = 0;
  for (const Tensor& t : parts) {
    a.parts[a.count++] = ConcatPart<T>{t.data<T>(), t.size(1), start, sample_stride(t)};
    start += t.size(1);
    if (a.count == kConcatMaxInputs) {
      fn(a);
      a.count = 0;
    }
  }
  if (a.count) fn(a);
}

}  // namespace

Tensor concat(const std::vector<Tensor>& parts) {
  check_parts(parts);
  Shape s = parts[0].shape();
  s[1] = 0;
  for (const Tensor& t : parts) s[1] += t.size(1);
  Tensor out = Tensor::empty(s, parts[0].device(), parts[0].dtype());
  detail::dispatch_float(out, "concat", [&](auto z) {
    using T = decltype(z);
    for_groups<T>(parts, out, [&](const ConcatArgs<T>& a) {
      if (out.device().is_cpu())
        cpu::concat(a, out.data<T>());
      else
        DDNET_CUDA_CALL(cuda::concat(a, out.data<T>(), detail::stream_of(out)));
    });
  });
  return out;
}

std::vector<Tensor> split_channels(const Tensor& x, const std::vector<std::int64_t>& channels) {
  std::int64_t total = 0;
  std::vector<Tensor> parts;
  for (std::int64_t c : channels) {
    Shape s = x.shape();
    s[1] = c;
    parts.push_back(Tensor::empty(s, x.device(), x.dtype()));
    total += c;
  }
  DDNET_CHECK(total == x.size(1), "split: channel counts add up to ", total, ", the tensor has ",
              x.size(1));
  detail::dispatch_float(x, "split", [&](auto z) {
    using T = decltype(z);
    for_groups<T>(parts, x, [&](const ConcatArgs<T>& a) {
      if (x.device().is_cpu())
        cpu::split(a, x.data<T>());
      else
        DDNET_CUDA_CALL(cuda::split(a, x.data<T>(), detail::stream_of(x)));
    });
  });
  return parts;
}

}  // namespace ddnet::kernels
