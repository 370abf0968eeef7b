// CUDA pooling: one thread per output (forward) or input (backward) element, running the same
// per-element logic as the CPU twin (kernels/pool_impl.h).
#include "kernels/launch.cuh"
#include "kernels/pool_impl.h"

namespace ddnet::kernels::cuda {

namespace {
template <class T>
__global__ void max_fwd(PoolGeometry g, const T* x, T* y, std::int32_t* argmax, std::int64_t n) {
  DDNET_GRID_STRIDE(i, n) pool_impl::max_at(g, x, i, y, argmax);
}
template <class T>
__global__ void max_bwd(PoolGeometry g, const T* dy, const std::int32_t* argmax, T* dx,
                        std::int64_t n) {
  DDNET_GRID_STRIDE(i, n) pool_impl::max_grad_at(g, dy, argmax, i, dx);
}
template <class T>
__global__ void avg_fwd(PoolGeometry g, const T* x, T* y, std::int64_t n) {
  DDNET_GRID_STRIDE(i, n) pool_impl::avg_at(g, x, i, y);
}
template <class T>
__global__ void avg_bwd(PoolGeometry g, const T* dy, T* dx, std::int64_t n) {
  DDNET_GRID_STRIDE(i, n) pool_impl::avg_grad_at(g, dy, i, dx);
}
#define DDNET_POOL_LAUNCH(kernel, n, ...)                            \
  do {                                                               \
    if ((n) == 0) return;                                            \
    DDNET_LAUNCH(cuda_detail::grid_for(n), cuda_detail::kThreads, 0, \
                 cuda_detail::as_stream(stream), kernel<T>)          \
    (__VA_ARGS__, n);                                                \
    CUDA_CHECK_LAUNCH(#kernel);                                      \
  } while (0)
}  // namespace

template <class T>
void max_pool_forward(const PoolGeometry& g, const T* x, T* y, std::int32_t* argmax, void* stream) {
  DDNET_POOL_LAUNCH(max_fwd, g.planes * g.out_plane(), g, x, y, argmax);
}
template <class T>
void max_pool_backward(const PoolGeometry& g, const T* dy, const std::int32_t* argmax, T* dx,
                       void* stream) {
  DDNET_POOL_LAUNCH(max_bwd, g.planes * g.in_plane(), g, dy, argmax, dx);
}
template <class T>
void avg_pool_forward(const PoolGeometry& g, const T* x, T* y, void* stream) {
  DDNET_POOL_LAUNCH(avg_fwd, g.planes * g.out_plane(), g, x, y);
}
template <class T>
void avg_pool_backward(const PoolGeometry& g, const T* dy, T* dx, void* stream) {
  DDNET_POOL_LAUNCH(avg_bwd, g.planes * g.in_plane(), g, dy, dx);
}

#define DDNET_INSTANTIATE(T)                                                                  \
  template void max_pool_forward<T>(const PoolGeometry&, const T*, T*, std::int32_t*, void*); \
  template void max_pool_backward<T>(const PoolGeometry&, const T*, const std::int32_t*, T*,  \
                                     void*);                                                  \
  template void avg_pool_forward<T>(const PoolGeometry&, const T*, T*, void*);                \
  template void avg_pool_backward<T>(const PoolGeometry&, const T*, T*, void*);
DDNET_INSTANTIATE(float)
DDNET_INSTANTIATE(double)
#undef DDNET_INSTANTIATE

}  // namespace ddnet::kernels::cuda
