// Tensor-level upsample: shape checks, tables uploaded to the op's device, dispatch.
#include "kernels/upsample_ops.h"

#include "kernels/dispatch.h"

namespace ddnet::kernels {

namespace {

// One axis table packed into two tensors on `device`, and a view of them for the kernels.
template <class T>
struct AxisBuffers {
  Tensor ints, weights;
  AxisView<T> view;
};

template <class T>
AxisBuffers<T> upload(const AxisTable& t, Device device) {
  std::vector<std::int32_t> ints;
  for (const auto* v : {&t.i0, &t.i1, &t.start, &t.src})
    ints.insert(ints.end(), v->begin(), v->end());
  std::vector<T> w;
  for (const auto* v : {&t.w0, &t.w1, &t.weight})
    for (double x : *v) w.push_back(static_cast<T>(x));
  AxisBuffers<T> b;
  b.ints = Tensor::from_vector(ints, {static_cast<std::int64_t>(ints.size())}, device);
  b.weights = Tensor::from_vector(w, {static_cast<std::int64_t>(w.size())}, device);
  const std::int32_t* ip = b.ints.template data<std::int32_t>();
  const T* wp = b.weights.template data<T>();
  const std::int64_t out = t.out, in = t.in;
  b.view = AxisView<T>{
      in, out, ip, ip + out, wp, wp + out, ip + 2 * out, ip + 2 * out + in + 1, wp + 2 * out};
  return b;
}

struct Geometry {
  std::int64_t planes = 0, d = 1, h = 1, w = 1;
};

Geometry geometry(const char* op, const Shape& s, int factor, UpsampleMode mode,
                  bool align_corners) {
  DDNET_CHECK(s.dim() == 4 || s.dim() == 5, op, ": input ", s.str(),
              " must be (N, C, H, W) or (N, C, D, H, W)");
  DDNET_CHECK(factor >= 1, op, ": the scale factor must be a positive integer, got ", factor);
  DDNET_CHECK(!(align_corners && mode == UpsampleMode::nearest), op,
              ": align_corners applies to linear upsampling only, not nearest");
  Geometry g;
  g.planes = s[0] * s[1];
  if (s.dim() == 5) g.d = s[2];
  g.h = s[s.dim() - 2];
  g.w = s[s.dim() - 1];
  return g;
}

Shape scaled(const Shape& s, int factor) {
  Shape out = s;
  for (int i = 2; i < s.dim(); ++i) out[i] = s[i] * factor;
  return out;
}

template <bool Forward>
void run(const Tensor& src, Tensor& dst, const Geometry& g, int factor, UpsampleMode mode,
         bool align_corners, bool is_3d) {
  detail::dispatch_float(src, "upsample", [&](auto z) {
    using T = decltype(z);
    const auto d =
        upload<T>(make_axis_table(g.d, is_3d ? factor : 1, mode, align_corners), src.device());
    const auto h = upload<T>(make_axis_table(g.h, factor, mode, align_corners), src.device());
    const auto w = upload<T>(make_axis_table(g.w, factor, mode, align_corners), src.device());
    const T* s = src.data<T>();
    T* o = dst.data<T>();
    if (src.device().is_cpu()) {
      if (Forward)
        cpu::upsample_forward(s, o, g.planes, d.view, h.view, w.view);
      else
        cpu::upsample_backward(s, o, g.planes, d.view, h.view, w.view);
    } else {
      if (Forward)
        DDNET_CUDA_CALL(
            cuda::upsample_forward(s, o, g.planes, d.view, h.view, w.view, detail::stream_of(src)));
      else
        DDNET_CUDA_CALL(cuda::upsample_backward(s, o, g.planes, d.view, h.view, w.view,
                                                detail::stream_of(src)));
    }
  });
}

}  // namespace

Tensor upsample(const Tensor& x, int factor, UpsampleMode mode, bool align_corners) {
  DDNET_CHECK(x.defined() && x.is_contiguous(),
              "upsample: input must be a defined, contiguous tensor");
  const Geometry g = geometry("upsample", x.shape(), factor, mode, align_corners);
  Tensor y = Tensor::empty(scaled(x.shape(), factor), x.device(), x.dtype());
  run<true>(x, y, g, factor, mode, align_corners, x.dim() == 5);
  return y;
}

Tensor upsample_backward(const Tensor& dy, const Shape& input_shape, int factor, UpsampleMode mode,
                         bool align_corners) {
  const Geometry g = geometry("upsample backward", input_shape, factor, mode, align_corners);
  DDNET_CHECK(dy.defined() && dy.is_contiguous() && dy.shape() == scaled(input_shape, factor),
              "upsample backward: gradient ", dy.str(), " does not match the output of input ",
              input_shape.str(), " scaled by ", factor);
  Tensor dx = Tensor::empty(input_shape, dy.device(), dy.dtype());
  run<false>(dy, dx, g, factor, mode, align_corners, input_shape.dim() == 5);
  return dx;
}

}  // namespace ddnet::kernels
