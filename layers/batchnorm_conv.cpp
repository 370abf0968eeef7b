// The lean BN -> conv composite: one entry whose closure recomputes the normalised input.
#include "layers/batchnorm_conv.h"

#include "engine/autograd.h"
#include "kernels/batchnorm_ops.h"
#include "kernels/copy_ops.h"
#include "kernels/elementwise_ops.h"
#include "layers/conv_autograd.h"

namespace ddnet::F {

namespace {
Tensor or_empty(const Tensor& t) {
  return t.defined() ? t : Tensor::empty({0});
}
}  // namespace

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

Tensor bottleneck_conv(const Tensor& x, const BatchNormArgs& bn1, const ConvArgs& conv1,
                       double slope, const BatchNormArgs& bn2, const ConvArgs& conv2) {
  DDNET_CHECK(slope >= 0, "bottleneck_conv: the LeakyReLU's slope must be >= 0 (backward reads ",
              "its output), got ", slope);
  // Forward: each full-size tensor freed once the next one is made.
  kernels::BatchNormForward f1 =
      kernels::batch_norm_forward(x, bn1.weight, bn1.bias, bn1.running_mean, bn1.running_var,
                                  bn1.training, bn1.momentum, bn1.eps);
  Tensor act = kernels::conv(f1.y, conv1.weight, conv1.bias, conv1.options);
  const kernels::ConvGeometry g1 =
      kernels::conv_geometry("conv", f1.y, conv1.weight, conv1.options);
  f1.y = Tensor();
  act = kernels::leaky_relu(act, slope);
  kernels::BatchNormForward f2 =
      kernels::batch_norm_forward(act, bn2.weight, bn2.bias, bn2.running_mean, bn2.running_var,
                                  bn2.training, bn2.momentum, bn2.eps);
  act = Tensor();
  const Tensor y = kernels::conv(f2.y, conv2.weight, conv2.bias, conv2.options);
  if (!should_record({&x, &bn1.weight, &bn1.bias, &conv1.weight, &conv1.bias, &bn2.weight,
                      &bn2.bias, &conv2.weight, &conv2.bias}))
    return y;
  const kernels::ConvGeometry g2 =
      kernels::conv_geometry("conv", f2.y, conv2.weight, conv2.options);
  f2.y = Tensor();
  struct Saved {
    Tensor x, w1, b1, bn1w, bn1b, mean1, invstd1;
    kernels::ConvOptions o1;
    Tensor w2, b2, bn2w, bn2b, mean2, invstd2;
  };
  auto s = std::make_shared<const Saved>(
      Saved{x, conv1.weight, conv1.bias, bn1.weight, bn1.bias, f1.mean, f1.invstd, conv1.options,
            conv2.weight, conv2.bias, bn2.weight, bn2.bias, f2.mean, f2.invstd});
  // Inputs on the tape: x; bn1's weight and bias, conv1's weight and bias; bn2's, conv2's (an
  // empty tensor stands in for an undefined one).
  record("bottleneck_conv",
         {x, or_empty(bn1.weight), or_empty(bn1.bias), conv1.weight, or_empty(conv1.bias),
          or_empty(bn2.weight), or_empty(bn2.bias), conv2.weight, or_empty(conv2.bias)},
         {y},
         [s, g1, g2, slope, training1 = bn1.training, training2 = bn2.training](GradContext& ctx) {
           Tensor dy = ctx.take_grad_output();
           if (!dy.defined()) return;
           dy = kernels::contiguous(dy);
           auto need = [&ctx](std::size_t i, const Tensor& t) {
             return t.defined() && ctx.needs_input_grad(i);
           };
           // The bottleneck's activation, as the forward made it.
           Tensor a;
           {
             Tensor z = kernels::conv(
                 kernels::batch_norm_apply(s->x, s->mean1, s->invstd1, s->bn1w, s->bn1b), s->w1,
                 s->b1, s->o1);
             a = kernels::leaky_relu(z, slope);
           }
           // conv2's weight gradient from the recomputed normalised activation, freed before
           // its input gradient is made (as batch_norm_conv does).
           if (need(7, s->w2) || need(8, s->b2)) {
             const Tensor t = kernels::batch_norm_apply(a, s->mean2, s->invstd2, s->bn2w, s->bn2b);
             const ConvGrads c =
                 conv_grads(g2, false, t, s->w2, dy, false, need(7, s->w2), need(8, s->b2));
             ctx.accumulate(7, c.dw);
             ctx.accumulate(8, c.db);
           }
           const bool need_bw1 = need(1, s->bn1w), need_bb1 = need(2, s->bn1b);
           const bool need_first =
               ctx.needs_input_grad(0) || need_bw1 || need_bb1 || need(3, s->w1) || need(4, s->b1);
           const bool need_bw2 = need(5, s->bn2w), need_bb2 = need(6, s->bn2b);
           if (!(need_first || need_bw2 || need_bb2)) return;
           Tensor da = conv_grads(g2, false, a, s->w2, dy, true, false, false).dx;
           dy = Tensor();
           {
             kernels::BatchNormGrads b = kernels::batch_norm_backward(
                 da, a, s->bn2w, s->mean2, s->invstd2, training2, need_first, need_bw2, need_bb2,
                 /*overwrite_dy=*/true);
             ctx.accumulate(5, b.dweight);
             ctx.accumulate(6, b.dbias);
             da = std::move(b.dx);  // the same storage as before, now the activation's gradient
           }
           if (!need_first) return;
           kernels::leaky_relu_backward_inplace(a, da, slope);  // now conv1's output gradient
           a = Tensor();
           if (need(3, s->w1) || need(4, s->b1)) {
             const Tensor t =
                 kernels::batch_norm_apply(s->x, s->mean1, s->invstd1, s->bn1w, s->bn1b);
             const ConvGrads c =
                 conv_grads(g1, false, t, s->w1, da, false, need(3, s->w1), need(4, s->b1));
             ctx.accumulate(3, c.dw);
             ctx.accumulate(4, c.db);
           }
           if (!(ctx.needs_input_grad(0) || need_bw1 || need_bb1)) return;
           Tensor dxhat = conv_grads(g1, false, s->x, s->w1, da, true, false, false).dx;
           da = Tensor();
           const kernels::BatchNormGrads b = kernels::batch_norm_backward(
               dxhat, s->x, s->bn1w, s->mean1, s->invstd1, training1, ctx.needs_input_grad(0),
               need_bw1, need_bb1, /*overwrite_dy=*/true);
           ctx.accumulate(0, b.dx);
           ctx.accumulate(1, b.dweight);
           ctx.accumulate(2, b.dbias);
         });
  return y;
}

}  // namespace ddnet::F
