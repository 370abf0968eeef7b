// Adam over a whole parameter arena in one pass, PyTorch's update (torch.optim.Adam, no amsgrad):
//   g <- g * clip (+ weight_decay * p);  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
//   p <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// clip = min(1, max_norm / (sqrt(sum g^2) + 1e-6)) when grad_sq_sum is given (PyTorch's
// clip_grad_norm_), read from memory on the kernel's device, so clipping needs no host sync.
#pragma once

#include <cstdint>

namespace ddnet::kernels {

struct AdamStep {
  float lr, beta1, beta2, eps, weight_decay;
  float step_size;   // lr / (1 - beta1^t)
  float bias2_sqrt;  // sqrt(1 - beta2^t)
  float max_norm;    // used with grad_sq_sum
};

AdamStep adam_scalars(double lr, double beta1, double beta2, double eps, double weight_decay,
                      std::int64_t t, double max_norm);

namespace cpu {
void adam_step(float* p, const float* g, float* m, float* v, std::int64_t n, const AdamStep& s,
               const float* grad_sq_sum);
}
namespace cuda {
void adam_step(float* p, const float* g, float* m, float* v, std::int64_t n, const AdamStep& s,
               const float* grad_sq_sum, void* stream);
}

}  // namespace ddnet::kernels
