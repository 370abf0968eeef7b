// The lean BN -> conv composite: one entry whose closure recomputes the normalised input.
#include "layers/batchnorm_conv.h"

#include "engine/autograd.h"
#include "kernels/batchnorm_ops.h"
#include "kernels/copy_ops.h"
#include "layers/conv_autograd.h"

namespace ddnet::F {

Tensor batch_norm_conv(const Tensor& x, const BatchNormArgs& bn, const Tensor& w,
                       const Tensor& bias, kernels::ConvOptions o, bool transpose) {
  kernels::BatchNormForward fw = kernels::batch_norm_forward(
      x, bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.training, bn.momentum, bn.eps);
  Tensor y =
      transpose ? kernels::conv_transpose(fw.y, w, bias, o) : kernels::conv(fw.y, w, bias, o);
  if (!should_record({&x, &bn.weight, &bn.bias, &w, &bias})) return y;
  const kernels::ConvGeometry g =
      transpose ? kernels::conv_transpose_geometry("conv_transpose", fw.y, w, o)
                : kernels::conv_geometry("conv", fw.y, w, o);
  fw.y = Tensor();  // freed here: backward recomputes it
  // Inputs on the tape: x, w, bias, then the normalisation's weight and bias (an empty tensor
  // stands in for an undefined one).
  auto or_empty = [](const Tensor& t) { return t.defined() ? t : Tensor::empty({0}); };
  record("batch_norm_conv", {x, w, or_empty(bias), or_empty(bn.weight), or_empty(bn.bias)}, {y},
         [g, transpose, x, w, has_bias = bias.defined(), bn_weight = bn.weight, bn_bias = bn.bias,
          mean = fw.mean, invstd = fw.invstd, training = bn.training](GradContext& ctx) {
           Tensor dy = ctx.take_grad_output();
           if (!dy.defined()) return;
           dy = kernels::contiguous(dy);  // once, for both of the convolution's gradients
           const bool need_x = ctx.needs_input_grad(0);
           const bool need_bw = bn_weight.defined() && ctx.needs_input_grad(3);
           const bool need_bb = bn_bias.defined() && ctx.needs_input_grad(4);
           // One full-size tensor besides dy at a time: the recomputed input for the weight
           // gradient, freed before the input's gradient is made; dy freed before the
           // normalisation's backward, which writes its gradient over the convolution's.
           ConvGrads c;
           if (ctx.needs_input_grad(1) || (has_bias && ctx.needs_input_grad(2))) {
             const Tensor t = kernels::batch_norm_apply(x, mean, invstd, bn_weight, bn_bias);
             c = conv_grads(g, transpose, t, w, dy, false, ctx.needs_input_grad(1),
                            has_bias && ctx.needs_input_grad(2));
           }
           ctx.accumulate(1, c.dw);
           ctx.accumulate(2, c.db);
           if (!(need_x || need_bw || need_bb)) return;
           // x stands in for the normalised input: only its shape is read for dx.
           Tensor dxhat = conv_grads(g, transpose, x, w, dy, true, false, false).dx;
           dy = Tensor();
           const kernels::BatchNormGrads b =
               kernels::batch_norm_backward(dxhat, x, bn_weight, mean, invstd, training, need_x,
                                            need_bw, need_bb, /*overwrite_dy=*/true);
           ctx.accumulate(0, b.dx);
           ctx.accumulate(3, b.dweight);
           ctx.accumulate(4, b.dbias);
         });
  return y;
}

}  // namespace ddnet::F
