// Internal: one element of the Adam step, shared by the CPU twin and the CUDA kernel so both
// perform the same float operations in the same order.
#pragma once

#include <math.h>

#include "kernels/adam.h"

#if defined(__CUDACC__)
#define DDNET_ADAM_HD __host__ __device__ __forceinline__
#else
#define DDNET_ADAM_HD inline
#endif

namespace ddnet::kernels::adam_impl {

DDNET_ADAM_HD float clip_coef(const AdamStep& s, const float* grad_sq_sum) {
  if (!grad_sq_sum) return 1.f;
  const float c = s.max_norm / (sqrtf(*grad_sq_sum) + 1e-6f);
  return c < 1.f ? c : 1.f;
}

DDNET_ADAM_HD void step(float& p, float g, float& m, float& v, const AdamStep& s, float clip) {
  g = g * clip;
  if (s.weight_decay != 0.f) g = g + s.weight_decay * p;
  m = s.beta1 * m + (1.f - s.beta1) * g;
  v = s.beta2 * v + (1.f - s.beta2) * g * g;
  const float denom = sqrtf(v) / s.bias2_sqrt + s.eps;
  p = p - s.step_size * (m / denom);
}

}  // namespace ddnet::kernels::adam_impl
