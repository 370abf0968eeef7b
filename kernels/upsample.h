// Upsampling by integer factors, PyTorch semantics: nearest (the thesis's "unpooling", eq. 2.8)
// and linear (bilinear in 2D, trilinear in 3D) with align_corners true or false.
//
// Separable: along each axis an output index o reads inputs i0(o), i1(o) with weights
// w0(o), w1(o) (an AxisTable). The forward is a weighted 2^3-point gather; the backward is the
// transposed gather (for each input, the outputs that read it, in CSR form), so no atomics and
// a deterministic result. Tables are built on the host once per call.
#pragma once

#include <cstdint>
#include <vector>

namespace ddnet::kernels {

enum class UpsampleMode { nearest, linear };

struct AxisTable {
  std::int64_t in = 1, out = 1;
  std::vector<std::int32_t> i0, i1;  // (out)
  std::vector<double> w0, w1;        // (out)
  // Transposed, for the backward: outputs reading input i are at [start[i], start[i+1]).
  std::vector<std::int32_t> start;  // (in + 1)
  std::vector<std::int32_t> src;    // output index
  std::vector<double> weight;
};

AxisTable make_axis_table(std::int64_t in, std::int64_t factor, UpsampleMode mode,
                          bool align_corners);

// An AxisTable in the memory of the device that runs the kernel, weights in the kernel's type.
template <class T>
struct AxisView {
  std::int64_t in, out;
  const std::int32_t* i0;  // (out)
  const std::int32_t* i1;
  const T* w0;
  const T* w1;
  const std::int32_t* start;  // (in + 1)
  const std::int32_t* src;
  const T* weight;
};

// x: (planes, D, H, W) contiguous, planes = N * C; y: (planes, D*, H*, W*).
namespace cpu {
template <class T>
void upsample_forward(const T* x, T* y, std::int64_t planes, const AxisView<T>& d,
                      const AxisView<T>& h, const AxisView<T>& w);
template <class T>
void upsample_backward(const T* dy, T* dx, std::int64_t planes, const AxisView<T>& d,
                       const AxisView<T>& h, const AxisView<T>& w);
}  // namespace cpu

namespace cuda {
template <class T>
void upsample_forward(const T* x, T* y, std::int64_t planes, const AxisView<T>& d,
                      const AxisView<T>& h, const AxisView<T>& w, void* stream);
template <class T>
void upsample_backward(const T* dy, T* dx, std::int64_t planes, const AxisView<T>& d,
                       const AxisView<T>& h, const AxisView<T>& w, void* stream);
}  // namespace cuda

}  // namespace ddnet::kernels
