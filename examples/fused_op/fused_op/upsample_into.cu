// The CUDA kernels of upsample_into: one thread per output element (forward), written where the
// destination's batch item lies, and one per input element (backward), a gather over the outputs
// that read it through the transposed tables: deterministic, no atomics. Every element is the
// CPU twin's operations in the CPU twin's order (kernels/upsample_cpu.cpp of the engine; forward:
// a W pass per input row, then the (D, H) neighbours' terms of nonzero weight, in a fixed order;
// backward: along D, then H, then W), so CUDA and CPU agree bit for bit; CMakeLists.txt compiles
// this file EXACT (no FMA contraction). Launched with DDNET_LAUNCH, so the same file runs on the
// engine's CPU emulator of CUDA.
#include "fused_op/upsample_into.h"
#include "kernels/launch.cuh"

namespace fused_op::cuda {

namespace {

namespace cd = ddnet::kernels::cuda_detail;

// y[item, c, od, oh, ow] = sum over the (D, H) neighbours t of weight k[t] != 0 of
// k[t] * (w0 * row_t[i0] + w1 * row_t[i1]), summed left to right from the first term.
template <class T>
__global__ void upsample_into_forward_kernel(const T* __restrict__ x, T* __restrict__ y,
                                             BatchLayout b, std::int64_t n, AxisView<T> d,
                                             AxisView<T> h, AxisView<T> w) {
  const std::int64_t in_plane = d.in * h.in * w.in, out_plane = d.out * h.out * w.out;
  DDNET_GRID_STRIDE(i, n) {
    const std::int64_t ow = i % w.out, oh = (i / w.out) % h.out;
    const std::int64_t od = (i / (w.out * h.out)) % d.out;
    const std::int64_t plane = i / out_plane;  // item * C + c
    const std::int64_t item = plane / b.planes, c = plane % b.planes;
    const T* xp = x + item * b.in_item + c * in_plane;
    const T wd0 = d.w0[od], wd1 = d.w1[od], wh0 = h.w0[oh], wh1 = h.w1[oh];
    const T k[4] = {wd0 * wh0, wd0 * wh1, wd1 * wh0, wd1 * wh1};
    const std::int64_t d0 = d.i0[od] * h.in, d1 = d.i1[od] * h.in;
    const std::int64_t rows[4] = {(d0 + h.i0[oh]) * w.in, (d0 + h.i1[oh]) * w.in,
                                  (d1 + h.i0[oh]) * w.in, (d1 + h.i1[oh]) * w.in};
    const std::int32_t a0 = w.i0[ow], a1 = w.i1[ow];
    const T ww0 = w.w0[ow], ww1 = w.w1[ow];
    T acc = 0;
    bool first = true;
#pragma unroll
    for (int t = 0; t < 4; ++t) {
      if (k[t] == T(0)) continue;  // nearest mode and exact grid points: as the twin skips them
      const T* row = xp + rows[t];
      const T v = ww0 * row[a0] + ww1 * row[a1];
      acc = first ? k[t] * v : acc + k[t] * v;
      first = false;
    }
    y[item * b.out_item + c * out_plane + i % out_plane] = acc;
  }
}

// dx[item, c, id, ih, iw] = sum over the outputs ow reading iw (W's transposed table) of
// weight * u[ow], u = sum over the outputs oh reading ih of weight * t[oh], t = sum over the
// outputs od reading id of weight * dy: the twin's D, H and W stages, element by element.
template <class T>
__global__ void upsample_into_backward_kernel(const T* __restrict__ dy, T* __restrict__ dx,
                                              BatchLayout b, std::int64_t n, AxisView<T> d,
                                              AxisView<T> h, AxisView<T> w) {
  const std::int64_t in_plane = d.in * h.in * w.in, out_plane = d.out * h.out * w.out;
  DDNET_GRID_STRIDE(i, n) {
    const std::int64_t iw = i % w.in, ih = (i / w.in) % h.in;
    const std::int64_t id = (i / (w.in * h.in)) % d.in;
    const std::int64_t plane = i / in_plane;
    const std::int64_t item = plane / b.planes, c = plane % b.planes;
    const T* g = dy + item * b.out_item + c * out_plane;
    // The twin's order: along D, then H, then W, each a sum from its first term of nonzero
    // weight (none: 0), and the W sum + 0 at the end.
    T acc = 0;
    bool first_w = true;
    for (std::int32_t q = w.start[iw]; q < w.start[iw + 1]; ++q) {
      if (w.weight[q] == T(0)) continue;
      const std::int64_t ow = w.src[q];
      T u = 0;
      bool first_h = true;
      for (std::int32_t e = h.start[ih]; e < h.start[ih + 1]; ++e) {
        if (h.weight[e] == T(0)) continue;
        const std::int64_t oh = h.src[e];
        T t = 0;
        bool first_d = true;
        for (std::int32_t a = d.start[id]; a < d.start[id + 1]; ++a) {
          if (d.weight[a] == T(0)) continue;
          const T v =
              d.weight[a] * g[(static_cast<std::int64_t>(d.src[a]) * h.out + oh) * w.out + ow];
          t = first_d ? v : t + v;
          first_d = false;
        }
        const T hv = h.weight[e] * t;
        u = first_h ? hv : u + hv;
        first_h = false;
      }
      const T wv = w.weight[q] * u;
      acc = first_w ? wv : acc + wv;
      first_w = false;
    }
    acc = acc + T(0);
    dx[item * b.in_item + c * in_plane + i % in_plane] = acc;
  }
}

}  // namespace

template <class T>
void upsample_into_forward(const T* x, T* y, const BatchLayout& b, const AxisView<T>& d,
                           const AxisView<T>& h, const AxisView<T>& w, void* stream) {
  const std::int64_t n = b.items * b.planes * d.out * h.out * w.out;
  if (n == 0) return;
  DDNET_LAUNCH(cd::grid_for(n), cd::kThreads, 0, cd::as_stream(stream),
               upsample_into_forward_kernel<T>)
  (x, y, b, n, d, h, w);
  CUDA_CHECK_LAUNCH("upsample_into_forward_kernel");
}

template <class T>
void upsample_into_backward(const T* dy, T* dx, const BatchLayout& b, const AxisView<T>& d,
                            const AxisView<T>& h, const AxisView<T>& w, void* stream) {
  const std::int64_t n = b.items * b.planes * d.in * h.in * w.in;
  if (n == 0) return;
  DDNET_LAUNCH(cd::grid_for(n), cd::kThreads, 0, cd::as_stream(stream),
               upsample_into_backward_kernel<T>)
  (dy, dx, b, n, d, h, w);
  CUDA_CHECK_LAUNCH("upsample_into_backward_kernel");
}

#define FUSED_OP_INSTANTIATE(T)                                                                 \
  template void upsample_into_forward<T>(const T*, T*, const BatchLayout&, const AxisView<T>&,  \
                                         const AxisView<T>&, const AxisView<T>&, void*);        \
  template void upsample_into_backward<T>(const T*, T*, const BatchLayout&, const AxisView<T>&, \
                                          const AxisView<T>&, const AxisView<T>&, void*);
FUSED_OP_INSTANTIATE(float)
FUSED_OP_INSTANTIATE(double)
#undef FUSED_OP_INSTANTIATE

}  // namespace fused_op::cuda
