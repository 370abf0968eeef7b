// Upsample tables (PyTorch's source-index rules) and the CPU twins of the forward and backward.
#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/error.h"
#include "engine/parallel.h"
#include "kernels/upsample.h"

namespace ddnet::kernels {

AxisTable make_axis_table(std::int64_t in, std::int64_t factor, UpsampleMode mode,
                          bool align_corners) {
  DDNET_CHECK(in >= 1 && factor >= 1, "upsample: size ", in, " by factor ", factor);
  AxisTable t;
  t.in = in;
  t.out = in * factor;
  const auto n = static_cast<std::size_t>(t.out);
  t.i0.resize(n);
  t.i1.resize(n);
  t.w0.resize(n);
  t.w1.resize(n);
  for (std::int64_t o = 0; o < t.out; ++o) {
    const auto k = static_cast<std::size_t>(o);
    if (mode == UpsampleMode::nearest) {
      t.i0[k] = t.i1[k] = static_cast<std::int32_t>(o / factor);
      t.w0[k] = 1;
      t.w1[k] = 0;
      continue;
    }
    double src;
    if (align_corners) {
      src = t.out > 1 ? static_cast<double>(o) * static_cast<double>(in - 1) /
                            static_cast<double>(t.out - 1)
                      : 0.0;
    } else {
      src = (static_cast<double>(o) + 0.5) / static_cast<double>(factor) - 0.5;
      if (src < 0) src = 0;
    }
    const auto i0 = static_cast<std::int64_t>(src);  // src >= 0: truncation is floor
    const std::int64_t i1 = i0 + (i0 < in - 1 ? 1 : 0);
    const double l1 = src - static_cast<double>(i0);
    t.i0[k] = static_cast<std::int32_t>(i0);
    t.i1[k] = static_cast<std::int32_t>(i1);
    t.w0[k] = 1 - l1;
    t.w1[k] = l1;
  }
  // Transpose: for each input, the (output, weight) pairs that read it. i0 == i1 merges.
  std::vector<std::vector<std::pair<std::int32_t, double>>> rev(static_cast<std::size_t>(in));
  for (std::int64_t o = 0; o < t.out; ++o) {
    const auto k = static_cast<std::size_t>(o);
    if (t.i0[k] == t.i1[k]) {
      rev[static_cast<std::size_t>(t.i0[k])].push_back(
          {static_cast<std::int32_t>(o), t.w0[k] + t.w1[k]});
    } else {
      rev[static_cast<std::size_t>(t.i0[k])].push_back({static_cast<std::int32_t>(o), t.w0[k]});
      rev[static_cast<std::size_t>(t.i1[k])].push_back({static_cast<std::int32_t>(o), t.w1[k]});
    }
  }
  t.start.push_back(0);
  for (const auto& r : rev) {
    for (const auto& [o, w] : r) {
      t.src.push_back(o);
      t.weight.push_back(w);
    }
    t.start.push_back(static_cast<std::int32_t>(t.src.size()));
  }
  return t;
}

namespace cpu {

// Both passes are separable: per row along W they first combine the (D, H) neighbours' whole rows
// into one row (contiguous multiply-adds the compiler vectorises), then apply the W table to it,
// instead of gathering 2 x 2 x 2 points (or a CSR list of them) per element.

template <class T>
void upsample_forward(const T* x, T* y, std::int64_t planes, const AxisView<T>& d,
                      const AxisView<T>& h, const AxisView<T>& w) {
  const std::int64_t in_plane = d.in * h.in * w.in, out_plane = d.out * h.out * w.out;
  const std::int64_t rows = planes * d.out * h.out;  // one output row (along W) per task
  parallel_for(rows, std::max<std::int64_t>(1, 4096 / w.out), [&](std::int64_t b, std::int64_t e) {
    std::vector<T> mixed(static_cast<std::size_t>(w.in));  // the input row this output row reads
    T* m = mixed.data();
    for (std::int64_t r = b; r < e; ++r) {
      const std::int64_t p = r / (d.out * h.out), od = (r / h.out) % d.out, oh = r % h.out;
      const T* xp = x + p * in_plane;
      T* yr = y + p * out_plane + (od * h.out + oh) * w.out;
      const std::int64_t dd[2] = {d.i0[od], d.i1[od]}, hh[2] = {h.i0[oh], h.i1[oh]};
      const T wd[2] = {d.w0[od], d.w1[od]}, wh[2] = {h.w0[oh], h.w1[oh]};
      std::fill(m, m + w.in, T(0));
      for (int a = 0; a < 2; ++a)
        for (int c = 0; c < 2; ++c) {
          const T* row = xp + (dd[a] * h.in + hh[c]) * w.in;
          const T k = wd[a] * wh[c];
          for (std::int64_t iw = 0; iw < w.in; ++iw) m[iw] += k * row[iw];
        }
      for (std::int64_t ow = 0; ow < w.out; ++ow)
        yr[ow] = w.w0[ow] * m[w.i0[ow]] + w.w1[ow] * m[w.i1[ow]];
    }
  });
}

template <class T>
void upsample_backward(const T* dy, T* dx, std::int64_t planes, const AxisView<T>& d,
                       const AxisView<T>& h, const AxisView<T>& w) {
  const std::int64_t in_plane = d.in * h.in * w.in, out_plane = d.out * h.out * w.out;
  const std::int64_t rows = planes * d.in * h.in;  // one input row (along W) per task
  parallel_for(rows, std::max<std::int64_t>(1, 4096 / w.out), [&](std::int64_t b, std::int64_t e) {
    std::vector<T> mixed(static_cast<std::size_t>(w.out));  // the output-gradient rows it gets
    T* m = mixed.data();
    for (std::int64_t r = b; r < e; ++r) {
      const std::int64_t p = r / (d.in * h.in), id = (r / h.in) % d.in, ih = r % h.in;
      const T* g = dy + p * out_plane;
      T* dxr = dx + p * in_plane + (id * h.in + ih) * w.in;
      std::fill(m, m + w.out, T(0));
      for (std::int32_t a = d.start[id]; a < d.start[id + 1]; ++a)
        for (std::int32_t c = h.start[ih]; c < h.start[ih + 1]; ++c) {
          const T* row = g + (static_cast<std::int64_t>(d.src[a]) * h.out + h.src[c]) * w.out;
          const T k = d.weight[a] * h.weight[c];
          for (std::int64_t ow = 0; ow < w.out; ++ow) m[ow] += k * row[ow];
        }
      for (std::int64_t iw = 0; iw < w.in; ++iw) {
        T acc = 0;
        for (std::int32_t k = w.start[iw]; k < w.start[iw + 1]; ++k)
          acc += w.weight[k] * m[w.src[k]];
        dxr[iw] = acc;
      }
    }
  });
}

#define DDNET_INSTANTIATE(T)                                                         \
  template void upsample_forward<T>(const T*, T*, std::int64_t, const AxisView<T>&,  \
                                    const AxisView<T>&, const AxisView<T>&);         \
  template void upsample_backward<T>(const T*, T*, std::int64_t, const AxisView<T>&, \
                                     const AxisView<T>&, const AxisView<T>&);
DDNET_INSTANTIATE(float)
DDNET_INSTANTIATE(double)
#undef DDNET_INSTANTIATE

}  // namespace cpu
}  // namespace ddnet::kernels
