// The CPU twin of upsample_into: the engine's own CPU upsample kernels (separable, AVX2 where the
// machine has it, threaded), called once per batch item with that item's pointers, so each item
// is read from and written to where it lies. The engine's kernels treat every plane alike, so
// the bits are those of the unfused upsample followed by a copy.
#include "fused_op/upsample_into.h"

namespace fused_op::cpu {

namespace {
// True when the items follow each other with no gap: then the whole batch is one call (more
// planes per call, better load balance over the threads).
bool dense(const BatchLayout& b, std::int64_t in_plane, std::int64_t out_plane) {
  return b.items == 1 || (b.in_item == b.planes * in_plane && b.out_item == b.planes * out_plane);
}
}  // namespace

template <class T>
void upsample_into_forward(const T* x, T* y, const BatchLayout& b, const AxisView<T>& d,
                           const AxisView<T>& h, const AxisView<T>& w) {
  const std::int64_t in_plane = d.in * h.in * w.in, out_plane = d.out * h.out * w.out;
  if (dense(b, in_plane, out_plane)) {
    ddnet::kernels::cpu::upsample_forward(x, y, b.items * b.planes, d, h, w);
    return;
  }
  for (std::int64_t n = 0; n < b.items; ++n)
    ddnet::kernels::cpu::upsample_forward(x + n * b.in_item, y + n * b.out_item, b.planes, d, h, w);
}

template <class T>
void upsample_into_backward(const T* dy, T* dx, const BatchLayout& b, const AxisView<T>& d,
                            const AxisView<T>& h, const AxisView<T>& w) {
  const std::int64_t in_plane = d.in * h.in * w.in, out_plane = d.out * h.out * w.out;
  if (dense(b, in_plane, out_plane)) {
    ddnet::kernels::cpu::upsample_backward(dy, dx, b.items * b.planes, d, h, w);
    return;
  }
  for (std::int64_t n = 0; n < b.items; ++n)
    ddnet::kernels::cpu::upsample_backward(dy + n * b.out_item, dx + n * b.in_item, b.planes, d, h,
                                           w);
}

#define FUSED_OP_INSTANTIATE(T)                                                                 \
  template void upsample_into_forward<T>(const T*, T*, const BatchLayout&, const AxisView<T>&,  \
                                         const AxisView<T>&, const AxisView<T>&);               \
  template void upsample_into_backward<T>(const T*, T*, const BatchLayout&, const AxisView<T>&, \
                                          const AxisView<T>&, const AxisView<T>&);
FUSED_OP_INSTANTIATE(float)
FUSED_OP_INSTANTIATE(double)
#undef FUSED_OP_INSTANTIATE

}  // namespace fused_op::cpu
