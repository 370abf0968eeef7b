// Adam over the arena.
#include "graph/optim.h"

#include "kernels/adam_ops.h"
#include "kernels/reduce_ops.h"

namespace ddnet::nn {

Adam::Adam(Arena& arena, AdamOptions o)
    : arena_(arena),
      o_(o),
      m_(Tensor::zeros(arena.params.shape(), arena.params.device())),
      v_(Tensor::zeros(arena.params.shape(), arena.params.device())) {
  DDNET_CHECK(o.lr > 0 && o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1 && o.eps >= 0,
              "Adam: lr ", o.lr, ", betas (", o.beta1, ", ", o.beta2, "), eps ", o.eps,
              " out of range");
}

void Adam::step(const Tensor& given_norm_sq) {
  ++t_;
  const auto s =
      kernels::adam_scalars(o_.lr, o_.beta1, o_.beta2, o_.eps, o_.weight_decay, t_, o_.clip_norm);
  Tensor norm_sq;  // stays on the device
  if (o_.clip_norm > 0)
    norm_sq = given_norm_sq.defined() ? given_norm_sq : kernels::sum_sq(arena_.grads);
  kernels::adam_step(arena_.params, arena_.grads, m_, v_, s, norm_sq);
}

void Adam::zero_grad() {
  arena_.grads.zero_();
}

}  // namespace ddnet::nn
