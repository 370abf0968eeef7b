// Checks and dispatch of the pooling kernels.
#include "kernels/pool_ops.h"

#include "kernels/dispatch.h"

namespace ddnet::kernels {

PoolGeometry pool_geometry(const char* op, const Shape& x, int kernel, int stride, int padding) {
  DDNET_CHECK(x.dim() == 4 || x.dim() == 5, op, ": input ", x.str(),
              " must be (N, C, H, W) or (N, C, D, H, W)");
  DDNET_CHECK(kernel >= 1 && stride >= 1 && padding >= 0, op, ": kernel ", kernel, ", stride ",
              stride, ", padding ", padding, " must be >= 1, >= 1, >= 0");
  DDNET_CHECK(2 * padding <= kernel, op, ": padding ", padding, " is more than half the kernel ",
              kernel);
  PoolGeometry g;
  g.planes = x[0] * x[1];
  const int dims = x.dim() - 2;
  for (int a = 0; a < dims; ++a) {
    const int axis = 3 - dims + a;
    g.in[axis] = x[2 + a];
    g.k[axis] = kernel;
    g.stride[axis] = stride;
    g.pad[axis] = padding;
    const std::int64_t span = g.in[axis] + 2 * padding - kernel;
    DDNET_CHECK(span >= 0, op, ": input size ", g.in[axis], " (padding ", padding,
                ") is smaller than the kernel ", kernel);
    g.out[axis] = span / stride + 1;
  }
  return g;
}

void check_argmax_range(const char* op, const PoolGeometry& g) {
  const std::int64_t volume = g.in[0] * g.in[1] * g.in[2];
  DDNET_CHECK(volume <= 2147483647, op, ": one channel's input has ", volume, " elements (",
              g.in[0], "x", g.in[1], "x", g.in[2],
              "); max pooling's argmax indexes a channel with 32 bits (at most 2^31 - 1)");
}

Shape pool_output_shape(const PoolGeometry& g, const Shape& x) {
  Shape s = x;
  const int dims = x.dim() - 2;
  for (int a = 0; a < dims; ++a) s[2 + a] = g.out[3 - dims + a];
  return s;
}

namespace {
void check_input(const char* op, const Tensor& x) {
  DDNET_CHECK(x.defined() && x.is_contiguous(), op, ": input must be a defined, contiguous tensor");
}
}  // namespace

MaxPoolResult max_pool(const Tensor& x, int kernel, int stride, int padding) {
  check_input("max_pool", x);
  const PoolGeometry g = pool_geometry("max_pool", x.shape(), kernel, stride, padding);
  check_argmax_range("max_pool", g);
  const Shape ys = pool_output_shape(g, x.shape());
  MaxPoolResult r{Tensor::empty(ys, x.device(), x.dtype()),
                  Tensor::empty(ys, x.device(), DType::i32)};
  detail::dispatch_float(x, "max_pool", [&](auto z) {
    using T = decltype(z);
    if (x.device().is_cpu())
      cpu::max_pool_forward(g, x.data<T>(), r.y.data<T>(), r.argmax.data<std::int32_t>());
    else
      DDNET_CUDA_CALL(cuda::max_pool_forward(g, x.data<T>(), r.y.data<T>(),
                                             r.argmax.data<std::int32_t>(), detail::stream_of(x)));
  });
  return r;
}

Tensor max_pool_backward(const Tensor& dy, const Tensor& argmax, const Shape& x_shape, int kernel,
                         int stride, int padding) {
  check_input("max_pool backward", dy);
  const PoolGeometry g = pool_geometry("max_pool backward", x_shape, kernel, stride, padding);
  DDNET_CHECK(dy.shape() == pool_output_shape(g, x_shape) && argmax.shape() == dy.shape(),
              "max_pool backward: gradient ", dy.str(), " or argmax ", argmax.str(),
              " does not match the output of ", x_shape.str());
  Tensor dx = Tensor::empty(x_shape, dy.device(), dy.dtype());
  detail::dispatch_float(dy, "max_pool backward", [&](auto z) {
    using T = decltype(z);
    if (dy.device().is_cpu())
      cpu::max_pool_backward(g, dy.data<T>(), argmax.data<std::int32_t>(), dx.data<T>());
    else
      DDNET_CUDA_CALL(cuda::max_pool_backward(g, dy.data<T>(), argmax.data<std::int32_t>(),
                                              dx.data<T>(), detail::stream_of(dy)));
  });
  return dx;
}

Tensor avg_pool(const Tensor& x, int kernel, int stride) {
  check_input("avg_pool", x);
  const PoolGeometry g = pool_geometry("avg_pool", x.shape(), kernel, stride, 0);
  Tensor y = Tensor::empty(pool_output_shape(g, x.shape()), x.device(), x.dtype());
  detail::dispatch_float(x, "avg_pool", [&](auto z) {
    using T = decltype(z);
    if (x.device().is_cpu())
      cpu::avg_pool_forward(g, x.data<T>(), y.data<T>());
    else
      DDNET_CUDA_CALL(cuda::avg_pool_forward(g, x.data<T>(), y.data<T>(), detail::stream_of(x)));
  });
  return y;
}

Tensor avg_pool_backward(const Tensor& dy, const Shape& x_shape, int kernel, int stride) {
  check_input("avg_pool backward", dy);
  const PoolGeometry g = pool_geometry("avg_pool backward", x_shape, kernel, stride, 0);
  DDNET_CHECK(dy.shape() == pool_output_shape(g, x_shape), "avg_pool backward: gradient ", dy.str(),
              " does not match the output of ", x_shape.str());
  Tensor dx = Tensor::empty(x_shape, dy.device(), dy.dtype());
  detail::dispatch_float(dy, "avg_pool backward", [&](auto z) {
    using T = decltype(z);
    if (dy.device().is_cpu())
      cpu::avg_pool_backward(g, dy.data<T>(), dx.data<T>());
    else
      DDNET_CUDA_CALL(
          cuda::avg_pool_backward(g, dy.data<T>(), dx.data<T>(), detail::stream_of(dy)));
  });
  return dx;
}

}  // namespace ddnet::kernels
