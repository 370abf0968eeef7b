// CUDA Adam step over the arena: one thread per element (grid-stride), compiled without FMA
// contraction for the update so that it follows the CPU twin's float operations.
#include "kernels/adam_impl.h"
#include "kernels/launch.cuh"

namespace ddnet::kernels::cuda {

namespace {
__global__ void adam_kernel(float* p, const float* g, float* m, float* v, std::int64_t n,
                            AdamStep s, const float* grad_sq_sum) {
  const float clip = adam_impl::clip_coef(s, grad_sq_sum);
  DDNET_GRID_STRIDE(i, n) adam_impl::step(p[i], g[i], m[i], v[i], s, clip);
}
}  // namespace

void adam_step(float* p, const float* g, float* m, float* v, std::int64_t n, const AdamStep& s,
               const float* grad_sq_sum, void* stream) {
  if (n == 0) return;
  DDNET_LAUNCH(cuda_detail::grid_for(n), cuda_detail::kThreads, 0, cuda_detail::as_stream(stream),
               adam_kernel)
  (p, g, m, v, n, s, grad_sq_sum);
  CUDA_CHECK_LAUNCH("adam_kernel");
}

}  // namespace ddnet::kernels::cuda
