// The backward closure of batch normalisation: one call of kernels::batch_norm_backward for the
// gradients of x, weight and bias that are needed, with the statistics the forward used.
#include "layers/batchnorm_autograd.h"

#include "engine/autograd.h"
#include "kernels/batchnorm_ops.h"

namespace ddnet::F {

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean,
                  Tensor& running_var, bool training, double momentum, double eps) {
  kernels::BatchNormForward fw = kernels::batch_norm_forward(x, weight, bias, running_mean,
                                                             running_var, training, momentum, eps);
  if (!should_record({&x, &weight, &bias})) return fw.y;
  // Inputs on the tape: x, then weight and bias where defined (slots -1 when absent).
  std::vector<Tensor> inputs = {x};
  int weight_slot = -1, bias_slot = -1;
  if (weight.defined()) {
    weight_slot = static_cast<int>(inputs.size());
    inputs.push_back(weight);
  }
  if (bias.defined()) {
    bias_slot = static_cast<int>(inputs.size());
    inputs.push_back(bias);
  }
  record("batch_norm", std::move(inputs), {fw.y},
         [x, weight, mean = fw.mean, invstd = fw.invstd, training, weight_slot,
          bias_slot](GradContext& ctx) {
           const Tensor& dy = ctx.grad_output();
           if (!dy.defined()) return;
           auto needs = [&ctx](int slot) {
             return slot >= 0 && ctx.needs_input_grad(static_cast<std::size_t>(slot));
           };
           const kernels::BatchNormGrads g =
               kernels::batch_norm_backward(dy, x, weight, mean, invstd, training, needs(0),
                                            needs(weight_slot), needs(bias_slot));
           if (g.dx.defined()) ctx.accumulate(0, g.dx);
           if (g.dweight.defined())
             ctx.accumulate(static_cast<std::size_t>(weight_slot), g.dweight);
           if (g.dbias.defined()) ctx.accumulate(static_cast<std::size_t>(bias_slot), g.dbias);
         });
  return fw.y;
}

}  // namespace ddnet::F
