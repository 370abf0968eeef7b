// Optimisers over a parameter arena (graph/arena.h): Adam with PyTorch's semantics as one fused
// pass (optional gradient-norm clipping folded in), and ExponentialLR.
#pragma once

#include <cmath>

#include "graph/arena.h"

namespace ddnet::nn {

struct AdamOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  double clip_norm = 0;  // > 0: scale gradients to this global L2 norm when above it
};

class Adam {
 public:
  Adam(Arena& arena, AdamOptions o);
  // One update of every parameter; no host synchronisation. `norm_sq`, when defined, is the
  // gradients' squared norm (kernels::sum_sq of the gradient arena) the caller already has:
  // clipping uses it instead of computing it again.
  void step(const Tensor& norm_sq = Tensor());
  void zero_grad();  // zeroes the gradient arena
  double lr() const { return o_.lr; }
  void set_lr(double lr) { o_.lr = lr; }
  std::int64_t steps() const { return t_; }
  // State for checkpoints: first and second moments (arena-shaped) and the step count.
  Tensor& exp_avg() { return m_; }
  Tensor& exp_avg_sq() { return v_; }
  void set_steps(std::int64_t t) { t_ = t; }

 private:
  Arena& arena_;
  AdamOptions o_;
  Tensor m_, v_;
  std::int64_t t_ = 0;
};

// lr = initial * gamma^epoch; step() once per epoch.
class ExponentialLR {
 public:
  ExponentialLR(Adam& opt, double gamma) : opt_(opt), gamma_(gamma), initial_(opt.lr()) {}
  void step() { opt_.set_lr(initial_ * std::pow(gamma_, static_cast<double>(++epoch_))); }
  std::int64_t epoch() const { return epoch_; }
  void set_epoch(std::int64_t e) {
    epoch_ = e;
    opt_.set_lr(initial_ * std::pow(gamma_, static_cast<double>(e)));
  }

 private:
  Adam& opt_;
  double gamma_, initial_;
  std::int64_t epoch_ = 0;
};

}  // namespace ddnet::nn
