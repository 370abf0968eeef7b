// upsample_into's entry point: checks, the axis tables uploaded to the tensors' device, dispatch
// on that device (never on a global mode).
#include "fused_op/upsample_into_ops.h"

#include <vector>

#include "engine/stream.h"
#include "kernels/copy_ops.h"

namespace fused_op {

using ddnet::Device;
using ddnet::DType;
using ddnet::Shape;
using ddnet::Tensor;

namespace {

constexpr int kFactor = 2;

// The three axis tables (D, H, W) packed into one int and one weight tensor on `device` (two
// uploads per call), and views of them for the kernels. For a 2D tensor D is size 1, factor 1.
template <class T>
struct Tables {
  Tensor ints, weights;
  AxisView<T> d, h, w;
};

template <class T>
Tables<T> make_tables(const Shape& in, UpsampleMode mode, bool align_corners, Device device) {
  const bool is_3d = in.dim() == 5;
  const ddnet::kernels::AxisTable t[3] = {
      ddnet::kernels::make_axis_table(is_3d ? in[2] : 1, is_3d ? kFactor : 1, mode, align_corners),
      ddnet::kernels::make_axis_table(in[in.dim() - 2], kFactor, mode, align_corners),
      ddnet::kernels::make_axis_table(in[in.dim() - 1], kFactor, mode, align_corners)};
  std::vector<std::int32_t> ints;
  std::vector<T> weights;
  for (const auto& a : t) {
    for (const auto* v : {&a.i0, &a.i1, &a.start, &a.src})
      ints.insert(ints.end(), v->begin(), v->end());
    for (const auto* v : {&a.w0, &a.w1, &a.weight})
      for (double x : *v) weights.push_back(static_cast<T>(x));
  }
  Tables<T> r;
  r.ints = Tensor::from_vector(ints, {static_cast<std::int64_t>(ints.size())}, device);
  r.weights = Tensor::from_vector(weights, {static_cast<std::int64_t>(weights.size())}, device);
  const std::int32_t* ip = r.ints.template data<std::int32_t>();
  const T* wp = r.weights.template data<T>();
  // Per axis, ints: i0 (out), i1 (out), start (in + 1), src (entries); weights: w0 (out),
  // w1 (out), weight (entries).
  AxisView<T>* views[3] = {&r.d, &r.h, &r.w};
  for (int k = 0; k < 3; ++k) {
    AxisView<T>& v = *views[k];
    v.in = t[k].in;
    v.out = t[k].out;
    v.i0 = ip;
    v.i1 = ip + v.out;
    v.start = ip + 2 * v.out;
    v.src = v.start + v.in + 1;
    v.w0 = wp;
    v.w1 = wp + v.out;
    v.weight = wp + 2 * v.out;
    const auto entries = static_cast<std::int64_t>(t[k].src.size());
    ip += 2 * v.out + v.in + 1 + entries;
    wp += 2 * v.out + entries;
  }
  return r;
}

Shape doubled(const Shape& s) {
  Shape out = s;
  for (int i = 2; i < s.dim(); ++i) out[i] = s[i] * kFactor;
  return out;
}

void check_geometry(const char* op, const Shape& in, UpsampleMode mode, bool align_corners) {
  DDNET_CHECK(in.dim() == 4 || in.dim() == 5, op, ": input ", in.str(),
              " must be (N, C, H, W) or (N, C, D, H, W)");
  DDNET_CHECK(!(align_corners && mode == UpsampleMode::nearest), op,
              ": align_corners applies to linear upsampling only, not nearest");
}

// The elements [first, last] a tensor's view addresses in its storage.
void extent(const Tensor& t, std::int64_t* first, std::int64_t* last) {
  *first = *last = t.storage_offset();
  for (int i = 0; i < t.dim(); ++i) *last += (t.size(i) - 1) * t.stride(i);
}

// fn(T{}) with T = float or double, per the tensor's element type.
template <class Fn>
void dispatch_float(const Tensor& t, const char* op, Fn&& fn) {
  if (t.dtype() == DType::f32)
    fn(float{});
  else if (t.dtype() == DType::f64)
    fn(double{});
  else
    DDNET_FAIL(op, ": ", t.str(), ": only float32 and float64 are supported");
}

BatchLayout layout(const Tensor& in, const Tensor& out) {
  BatchLayout b;
  b.items = in.size(0);
  b.planes = in.size(1);
  b.in_item = in.stride(0);
  b.out_item = out.stride(0);
  return b;
}

#if FUSED_OP_WITH_CUDA
// The current stream of the tensor's device: where its CUDA work goes.
void* stream_of(const Tensor& t) {
  return ddnet::current_stream(t.device().index()).handle();
}
#else
[[noreturn]] void no_cuda(const char* op) {
  DDNET_FAIL(op,
             ": this build of the example has no CUDA kernels (the installed ddnet has no "
             "CUDA, or the example was configured without it)");
}
#endif

}  // namespace

bool items_contiguous(const Tensor& t) {
  std::int64_t expected = 1;
  for (int i = t.dim() - 1; i >= 1; --i) {
    if (t.size(i) != 1 && t.stride(i) != expected) return false;
    expected *= t.size(i);
  }
  return true;
}

void upsample_into_forward(const Tensor& x_in, const Tensor& dst, UpsampleMode mode,
                           bool align_corners) {
  const char* op = "upsample_into";
  DDNET_CHECK(x_in.defined() && dst.defined(), op, ": x and dst must be defined tensors");
  check_geometry(op, x_in.shape(), mode, align_corners);
  DDNET_CHECK(dst.shape() == doubled(x_in.shape()), op, ": dst ", dst.str(),
              " must have x's shape with every spatial size doubled, ", doubled(x_in.shape()).str(),
              " for x ", x_in.str());
  DDNET_CHECK(dst.dtype() == x_in.dtype() && dst.device() == x_in.device(), op, ": x ", x_in.str(),
              " and dst ", dst.str(),
              " must have one element type and one device; convert or copy one with to() first");
  DDNET_CHECK(items_contiguous(dst), op, ": dst ", dst.str(),
              " must have each batch item contiguous (a channel slice of a buffer is); for other "
              "layouts use F::copy_into(F::upsample(x, 2, ...), dst)");
  const Tensor x = ddnet::kernels::contiguous(x_in);
  if (x.shares_storage_with(dst)) {
    std::int64_t x0, x1, d0, d1;
    extent(x, &x0, &x1);
    extent(dst, &d0, &d1);
    DDNET_CHECK(x1 < d0 || d1 < x0, op, ": x ", x.str(), " and dst ", dst.str(),
                " overlap in one storage; upsample into a buffer that does not hold x");
  }
  if (x.numel() == 0) return;
  const BatchLayout b = layout(x, dst);
  dispatch_float(x, op, [&](auto z) {
    using T = decltype(z);
    const Tables<T> t = make_tables<T>(x.shape(), mode, align_corners, x.device());
    if (x.device().is_cpu()) {
      cpu::upsample_into_forward(x.data<T>(), dst.data<T>(), b, t.d, t.h, t.w);
    } else {
#if FUSED_OP_WITH_CUDA
      cuda::upsample_into_forward(x.data<T>(), dst.data<T>(), b, t.d, t.h, t.w, stream_of(x));
#else
      no_cuda(op);
#endif
    }
  });
}

Tensor upsample_into_backward(const Tensor& dy_in, const Shape& input_shape, UpsampleMode mode,
                              bool align_corners) {
  const char* op = "upsample_into backward";
  check_geometry(op, input_shape, mode, align_corners);
  DDNET_CHECK(dy_in.defined() && dy_in.shape() == doubled(input_shape), op, ": gradient ",
              dy_in.defined() ? dy_in.str() : std::string("(undefined)"),
              " does not match the output of an input ", input_shape.str(), " upsampled by 2");
  // The gradient of a channel slice is read in place, item by item; any other layout is copied.
  const Tensor dy = items_contiguous(dy_in) ? dy_in : ddnet::kernels::contiguous(dy_in);
  Tensor dx = Tensor::empty(input_shape, dy.device(), dy.dtype());
  if (dx.numel() == 0) return dx;
  const BatchLayout b = layout(dx, dy);
  dispatch_float(dy, op, [&](auto z) {
    using T = decltype(z);
    const Tables<T> t = make_tables<T>(input_shape, mode, align_corners, dy.device());
    if (dy.device().is_cpu()) {
      cpu::upsample_into_backward(dy.data<T>(), dx.data<T>(), b, t.d, t.h, t.w);
    } else {
#if FUSED_OP_WITH_CUDA
      cuda::upsample_into_backward(dy.data<T>(), dx.data<T>(), b, t.d, t.h, t.w, stream_of(dy));
#else
      no_cuda(op);
#endif
    }
  });
  return dx;
}

}  // namespace fused_op
