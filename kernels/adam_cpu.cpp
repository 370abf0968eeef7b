// CPU Adam step and the per-step scalars.
#include <cmath>

#include "engine/parallel.h"
#include "kernels/adam_impl.h"

namespace ddnet::kernels {

AdamStep adam_scalars(double lr, double beta1, double beta2, double eps, double weight_decay,
                      std::int64_t t, double max_norm) {
  AdamStep s{};
  s.lr = static_cast<float>(lr);
  s.beta1 = static_cast<float>(beta1);
  s.beta2 = static_cast<float>(beta2);
  s.eps = static_cast<float>(eps);
  s.weight_decay = static_cast<float>(weight_decay);
  const double bc1 = 1 - std::pow(beta1, static_cast<double>(t)),
               bc2 = 1 - std::pow(beta2, static_cast<double>(t));
  s.step_size = static_cast<float>(lr / bc1);
  s.bias2_sqrt = static_cast<float>(std::sqrt(bc2));
  s.max_norm = static_cast<float>(max_norm);
  return s;
}

namespace cpu {
void adam_step(float* p, const float* g, float* m, float* v, std::int64_t n, const AdamStep& s,
               const float* grad_sq_sum) {
  const float clip = adam_impl::clip_coef(s, grad_sq_sum);
  parallel_for(n, 1 << 15, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) adam_impl::step(p[i], g[i], m[i], v[i], s, clip);
  });
}
}  // namespace cpu

}  // namespace ddnet::kernels
