// Checks and dispatch of the tensor-level convolutions.
#include "kernels/conv_ops.h"

#include "kernels/dispatch.h"

namespace ddnet::kernels {

namespace {

// Elements between samples; the rest of each sample must be contiguous.
std::int64_t sample_stride(const char* op, const char* name, const Tensor& t) {
  std::int64_t expected = 1;
  for (int d = t.dim() - 1; d >= 1; --d) {
    DDNET_CHECK(t.size(d) == 1 || t.stride(d) == expected, op, ": ", name, " ", t.str(),
                " must have each sample contiguous (a channel slice is fine)");
    expected *= t.size(d);
  }
  return t.size(0) == 1 ? expected : t.stride(0);
}

void check_common(const char* op, const Tensor& x, const Tensor& w, ConvOptions o) {
  DDNET_CHECK(x.defined() && w.defined(), op, ": input or weight is undefined");
  DDNET_CHECK(x.dim() == 4 || x.dim() == 5, op, ": input ", x.str(),
              " must be (N, C, H, W) or (N, C, D, H, W)");
  DDNET_CHECK(w.dim() == x.dim(), op, ": weight ", w.shape().str(), " has ", w.dim(),
              " dimensions, input ", x.shape().str(), " has ", x.dim());
  DDNET_CHECK(w.is_contiguous(), op, ": weight must be contiguous");
  DDNET_CHECK(x.device() == w.device() && x.dtype() == w.dtype(), op, ": input ", x.str(),
              " and weight ", w.str(), " differ in device or element type");
  DDNET_CHECK(o.stride >= 1 && o.padding >= 0, op, ": stride ", o.stride, " and padding ",
              o.padding, " must be >= 1 and >= 0");
}

ConvGeometry base(const Tensor& x, const Tensor& w, ConvOptions o) {
  ConvGeometry g;
  g.n = x.size(0);
  const int dims = x.dim() - 2;
  for (int a = 0; a < dims; ++a) {
    const int axis = 3 - dims + a;
    g.k[axis] = w.size(2 + a);
    g.stride[axis] = o.stride;
    g.pad[axis] = o.padding;
  }
  return g;
}

const char* name_of(const char* base2d, const char* base3d, const Tensor& x) {
  return x.dim() == 5 ? base3d : base2d;
}

void check_bias(const char* op, const Tensor& bias, std::int64_t channels, const Tensor& x) {
  if (!bias.defined()) return;
  DDNET_CHECK(bias.dim() == 1 && bias.size(0) == channels, op, ": bias ", bias.shape().str(),
              " should have ", channels, " elements, one per output channel");
  DDNET_CHECK(bias.device() == x.device() && bias.dtype() == x.dtype() && bias.is_contiguous(), op,
              ": bias ", bias.str(), " does not match input ", x.str());
}

}  // namespace

ConvGeometry conv_geometry(const char* op, const Tensor& x, const Tensor& w, ConvOptions o) {
  check_common(op, x, w, o);
  DDNET_CHECK(x.size(1) == w.size(1), op, ": input has ", x.size(1), " channels, weight expects ",
              w.size(1));
  ConvGeometry g = base(x, w, o);
  g.cin = x.size(1);
  g.cout = w.size(0);
  const int dims = x.dim() - 2;
  for (int a = 0; a < dims; ++a) g.in[3 - dims + a] = x.size(2 + a);
  conv_output_size(g);
  return g;
}

ConvGeometry conv_transpose_geometry(const char* op, const Tensor& x, const Tensor& w,
                                     ConvOptions o) {
  check_common(op, x, w, o);
  DDNET_CHECK(x.size(1) == w.size(0), op, ": input has ", x.size(1), " channels, weight expects ",
              w.size(0), " (ConvTranspose weights are (in, out, k...))");
  // As the convolution whose backward-data it is: that convolution maps our output to x.
  ConvGeometry g = base(x, w, o);
  g.cout = x.size(1);
  g.cin = w.size(1);
  const int dims = x.dim() - 2;
  for (int a = 0; a < dims; ++a) {
    const int axis = 3 - dims + a;
    g.out[axis] = x.size(2 + a);
    g.in[axis] = (x.size(2 + a) - 1) * o.stride - 2 * o.padding + g.k[axis];
    DDNET_CHECK(g.in[axis] >= 1, op, ": output size ", g.in[axis], " along axis ", a,
                " is not positive (input ", x.size(2 + a), ", kernel ", g.k[axis], ", padding ",
                o.padding, ")");
  }
  return g;
}

Shape conv_output_shape(const ConvGeometry& g, int dims) {
  std::vector<std::int64_t> s = {g.n, g.cout};
  for (int a = 3 - dims; a < 3; ++a) s.push_back(g.out[a]);
  return Shape(s);
}

Shape conv_input_shape(const ConvGeometry& g, int dims) {
  std::vector<std::int64_t> s = {g.n, g.cin};
  for (int a = 3 - dims; a < 3; ++a) s.push_back(g.in[a]);
  return Shape(s);
}

void conv_forward_t(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& bias,
                    Tensor& y) {
  const ConvStrides s{sample_stride("conv", "input", x), sample_stride("conv", "output", y)};
  detail::dispatch_float(x, "conv", [&](auto z) {
    using T = decltype(z);
    const T* b = bias.defined() ? bias.data<T>() : nullptr;
    if (x.device().is_cpu()) {
      cpu::conv_forward(g, x.data<T>(), w.data<T>(), b, y.data<T>(), s);
    } else if constexpr (std::is_same_v<T, float>) {
      DDNET_CUDA_CALL(
          cuda::conv_forward(g, x.data<T>(), w.data<T>(), b, y.data<T>(), s, detail::stream_of(x)));
    } else {
      DDNET_FAIL("conv on CUDA supports float32 only, got ", x.str());
    }
  });
}

void conv_backward_data_t(const ConvGeometry& g, const Tensor& dy, const Tensor& w, Tensor& dx,
                          bool accumulate) {
  const ConvStrides s{sample_stride("conv backward", "input gradient", dx),
                      sample_stride("conv backward", "output gradient", dy)};
  detail::dispatch_float(dy, "conv backward", [&](auto z) {
    using T = decltype(z);
    if (dy.device().is_cpu()) {
      cpu::conv_backward_data(g, dy.data<T>(), w.data<T>(), dx.data<T>(), accumulate, s);
    } else if constexpr (std::is_same_v<T, float>) {
      DDNET_CUDA_CALL(cuda::conv_backward_data(g, dy.data<T>(), w.data<T>(), dx.data<T>(),
                                               accumulate, s, detail::stream_of(dy)));
    } else {
      DDNET_FAIL("conv on CUDA supports float32 only, got ", dy.str());
    }
  });
}

void conv_backward_filter_t(const ConvGeometry& g, const Tensor& x, const Tensor& dy, Tensor& dw,
                            Tensor* dbias, bool accumulate) {
  const ConvStrides s{sample_stride("conv backward", "input", x),
                      sample_stride("conv backward", "output gradient", dy)};
  detail::dispatch_float(x, "conv backward", [&](auto z) {
    using T = decltype(z);
    T* db = dbias ? dbias->data<T>() : nullptr;
    if (x.device().is_cpu()) {
      cpu::conv_backward_filter(g, x.data<T>(), dy.data<T>(), dw.data<T>(), db, accumulate, s);
    } else if constexpr (std::is_same_v<T, float>) {
      DDNET_CUDA_CALL(cuda::conv_backward_filter(g, x.data<T>(), dy.data<T>(), dw.data<T>(), db,
                                                 accumulate, s, detail::stream_of(x)));
    } else {
      DDNET_FAIL("conv on CUDA supports float32 only, got ", x.str());
    }
  });
}

void add_channel_bias_t(const ConvGeometry& g, const Tensor& bias, Tensor& y) {
  const ConvStrides s{0, sample_stride("bias", "output", y)};
  detail::dispatch_float(y, "bias", [&](auto z) {
    using T = decltype(z);
    if (y.device().is_cpu()) {
      cpu::add_channel_bias(g, bias.data<T>(), y.data<T>(), s);
    } else if constexpr (std::is_same_v<T, float>) {
      DDNET_CUDA_CALL(
          cuda::add_channel_bias(g, bias.data<T>(), y.data<T>(), s, detail::stream_of(y)));
    } else {
      DDNET_FAIL("bias on CUDA supports float32 only");
    }
  });
}

void channel_sum_t(const ConvGeometry& g, const Tensor& dy, Tensor& db, bool accumulate) {
  const ConvStrides s{0, sample_stride("bias backward", "output gradient", dy)};
  detail::dispatch_float(dy, "bias backward", [&](auto z) {
    using T = decltype(z);
    if (dy.device().is_cpu()) {
      cpu::channel_sum(g, dy.data<T>(), db.data<T>(), accumulate, s);
    } else if constexpr (std::is_same_v<T, float>) {
      DDNET_CUDA_CALL(
          cuda::channel_sum(g, dy.data<T>(), db.data<T>(), accumulate, s, detail::stream_of(dy)));
    } else {
      DDNET_FAIL("bias on CUDA supports float32 only");
    }
  });
}

void conv_into(const Tensor& x, const Tensor& w, const Tensor& bias, ConvOptions o, Tensor& y) {
  const char* op = name_of("conv2d", "conv3d", x);
  const ConvGeometry g = conv_geometry(op, x, w, o);
  check_bias(op, bias, g.cout, x);
  DDNET_CHECK(y.defined() && y.shape() == conv_output_shape(g, x.dim() - 2), op, ": output ",
              y.str(), " should have shape ", conv_output_shape(g, x.dim() - 2).str());
  DDNET_CHECK(y.device() == x.device() && y.dtype() == x.dtype(), op, ": output ", y.str(),
              " does not match input");
  conv_forward_t(g, x, w, bias, y);
}

Tensor conv(const Tensor& x, const Tensor& w, const Tensor& bias, ConvOptions o) {
  const ConvGeometry g = conv_geometry(name_of("conv2d", "conv3d", x), x, w, o);
  Tensor y = Tensor::empty(conv_output_shape(g, x.dim() - 2), x.device(), x.dtype());
  conv_into(x, w, bias, o, y);
  return y;
}

Tensor conv_transpose(const Tensor& x, const Tensor& w, const Tensor& bias, ConvOptions o) {
  const char* op = name_of("conv_transpose2d", "conv_transpose3d", x);
  const ConvGeometry g = conv_transpose_geometry(op, x, w, o);
  check_bias(op, bias, g.cin, x);
  Tensor y = Tensor::empty(conv_input_shape(g, x.dim() - 2), x.device(), x.dtype());
  conv_backward_data_t(g, x, w, y, /*accumulate=*/false);
  if (bias.defined()) {
    ConvGeometry gb = g;  // the bias belongs to y: channels g.cin over plane g.in
    gb.cout = g.cin;
    for (int a = 0; a < 3; ++a) gb.out[a] = g.in[a];
    add_channel_bias_t(gb, bias, y);
  }
  return y;
}

}  // namespace ddnet::kernels
