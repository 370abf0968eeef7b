// Upsample tables (PyTorch's source-index rules) and the CPU twins of the forward and backward.
#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/error.h"
#include "engine/parallel.h"
#include "kernels/cpu_features.h"
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

// Both passes are separable. The forward first upsamples input rows along W (the W table's
// gather, on a quarter of the outputs' count at factor 2), keeping the two input depth slices
// an output slice reads in a per-task cache (consecutive output slices share them), then writes
// each output row as up to four contiguous multiply-adds of those rows (terms of weight zero
// skipped: nearest mode is a copy). Memory-bound: every output written once, the input read about
// once. The backward first combines the (D, H) neighbours' whole rows of dy into one row, then
// applies the transposed W table to it.

namespace {

// The forward's two loops, written once and compiled twice: for the baseline x86-64 (SSE2) and,
// chosen at run time, for AVX2 (8 lanes). No FMA: each output is the same multiplies and adds
// in the same order either way, so both give the same bits.

// y[i] = sum over the n terms of k[t] * r[t][i].
template <class T>
inline __attribute__((always_inline)) void mix_rows_body(T* __restrict y, const T* const* r,
                                                         const T* k, int n, std::int64_t len) {
  const T* __restrict r0 = r[0];
  const T* __restrict r1 = r[1];
  const T* __restrict r2 = r[2];
  const T* __restrict r3 = r[3];
  switch (n) {
    case 0:
      for (std::int64_t i = 0; i < len; ++i) y[i] = T(0);
      break;
    case 1:
      for (std::int64_t i = 0; i < len; ++i) y[i] = k[0] * r0[i];
      break;
    case 2:
      for (std::int64_t i = 0; i < len; ++i) y[i] = k[0] * r0[i] + k[1] * r1[i];
      break;
    case 3:
      for (std::int64_t i = 0; i < len; ++i) y[i] = k[0] * r0[i] + k[1] * r1[i] + k[2] * r2[i];
      break;
    default:
      for (std::int64_t i = 0; i < len; ++i)
        y[i] = k[0] * r0[i] + k[1] * r1[i] + k[2] * r2[i] + k[3] * r3[i];
  }
}

// o[ow] = w0[ow] * row[i0[ow]] + w1[ow] * row[i1[ow]]: one input row upsampled along W.
template <class T>
inline __attribute__((always_inline)) void w_pass_body(T* __restrict o, const T* __restrict row,
                                                       const AxisView<T>& w) {
  const std::int32_t* __restrict i0 = w.i0;
  const std::int32_t* __restrict i1 = w.i1;
  const T* __restrict w0 = w.w0;
  const T* __restrict w1 = w.w1;
  for (std::int64_t ow = 0; ow < w.out; ++ow) o[ow] = w0[ow] * row[i0[ow]] + w1[ow] * row[i1[ow]];
}

template <class T>
void mix_rows_base(T* y, const T* const* r, const T* k, int n, std::int64_t len) {
  mix_rows_body(y, r, k, n, len);
}
template <class T>
void w_pass_base(T* o, const T* row, const AxisView<T>& w) {
  w_pass_body(o, row, w);
}
#if defined(__x86_64__)
template <class T>
__attribute__((target("avx2"))) void mix_rows_avx2(T* y, const T* const* r, const T* k, int n,
                                                   std::int64_t len) {
  mix_rows_body(y, r, k, n, len);
}
template <class T>
__attribute__((target("avx2"))) void w_pass_avx2(T* o, const T* row, const AxisView<T>& w) {
  w_pass_body(o, row, w);
}
#endif

template <class T>
void mix_rows(T* y, const T* const* r, const T* k, int n, std::int64_t len) {
#if defined(__x86_64__)
  if (cpu_has_avx2()) return mix_rows_avx2(y, r, k, n, len);
#endif
  mix_rows_base(y, r, k, n, len);
}

template <class T>
void w_pass(T* o, const T* row, const AxisView<T>& w) {
#if defined(__x86_64__)
  if (cpu_has_avx2()) return w_pass_avx2(o, row, w);
#endif
  w_pass_base(o, row, w);
}

}  // namespace

template <class T>
void upsample_forward(const T* x, T* y, std::int64_t planes, const AxisView<T>& d,
                      const AxisView<T>& h, const AxisView<T>& w) {
  const std::int64_t in_plane = d.in * h.in * w.in, out_plane = d.out * h.out * w.out;
  const std::int64_t in_slice = h.in * w.out;  // one input depth slice, upsampled along W
  const std::int64_t slices = planes * d.out;  // one output depth slice per step
  const std::int64_t grain = std::max<std::int64_t>(1, 65536 / (h.out * w.out));
  parallel_for(slices, grain, [&](std::int64_t b, std::int64_t e) {
    // cache[k] holds input slice key[k] = p * d.in + id, upsampled along W.
    std::vector<T> cache(static_cast<std::size_t>(2 * in_slice));
    std::int64_t key[2] = {-1, -1};
    int next = 0;
    auto slice = [&](std::int64_t p, std::int64_t id) -> const T* {
      const std::int64_t k = p * d.in + id;
      for (int c = 0; c < 2; ++c)
        if (key[c] == k) {
          next = 1 - c;  // the other slot is the older: a miss replaces it
          return cache.data() + c * in_slice;
        }
      const int c = next;
      next = 1 - c;
      key[c] = k;
      T* out = cache.data() + c * in_slice;
      const T* src = x + p * in_plane + id * h.in * w.in;
      for (std::int64_t ih = 0; ih < h.in; ++ih) w_pass(out + ih * w.out, src + ih * w.in, w);
      return out;
    };
    for (std::int64_t s = b; s < e; ++s) {
      const std::int64_t p = s / d.out, od = s % d.out;
      // The newer slice first, so that the one this slice shares with the last is kept.
      const T* s1 = slice(p, d.i1[od]);
      const T* s0 = slice(p, d.i0[od]);
      const T wd0 = d.w0[od], wd1 = d.w1[od];
      T* ys = y + p * out_plane + od * h.out * w.out;
      for (std::int64_t oh = 0; oh < h.out; ++oh) {
        const T wh0 = h.w0[oh], wh1 = h.w1[oh];
        const T* rows[4] = {s0 + h.i0[oh] * w.out, s0 + h.i1[oh] * w.out, s1 + h.i0[oh] * w.out,
                            s1 + h.i1[oh] * w.out};
        const T k[4] = {wd0 * wh0, wd0 * wh1, wd1 * wh0, wd1 * wh1};
        // Terms of weight zero (nearest mode, exact grid points) are skipped, in a fixed order.
        const T* r[4] = {rows[0], rows[0], rows[0], rows[0]};
        T kk[4] = {0, 0, 0, 0};
        int n = 0;
        for (int t = 0; t < 4; ++t)
          if (k[t] != T(0)) {
            r[n] = rows[t];
            kk[n] = k[t];
            ++n;
          }
        mix_rows(ys + oh * w.out, r, kk, n, w.out);
      }
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
