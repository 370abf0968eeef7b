// The raw kernels of upsample_into: upsampling by 2 on every spatial axis (nearest, or bi/trilinear
// with align_corners true or false) written straight into a destination whose batch items need
// not be adjacent, as the first half of the 3D-DDnet decoder's concatenation buffer is. Raw
// pointers and shapes only (no CUDA types): this header compiles with a plain C++ compiler.
//
// The axis tables are the engine's (kernels/upsample.h: make_axis_table, AxisView): along each
// axis an output index o reads inputs i0(o), i1(o) with weights w0(o), w1(o), and the transposed
// table lists, for each input, the outputs that read it (the backward is a gather over them: no
// atomics, a deterministic result). A 2D tensor is a 3D one whose D axis has size 1 and factor 1.
#pragma once

#include <cstdint>

#include "kernels/upsample.h"

namespace fused_op {

using ddnet::kernels::AxisView;
using ddnet::kernels::UpsampleMode;

// Where the batch items lie. Within one item the planes (channels) are contiguous; between items
// there may be a gap (a channel slice of a wider buffer: stride(0) > C * plane).
struct BatchLayout {
  std::int64_t items = 1;     // N
  std::int64_t planes = 1;    // C, planes per item
  std::int64_t in_item = 0;   // elements from one item of the input (or dx) to the next
  std::int64_t out_item = 0;  // elements from one item of the output (or dy) to the next
};

namespace cpu {
// x: N items of (C, D, H, W), in_item apart; y: N items of (C, D*, H*, W*), out_item apart.
// Bit for bit the engine's upsample (kernels::cpu::upsample_forward) of the same input.
template <class T>
void upsample_into_forward(const T* x, T* y, const BatchLayout& b, const AxisView<T>& d,
                           const AxisView<T>& h, const AxisView<T>& w);
// dy: N items of (C, D*, H*, W*), out_item apart; dx: N items of (C, D, H, W), in_item apart.
template <class T>
void upsample_into_backward(const T* dy, T* dx, const BatchLayout& b, const AxisView<T>& d,
                            const AxisView<T>& h, const AxisView<T>& w);
}  // namespace cpu

namespace cuda {
// The same on the device, on `stream` (a cudaStream_t); the tables' arrays in device memory.
// Each output (forward) or input (backward) element is computed with the CPU twin's operations
// in the CPU twin's order, so the results are the twin's bit for bit (no FMA contraction: the
// file is compiled EXACT, see CMakeLists.txt).
template <class T>
void upsample_into_forward(const T* x, T* y, const BatchLayout& b, const AxisView<T>& d,
                           const AxisView<T>& h, const AxisView<T>& w, void* stream);
template <class T>
void upsample_into_backward(const T* dy, T* dx, const BatchLayout& b, const AxisView<T>& d,
                            const AxisView<T>& h, const AxisView<T>& w, void* stream);
}  // namespace cuda

}  // namespace fused_op
