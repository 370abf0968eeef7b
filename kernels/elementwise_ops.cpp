// Checks and device dispatch of the elementwise ops (see elementwise_ops.h).
#include "kernels/elementwise_ops.h"

#include "kernels/dispatch.h"

namespace ddnet::kernels {

using detail::check_input;
using detail::check_same;
using detail::dispatch_float;
using detail::stream_of;

Tensor add(const Tensor& a, const Tensor& b) {
  check_same("add", a, b);
  Tensor y = Tensor::empty(a.shape(), a.device(), a.dtype());
  dispatch_float(a, "add", [&](auto z) {
    using T = decltype(z);
    if (a.device().is_cpu())
      cpu::add(a.data<T>(), b.data<T>(), y.data<T>(), a.numel());
    else
      DDNET_CUDA_CALL(cuda::add(a.data<T>(), b.data<T>(), y.data<T>(), a.numel(), stream_of(a)));
  });
  return y;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  check_same("mul", a, b);
  Tensor y = Tensor::empty(a.shape(), a.device(), a.dtype());
  dispatch_float(a, "mul", [&](auto z) {
    using T = decltype(z);
    if (a.device().is_cpu())
      cpu::mul(a.data<T>(), b.data<T>(), y.data<T>(), a.numel());
    else
      DDNET_CUDA_CALL(cuda::mul(a.data<T>(), b.data<T>(), y.data<T>(), a.numel(), stream_of(a)));
  });
  return y;
}

Tensor scale(const Tensor& x, double alpha) {
  check_input("scale", "x", x);
  Tensor y = Tensor::empty(x.shape(), x.device(), x.dtype());
  dispatch_float(x, "scale", [&](auto z) {
    using T = decltype(z);
    const T a = static_cast<T>(alpha);
    if (x.device().is_cpu())
      cpu::scale(x.data<T>(), a, y.data<T>(), x.numel());
    else
      DDNET_CUDA_CALL(cuda::scale(x.data<T>(), a, y.data<T>(), x.numel(), stream_of(x)));
  });
  return y;
}

void axpy_(double alpha, const Tensor& x, Tensor& y) {
  check_same("axpy", x, y);
  dispatch_float(x, "axpy", [&](auto z) {
    using T = decltype(z);
    const T a = static_cast<T>(alpha);
    if (x.device().is_cpu())
      cpu::axpy(a, x.data<T>(), y.data<T>(), x.numel());
    else
      DDNET_CUDA_CALL(cuda::axpy(a, x.data<T>(), y.data<T>(), x.numel(), stream_of(x)));
  });
}

void fill_(Tensor& y, double value) {
  check_input("fill", "y", y);
  dispatch_float(y, "fill", [&](auto z) {
    using T = decltype(z);
    const T v = static_cast<T>(value);
    if (y.device().is_cpu())
      cpu::fill(y.data<T>(), v, y.numel());
    else
      DDNET_CUDA_CALL(cuda::fill(y.data<T>(), v, y.numel(), stream_of(y)));
  });
}

Tensor scale_by_scalar(const Tensor& x, const Tensor& s, double alpha, const Shape& shape) {
  DDNET_CHECK(s.defined() && s.numel() == 1,
              "scale_by_scalar: the scalar must have one element, got ", s.str());
  if (x.defined()) {
    check_input("scale_by_scalar", "x", x);
    DDNET_CHECK(x.shape() == shape && x.dtype() == s.dtype() && x.device() == s.device(),
                "scale_by_scalar: ", x.str(), " with scalar ", s.str(), " and shape ", shape.str());
  }
  Tensor y = Tensor::empty(shape, s.device(), s.dtype());
  dispatch_float(s, "scale_by_scalar", [&](auto z) {
    using T = decltype(z);
    const T* xp = x.defined() ? x.data<T>() : nullptr;
    const T a = static_cast<T>(alpha);
    if (s.device().is_cpu())
      cpu::scale_by_scalar(xp, s.data<T>(), a, y.data<T>(), y.numel());
    else
      DDNET_CUDA_CALL(
          cuda::scale_by_scalar(xp, s.data<T>(), a, y.data<T>(), y.numel(), stream_of(s)));
  });
  return y;
}

Tensor leaky_relu(const Tensor& x, double slope) {
  check_input("leaky_relu", "x", x);
  Tensor y = Tensor::empty(x.shape(), x.device(), x.dtype());
  dispatch_float(x, "leaky_relu", [&](auto z) {
    using T = decltype(z);
    const T k = static_cast<T>(slope);
    if (x.device().is_cpu())
      cpu::leaky_relu(x.data<T>(), k, y.data<T>(), x.numel());
    else
      DDNET_CUDA_CALL(cuda::leaky_relu(x.data<T>(), k, y.data<T>(), x.numel(), stream_of(x)));
  });
  return y;
}

namespace {
// dx = leaky_relu'(x) * dy; dx may be dy (each element read before it is written).
void leaky_relu_backward_to(const Tensor& x, const Tensor& dy, double slope, Tensor& dx) {
  dispatch_float(x, "leaky_relu_backward", [&](auto z) {
    using T = decltype(z);
    const T k = static_cast<T>(slope);
    if (x.device().is_cpu())
      cpu::leaky_relu_backward(x.data<T>(), dy.data<T>(), k, dx.data<T>(), x.numel());
    else
      DDNET_CUDA_CALL(cuda::leaky_relu_backward(x.data<T>(), dy.data<T>(), k, dx.data<T>(),
                                                x.numel(), stream_of(x)));
  });
}
}  // namespace

Tensor leaky_relu_backward(const Tensor& x, const Tensor& dy, double slope) {
  check_same("leaky_relu_backward", x, dy);
  Tensor dx = Tensor::empty(x.shape(), x.device(), x.dtype());
  leaky_relu_backward_to(x, dy, slope, dx);
  return dx;
}

void leaky_relu_backward_inplace(const Tensor& x, Tensor& dy, double slope) {
  check_same("leaky_relu_backward", x, dy);
  DDNET_CHECK(dy.is_contiguous(), "leaky_relu_backward_inplace: the gradient ", dy.str(),
              " is not contiguous");
  leaky_relu_backward_to(x, dy, slope, dy);
}

}  // namespace ddnet::kernels
