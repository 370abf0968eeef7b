// Backward closures of the convolutions: each gradient is one of the three primitives.
//   conv:            dx = backward_data(dy, w)     dw, db = backward_filter(x, dy)
//   conv_transpose:  dx = forward(dy, w)           dw = backward_filter(dy, x), db = sum(dy)
#include "layers/conv_autograd.h"

#include "engine/autograd.h"
#include "kernels/copy_ops.h"

namespace ddnet::F {

using kernels::ConvGeometry;

namespace {
void record_conv(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& bias,
                 const Tensor& y) {
  record("conv", {x, w, bias.defined() ? bias : Tensor::empty({0})}, {y},
         [g, x, w, has_bias = bias.defined()](GradContext& ctx) {
           const Tensor& dy = kernels::contiguous(ctx.grad_output());
           if (ctx.needs_input_grad(0)) {
             Tensor dx = Tensor::empty(x.shape(), x.device(), x.dtype());
             kernels::conv_backward_data_t(g, dy, w, dx, false);
             ctx.accumulate(0, dx);
           }
           const bool need_b = has_bias && ctx.needs_input_grad(2);
           if (ctx.needs_input_grad(1) || need_b) {
             Tensor dw = Tensor::empty(w.shape(), w.device(), w.dtype());
             Tensor db = need_b ? Tensor::empty({g.cout}, w.device(), w.dtype()) : Tensor();
             kernels::conv_backward_filter_t(g, x, dy, dw, need_b ? &db : nullptr, false);
             if (ctx.needs_input_grad(1)) ctx.accumulate(1, dw);
             if (need_b) ctx.accumulate(2, db);
           }
         });
}
}  // namespace

Tensor conv(const Tensor& x, const Tensor& w, const Tensor& bias, kernels::ConvOptions o) {
  Tensor y = kernels::conv(x, w, bias, o);
  if (should_record({&x, &w, &bias}))
    record_conv(kernels::conv_geometry("conv", x, w, o), x, w, bias, y);
  return y;
}

Tensor conv_into(const Tensor& x, const Tensor& w, const Tensor& bias, kernels::ConvOptions o,
                 const Tensor& dst) {
  Tensor y =
      dst.as_strided(dst.shape(), dst.strides(), dst.storage_offset());  // fresh autograd state
  kernels::conv_into(x, w, bias, o, y);
  if (should_record({&x, &w, &bias}))
    record_conv(kernels::conv_geometry("conv", x, w, o), x, w, bias, y);
  return y;
}

Tensor conv_transpose(const Tensor& x, const Tensor& w, const Tensor& bias,
                      kernels::ConvOptions o) {
  Tensor y = kernels::conv_transpose(x, w, bias, o);
  if (should_record({&x, &w, &bias})) {
    const ConvGeometry g = kernels::conv_transpose_geometry("conv_transpose", x, w, o);
    record("conv_transpose", {x, w, bias.defined() ? bias : Tensor::empty({0})}, {y},
           [g, x, w, has_bias = bias.defined()](GradContext& ctx) {
             const Tensor& dy = kernels::contiguous(ctx.grad_output());  // shaped like conv's input
             if (ctx.needs_input_grad(0)) {
               Tensor dx = Tensor::empty(x.shape(), x.device(), x.dtype());
               kernels::conv_forward_t(g, dy, w, Tensor(), dx);
               ctx.accumulate(0, dx);
             }
             if (ctx.needs_input_grad(1)) {
               Tensor dw = Tensor::empty(w.shape(), w.device(), w.dtype());
               kernels::conv_backward_filter_t(g, dy, x, dw, nullptr, false);
               ctx.accumulate(1, dw);
             }
             if (has_bias && ctx.needs_input_grad(2)) {
               ConvGeometry gb = g;  // channel sums over y's channels (g.cin) and plane (g.in)
               gb.cout = g.cin;
               for (int a = 0; a < 3; ++a) gb.out[a] = g.in[a];
               Tensor db = Tensor::empty({g.cin}, w.device(), w.dtype());
               kernels::channel_sum_t(gb, dy, db, false);
               ctx.accumulate(2, db);
             }
           });
  }
  return y;
}

}  // namespace ddnet::F
