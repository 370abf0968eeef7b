// Backward closures of the convolutions: each gradient is one of the three primitives.
//   conv:            dx = backward_data(dy, w)     dw, db = backward_filter(x, dy)
//   conv_transpose:  dx = forward(dy, w)           dw = backward_filter(dy, x), db = sum(dy)
#include "layers/conv_autograd.h"

#include "engine/autograd.h"
#include "kernels/copy_ops.h"

namespace ddnet::F {

using kernels::ConvGeometry;

ConvGrads conv_grads(const ConvGeometry& g, bool transpose, const Tensor& x, const Tensor& w,
                     const Tensor& dy_in, bool need_dx, bool need_dw, bool need_db) {
  ConvGrads r;
  const Tensor dy = kernels::contiguous(dy_in);
  if (!transpose) {
    if (need_dx) {
      r.dx = Tensor::empty(x.shape(), x.device(), x.dtype());
      kernels::conv_backward_data_t(g, dy, w, r.dx, false);
    }
    if (need_dw || need_db) {
      Tensor dw = Tensor::empty(w.shape(), w.device(), w.dtype());
      if (need_db) r.db = Tensor::empty({g.cout}, w.device(), w.dtype());
      kernels::conv_backward_filter_t(g, x, dy, dw, need_db ? &r.db : nullptr, false);
      if (need_dw) r.dw = dw;
    }
    return r;
  }
  // Transposed: g is the geometry of the convolution whose backward-data this is, so dy is
  // shaped like that convolution's input.
  if (need_dx) {
    r.dx = Tensor::empty(x.shape(), x.device(), x.dtype());
    kernels::conv_forward_t(g, dy, w, Tensor(), r.dx);
  }
  if (need_dw) {
    r.dw = Tensor::empty(w.shape(), w.device(), w.dtype());
    kernels::conv_backward_filter_t(g, dy, x, r.dw, nullptr, false);
  }
  if (need_db) {
    ConvGeometry gb = g;  // channel sums over y's channels (g.cin) and plane (g.in)
    gb.cout = g.cin;
    for (int a = 0; a < 3; ++a) gb.out[a] = g.in[a];
    r.db = Tensor::empty({g.cin}, w.device(), w.dtype());
    kernels::channel_sum_t(gb, dy, r.db, false);
  }
  return r;
}

namespace {
// One tape entry for a convolution (transposed or not): inputs x, w, bias (an empty tensor
// stands in for an undefined bias).
void record_conv(const char* op, const ConvGeometry& g, bool transpose, const Tensor& x,
                 const Tensor& w, const Tensor& bias, const Tensor& y) {
  record(op, {x, w, bias.defined() ? bias : Tensor::empty({0})}, {y},
         [g, transpose, x, w, has_bias = bias.defined()](GradContext& ctx) {
           const ConvGrads r =
               conv_grads(g, transpose, x, w, ctx.grad_output(), ctx.needs_input_grad(0),
                          ctx.needs_input_grad(1), has_bias && ctx.needs_input_grad(2));
           ctx.accumulate(0, r.dx);
           ctx.accumulate(1, r.dw);
           ctx.accumulate(2, r.db);
         });
}
}  // namespace

Tensor conv(const Tensor& x, const Tensor& w, const Tensor& bias, kernels::ConvOptions o) {
  Tensor y = kernels::conv(x, w, bias, o);
  if (should_record({&x, &w, &bias}))
    record_conv("conv", kernels::conv_geometry("conv", x, w, o), false, x, w, bias, y);
  return y;
}

Tensor conv_into(const Tensor& x, const Tensor& w, const Tensor& bias, kernels::ConvOptions o,
                 const Tensor& dst) {
  Tensor y =
      dst.as_strided(dst.shape(), dst.strides(), dst.storage_offset());  // fresh autograd state
  kernels::conv_into(x, w, bias, o, y);
  if (should_record({&x, &w, &bias}))
    record_conv("conv", kernels::conv_geometry("conv", x, w, o), false, x, w, bias, y);
  return y;
}

Tensor conv_transpose(const Tensor& x, const Tensor& w, const Tensor& bias,
                      kernels::ConvOptions o) {
  Tensor y = kernels::conv_transpose(x, w, bias, o);
  if (should_record({&x, &w, &bias}))
    record_conv("conv_transpose", kernels::conv_transpose_geometry("conv_transpose", x, w, o), true,
                x, w, bias, y);
  return y;
}

}  // namespace ddnet::F
