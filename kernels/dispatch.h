// Internal helpers for the tensor-level entry points of kernels/ (the <op>_ops.cpp files):
// element-type dispatch, input checks, the current stream of a tensor's device, and CUDA calls
// that compile away in CPU-only builds. Only kernels/ includes this header.
#pragma once

#include "engine/stream.h"
#include "engine/tensor.h"
#include "generated/ddnet_config.h"

namespace ddnet::kernels::detail {

// fn(T{}) with T = float or double, per the tensor's element type.
template <class Fn>
void dispatch_float(const Tensor& t, const char* op, Fn&& fn) {
  switch (t.dtype()) {
    case DType::f32:
      fn(float{});
      return;
    case DType::f64:
      fn(double{});
      return;
    default:
      DDNET_FAIL(op, ": ", t.str(), ": only float32 and float64 are supported");
  }
}

// x is defined and contiguous (the raw kernels index it densely).
inline void check_input(const char* op, const char* name, const Tensor& t) {
  DDNET_CHECK(t.defined(), op, ": input ", name, " is undefined");
  DDNET_CHECK(t.is_contiguous(), op, ": input ", name, " ", t.str(),
              " is a strided view; make it contiguous with kernels::contiguous() first");
}

// a and b are valid inputs of the same shape, element type and device (no broadcasting).
inline void check_same(const char* op, const Tensor& a, const Tensor& b) {
  check_input(op, "a", a);
  check_input(op, "b", b);
  DDNET_CHECK(a.shape() == b.shape(), op, ": shapes differ: ", a.shape().str(), " vs ",
              b.shape().str(), " (no broadcasting)");
  DDNET_CHECK(a.dtype() == b.dtype(), op, ": element types differ: ", a.str(), " vs ", b.str());
  DDNET_CHECK(a.device() == b.device(), op, ": devices differ: ", a.device().str(), " vs ",
              b.device().str(), "; copy one with to() first");
}

inline void* stream_of(const Tensor& t) {
  return current_stream(t.device().index()).handle();
}

}  // namespace ddnet::kernels::detail

// DDNET_CUDA_CALL(expr): expr in CUDA builds; in CPU-only builds an error (unreachable in
// practice: no CUDA tensor can exist there).
#if DDNET_WITH_CUDA
#define DDNET_CUDA_CALL(...) __VA_ARGS__
#else
#define DDNET_CUDA_CALL(...) DDNET_FAIL("this build of ddnet has no CUDA")
#endif
