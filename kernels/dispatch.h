// Internal helpers for the tensor-level entry points of kernels/: element-type dispatch, the
// current stream of a tensor's device, and CUDA calls that compile away in CPU-only builds.
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
