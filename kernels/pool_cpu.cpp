// CPU twins of the pooling kernels: the shared per-element logic over a parallel loop; for the
// max-pool forward the same rules a row of outputs at a time, and for its backward a per-plane
// scatter that gives the same sums.
#include <algorithm>

#include "engine/parallel.h"
#include "kernels/pool_impl.h"

namespace ddnet::kernels::cpu {

namespace {
template <class F>
void each(std::int64_t n, F&& f) {
  parallel_for(n, 1 << 14, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) f(i);
  });
}

// pool_impl::max_at for the four outputs ow .. ow + 3 of a row whose windows lie inside the input
// along W and cover depths [d0, d1) and heights [h0, h1): four independent compare chains (one
// chain alone is bound by its compares' latency), each in max_at's scan order.
template <class T>
void max_four(const PoolGeometry& g, const T* xp, std::int64_t d0, std::int64_t d1, std::int64_t h0,
              std::int64_t h1, std::int64_t ow, T* y, std::int32_t* argmax) {
  const std::int64_t wa = ow * g.stride[2] - g.pad[2];
  T best[4];
  std::int64_t best_index[4];
  for (int j = 0; j < 4; ++j) {
    best[j] = -INFINITY;
    best_index[j] = (d0 * g.in[1] + h0) * g.in[2] + wa + j * g.stride[2];
  }
  for (std::int64_t d = d0; d < d1; ++d)
    for (std::int64_t h = h0; h < h1; ++h) {
      const std::int64_t row = (d * g.in[1] + h) * g.in[2] + wa;
      for (std::int64_t w = 0; w < g.k[2]; ++w)
        for (int j = 0; j < 4; ++j) {
          const std::int64_t idx = row + j * g.stride[2] + w;
          const T v = xp[idx];
          const bool take = pool_impl::max_takes(v, best[j]);
          best[j] = take ? v : best[j];
          best_index[j] = take ? idx : best_index[j];
        }
    }
  for (int j = 0; j < 4; ++j) {
    y[j] = best[j];
    argmax[j] = static_cast<std::int32_t>(best_index[j]);
  }
}
}  // namespace

template <class T>
void max_pool_forward(const PoolGeometry& g, const T* x, T* y, std::int32_t* argmax) {
  // A row of outputs along W per iteration, so the windows' D and H ranges are worked out once per
  // row; interior outputs go four at a time, those at the row's ends (windows cut by the padding)
  // and the last few one by one through max_at.
  const std::int64_t rows = g.planes * g.out[0] * g.out[1];
  const std::int64_t sw = g.stride[2], pw = g.pad[2], kw = g.k[2];
  const std::int64_t grain = std::max<std::int64_t>(1, 4096 / g.out[2]);
  parallel_for(rows, grain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) {
      const std::int64_t p = r / (g.out[0] * g.out[1]), od = (r / g.out[1]) % g.out[0],
                         oh = r % g.out[1];
      const std::int64_t da = od * g.stride[0] - g.pad[0], ha = oh * g.stride[1] - g.pad[1];
      const std::int64_t d0 = std::max<std::int64_t>(da, 0), d1 = std::min(da + g.k[0], g.in[0]);
      const std::int64_t h0 = std::max<std::int64_t>(ha, 0), h1 = std::min(ha + g.k[1], g.in[1]);
      const T* xp = x + p * g.in_plane();
      const std::int64_t o0 = p * g.out_plane() + (od * g.out[1] + oh) * g.out[2];
      for (std::int64_t ow = 0; ow < g.out[2];) {
        if (ow * sw - pw >= 0 && ow + 3 < g.out[2] && (ow + 3) * sw - pw + kw <= g.in[2]) {
          max_four(g, xp, d0, d1, h0, h1, ow, y + o0 + ow, argmax + o0 + ow);
          ow += 4;
        } else {
          pool_impl::max_at(g, x, o0 + ow, y, argmax);
          ++ow;
        }
      }
    }
  });
}
template <class T>
void max_pool_backward(const PoolGeometry& g, const T* dy, const std::int32_t* argmax, T* dx) {
  if (g.planes < 2 * cpu_threads()) {
    // Too few planes to share out: the per-element gather, parallel within a plane.
    each(g.planes * g.in_plane(),
         [&](std::int64_t i) { pool_impl::max_grad_at(g, dy, argmax, i, dx); });
    return;
  }
  // A plane per task: zero it, then add each output's gradient at its argmax, outputs in
  // ascending order. Every input gets the same sums in the same order as the gather
  // (max_grad_at also visits its outputs in ascending order, starting from 0), so the two agree
  // bit for bit, with one read of dy and argmax instead of one per window that covers an input.
  const std::int64_t in_plane = g.in_plane(), out_plane = g.out_plane();
  parallel_for(g.planes, 1, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t p = b; p < e; ++p) {
      T* dxp = dx + p * in_plane;
      const T* dyp = dy + p * out_plane;
      const std::int32_t* ap = argmax + p * out_plane;
      std::fill(dxp, dxp + in_plane, T(0));
      for (std::int64_t o = 0; o < out_plane; ++o) {
        // An index outside the plane (not one the forward wrote) is ignored, as the gather does.
        if (static_cast<std::uint64_t>(ap[o]) < static_cast<std::uint64_t>(in_plane))
          dxp[ap[o]] += dyp[o];
      }
    }
  });
}
template <class T>
void avg_pool_forward(const PoolGeometry& g, const T* x, T* y) {
  each(g.planes * g.out_plane(), [&](std::int64_t i) { pool_impl::avg_at(g, x, i, y); });
}
template <class T>
void avg_pool_backward(const PoolGeometry& g, const T* dy, T* dx) {
  each(g.planes * g.in_plane(), [&](std::int64_t i) { pool_impl::avg_grad_at(g, dy, i, dx); });
}

#define DDNET_INSTANTIATE(T)                                                                  \
  template void max_pool_forward<T>(const PoolGeometry&, const T*, T*, std::int32_t*);        \
  template void max_pool_backward<T>(const PoolGeometry&, const T*, const std::int32_t*, T*); \
  template void avg_pool_forward<T>(const PoolGeometry&, const T*, T*);                       \
  template void avg_pool_backward<T>(const PoolGeometry&, const T*, T*);
DDNET_INSTANTIATE(float)
DDNET_INSTANTIATE(double)
#undef DDNET_INSTANTIATE

}  // namespace ddnet::kernels::cpu
