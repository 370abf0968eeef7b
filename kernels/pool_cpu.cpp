// CPU twins of the pooling kernels: the shared per-element logic over a parallel loop.
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
  each(g.planes * g.in_plane(),
       [&](std::int64_t i) { pool_impl::max_grad_at(g, dy, argmax, i, dx); });
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
