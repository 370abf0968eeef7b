// CUDA strided copy: one thread per element, the multi-index decoded from the linear index of
// the destination's logical order, so consecutive threads touch consecutive innermost elements.
#include "kernels/copy.h"
#include "kernels/launch.cuh"

namespace ddnet::kernels::cuda {

namespace {
template <class T>
__global__ void strided_copy_kernel(const T* __restrict__ src, T* __restrict__ dst, StridedCopy L,
                                    std::int64_t n) {
  DDNET_GRID_STRIDE(i, n) {
    std::int64_t rem = i, so = 0, dof = 0;
    for (int d = L.ndim - 1; d >= 0; --d) {
      const std::int64_t idx = rem % L.size[d];
      rem /= L.size[d];
      so += idx * L.src_stride[d];
      dof += idx * L.dst_stride[d];
    }
    dst[dof] = src[so];
  }
}
}  // namespace

template <class T>
void strided_copy(const T* src, T* dst, const StridedCopy& layout, void* stream) {
  const std::int64_t n = layout.numel();
  if (n == 0) return;
  DDNET_LAUNCH(cuda_detail::grid_for(n), cuda_detail::kThreads, 0, cuda_detail::as_stream(stream),
               strided_copy_kernel<T>)
  (src, dst, layout, n);
  CUDA_CHECK_LAUNCH("strided_copy_kernel");
}

template void strided_copy<float>(const float*, float*, const StridedCopy&, void*);
template void strided_copy<double>(const double*, double*, const StridedCopy&, void*);

}  // namespace ddnet::kernels::cuda
