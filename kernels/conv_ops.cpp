// Checks and dispatch of the tensor-level convolutions.
#include "kernels/conv_ops.h"

#include <algorithm>
#include <initializer_list>

#include "kernels/copy_ops.h"
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

namespace {

// One call of each primitive, on the tensors as given.
void forward_call(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& bias,
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

void backward_data_call(const ConvGeometry& g, const Tensor& dy, const Tensor& w, Tensor& dx,
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

void backward_filter_call(const ConvGeometry& g, const Tensor& x, const Tensor& dy, Tensor& dw,
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

// --- Depth split (kernels/conv.h, ConvSplitLimits) ---

// Elements a call's tensor spans: (n - 1) samples' strides and one sample.
std::int64_t span_of(const Tensor& t) {
  if (t.numel() == 0) return 0;
  const std::int64_t sample = t.numel() / t.size(0);
  return (t.size(0) - 1) * t.stride(0) + sample;
}

// (N, C, D, H, W) view of a 4D or 5D tensor (a 2D tensor gets depth 1).
Tensor as_5d(const Tensor& t) {
  if (t.dim() == 5) return t;
  return t.as_strided(
      Shape({t.size(0), t.size(1), 1, t.size(2), t.size(3)}),
      Shape({t.stride(0), t.stride(1), t.size(2) * t.stride(2), t.stride(2), t.stride(3)}),
      t.storage_offset());
}

// A contiguous (1, C, rows, H, W) tensor over the start of `buffer`.
Tensor chunk_view(const Tensor& buffer, std::int64_t c, std::int64_t rows, std::int64_t h,
                  std::int64_t w) {
  return buffer.narrow(0, 0, c * rows * h * w).view(Shape({1, c, rows, h, w}));
}

// Rows [lo, lo + count) of sample n of `src` (depth rows outside [0, D) are zeros) into `dst`,
// a contiguous (1, C, count, H, W) tensor.
void gather_rows(const Tensor& src5, std::int64_t n, std::int64_t lo, std::int64_t count,
                 Tensor& dst) {
  const std::int64_t depth = src5.size(2);
  const std::int64_t a = std::max<std::int64_t>(lo, 0);
  const std::int64_t b = std::min(lo + count, depth);
  if (lo < 0 || lo + count > depth) dst.zero_();
  if (b <= a) return;
  Tensor part = dst.narrow(2, a - lo, b - a);
  copy(src5.narrow(0, n, 1).narrow(2, a, b - a), part);
}

void scatter_rows(const Tensor& src, const Tensor& dst5, std::int64_t n, std::int64_t lo) {
  Tensor part = dst5.narrow(0, n, 1).narrow(2, lo, src.size(2));
  copy(src, part);
}

// The depth rows per chunk: as many as keep both chunk buffers (`per_row_a` elements a row plus
// `halo_a` rows, and `per_row_b` a row) within chunk_elements, at least one; refused when one row
// with its halo is over max_elements.
std::int64_t rows_per_chunk(const char* op, const ConvGeometry& g, std::int64_t total_rows,
                            std::int64_t rows_a_per_row, std::int64_t halo_a,
                            std::int64_t elems_a_row, std::int64_t elems_b_row) {
  const ConvSplitLimits lim = conv_split_limits();
  const std::int64_t one_a = (rows_a_per_row + halo_a) * elems_a_row;
  DDNET_CHECK(one_a <= lim.max_elements && elems_b_row <= lim.max_elements, op, ": ", g.str(),
              " has a tensor over ", lim.max_elements,
              " elements (the most one convolution call takes), and one depth row of one sample "
              "with its halo (",
              std::max(one_a, elems_b_row),
              " elements) is over it too: it cannot be split along depth");
  std::int64_t rows = std::min((lim.chunk_elements / elems_a_row - halo_a) / rows_a_per_row,
                               lim.chunk_elements / elems_b_row);
  return std::clamp<std::int64_t>(rows, 1, total_rows);
}

bool needs_split(std::initializer_list<const Tensor*> ts) {
  const std::int64_t lim = conv_split_limits().max_elements;
  for (const Tensor* t : ts)
    if (span_of(*t) > lim) return true;
  return false;
}

// The chunk's geometry for output rows [o0, o1) of the forward: its input rows start at
// o0 * s - p, (o1 - o0 - 1) * s + k of them, padding 0 along depth.
ConvGeometry forward_chunk(const ConvGeometry& g, std::int64_t o0, std::int64_t o1) {
  ConvGeometry c = g;
  c.n = 1;
  c.out[0] = o1 - o0;
  c.in[0] = (o1 - o0 - 1) * g.stride[0] + g.k[0];
  c.pad[0] = 0;
  return c;
}

// Runs `each(c, n, o0, xc, yc)` for every chunk of output rows of every sample: c is the chunk's
// geometry, o0 its first output row, xc its input rows with their halo gathered from x5, and yc
// a buffer for its output rows. The forward and the weight gradient walk the same chunks.
template <class Each>
void for_each_output_chunk(const char* op, const ConvGeometry& g, const Tensor& x5, Each each) {
  const std::int64_t hw_in = g.in[1] * g.in[2], hw_out = g.out[1] * g.out[2];
  const std::int64_t rows = rows_per_chunk(op, g, g.out[0], g.stride[0], g.k[0] - g.stride[0],
                                           g.cin * hw_in, g.cout * hw_out);
  const ConvGeometry widest = forward_chunk(g, 0, rows);
  Tensor xbuf = Tensor::empty(Shape({g.cin * widest.in[0] * hw_in}), x5.device(), x5.dtype());
  Tensor ybuf = Tensor::empty(Shape({g.cout * rows * hw_out}), x5.device(), x5.dtype());
  for (std::int64_t n = 0; n < g.n; ++n) {
    for (std::int64_t o0 = 0; o0 < g.out[0]; o0 += rows) {
      const ConvGeometry c = forward_chunk(g, o0, std::min(o0 + rows, g.out[0]));
      Tensor xc = chunk_view(xbuf, g.cin, c.in[0], g.in[1], g.in[2]);
      Tensor yc = chunk_view(ybuf, g.cout, c.out[0], g.out[1], g.out[2]);
      gather_rows(x5, n, o0 * g.stride[0] - g.pad[0], c.in[0], xc);
      each(c, n, o0, xc, yc);
    }
  }
}

void forward_split(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& bias,
                   Tensor& y) {
  note_conv_split();
  const Tensor y5 = as_5d(y);
  for_each_output_chunk(
      "conv", g, as_5d(x),
      [&](const ConvGeometry& c, std::int64_t n, std::int64_t o0, const Tensor& xc, Tensor& yc) {
        forward_call(c, xc, w, bias, yc);
        scatter_rows(yc, y5, n, o0);
      });
}

void backward_data_split(const ConvGeometry& g, const Tensor& dy, const Tensor& w, Tensor& dx,
                         bool accumulate) {
  note_conv_split();
  DDNET_CHECK(g.stride[0] == 1, "conv backward: ", g.str(),
              " has a tensor over the elements one convolution call takes, and the input "
              "gradient of a convolution strided along depth is not split along depth");
  const Tensor dy5 = as_5d(dy), dx5 = as_5d(dx);
  const std::int64_t hw_in = g.in[1] * g.in[2], hw_out = g.out[1] * g.out[2];
  const std::int64_t halo = g.k[0] - 1;
  // Input-gradient rows [a, b) need output-gradient rows [a + p - k + 1, b + p): a chunk is the
  // input gradient of a convolution of b - a rows with padding k - 1 along depth.
  const std::int64_t rows =
      rows_per_chunk("conv backward", g, g.in[0], 1, halo, g.cout * hw_out, g.cin * hw_in);
  Tensor dybuf = Tensor::empty(Shape({g.cout * (rows + halo) * hw_out}), dy.device(), dy.dtype());
  Tensor dxbuf = Tensor::empty(Shape({g.cin * rows * hw_in}), dy.device(), dy.dtype());
  for (std::int64_t n = 0; n < g.n; ++n) {
    for (std::int64_t a = 0; a < g.in[0]; a += rows) {
      const std::int64_t b = std::min(a + rows, g.in[0]);
      ConvGeometry c = g;
      c.n = 1;
      c.in[0] = b - a;
      c.out[0] = b - a + halo;
      c.pad[0] = halo;
      Tensor dyc = chunk_view(dybuf, g.cout, c.out[0], g.out[1], g.out[2]);
      Tensor dxc = chunk_view(dxbuf, g.cin, c.in[0], g.in[1], g.in[2]);
      gather_rows(dy5, n, a + g.pad[0] - halo, c.out[0], dyc);
      if (accumulate) gather_rows(dx5, n, a, c.in[0], dxc);
      backward_data_call(c, dyc, w, dxc, accumulate);
      scatter_rows(dxc, dx5, n, a);
    }
  }
}

void backward_filter_split(const ConvGeometry& g, const Tensor& x, const Tensor& dy, Tensor& dw,
                           Tensor* dbias, bool accumulate) {
  note_conv_split();
  const Tensor dy5 = as_5d(dy);
  bool add = accumulate;
  for_each_output_chunk(
      "conv backward", g, as_5d(x),
      [&](const ConvGeometry& c, std::int64_t n, std::int64_t o0, const Tensor& xc, Tensor& dyc) {
        gather_rows(dy5, n, o0, c.out[0], dyc);
        backward_filter_call(c, xc, dyc, dw, dbias, add);
        add = true;
      });
}

}  // namespace

void conv_forward_t(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& bias,
                    Tensor& y) {
  if (needs_split({&x, &y}))
    forward_split(g, x, w, bias, y);
  else
    forward_call(g, x, w, bias, y);
}

void conv_backward_data_t(const ConvGeometry& g, const Tensor& dy, const Tensor& w, Tensor& dx,
                          bool accumulate) {
  if (needs_split({&dy, &dx}))
    backward_data_split(g, dy, w, dx, accumulate);
  else
    backward_data_call(g, dy, w, dx, accumulate);
}

void conv_backward_filter_t(const ConvGeometry& g, const Tensor& x, const Tensor& dy, Tensor& dw,
                            Tensor* dbias, bool accumulate) {
  if (needs_split({&x, &dy}))
    backward_filter_split(g, x, dy, dw, dbias, accumulate);
  else
    backward_filter_call(g, x, dy, dw, dbias, accumulate);
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
