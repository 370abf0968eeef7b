// CPU twins of the pooling kernels: the shared per-element logic over a parallel loop, and for
// the max-pool backward a per-plane scatter that gives the same sums.
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
}  // namespace

template <class T>
void max_pool_forward(const PoolGeometry& g, const T* x, T* y, std::int32_t* argmax) {
  each(g.planes * g.out_plane(), [&](std::int64_t i) { pool_impl::max_at(g, x, i, y, argmax); });
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
