// CUDA upsample: one thread per output voxel (forward) or input voxel (backward, a gather over
// the outputs that read it: deterministic, no atomics). Tables live in device memory.
#include "kernels/launch.cuh"
#include "kernels/upsample.h"

namespace ddnet::kernels::cuda {

namespace {

template <class T>
__global__ void upsample_forward_kernel(const T* __restrict__ x, T* __restrict__ y, std::int64_t n,
                                        AxisView<T> d, AxisView<T> h, AxisView<T> w) {
  DDNET_GRID_STRIDE(i, n) {
    const std::int64_t ow = i % w.out, oh = (i / w.out) % h.out, od = (i / (w.out * h.out)) % d.out;
    const std::int64_t p = i / (w.out * h.out * d.out);
    const T* xp = x + p * d.in * h.in * w.in;
    const std::int64_t dd[2] = {d.i0[od], d.i1[od]}, hh[2] = {h.i0[oh], h.i1[oh]};
    const T wd[2] = {d.w0[od], d.w1[od]}, wh[2] = {h.w0[oh], h.w1[oh]};
    const std::int64_t a0 = w.i0[ow], a1 = w.i1[ow];
    T acc = 0;
#pragma unroll
    for (int a = 0; a < 2; ++a)
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const T* row = xp + (dd[a] * h.in + hh[c]) * w.in;
        acc += wd[a] * wh[c] * (w.w0[ow] * row[a0] + w.w1[ow] * row[a1]);
      }
    y[i] = acc;
  }
}

template <class T>
__global__ void upsample_backward_kernel(const T* __restrict__ dy, T* __restrict__ dx,
                                         std::int64_t n, AxisView<T> d, AxisView<T> h,
                                         AxisView<T> w) {
  DDNET_GRID_STRIDE(i, n) {
    const std::int64_t iw = i % w.in, ih = (i / w.in) % h.in, id = (i / (w.in * h.in)) % d.in;
    const std::int64_t p = i / (w.in * h.in * d.in);
    const T* g = dy + p * d.out * h.out * w.out;
    T acc = 0;
    for (std::int32_t a = d.start[id]; a < d.start[id + 1]; ++a)
      for (std::int32_t c = h.start[ih]; c < h.start[ih + 1]; ++c) {
        const T* row = g + (static_cast<std::int64_t>(d.src[a]) * h.out + h.src[c]) * w.out;
        T s = 0;
        for (std::int32_t k = w.start[iw]; k < w.start[iw + 1]; ++k)
          s += w.weight[k] * row[w.src[k]];
        acc += d.weight[a] * h.weight[c] * s;
      }
    dx[i] = acc;
  }
}

}  // namespace

template <class T>
void upsample_forward(const T* x, T* y, std::int64_t planes, const AxisView<T>& d,
                      const AxisView<T>& h, const AxisView<T>& w, void* stream) {
  const std::int64_t n = planes * d.out * h.out * w.out;
  if (n == 0) return;
  DDNET_LAUNCH(cuda_detail::grid_for(n), cuda_detail::kThreads, 0, cuda_detail::as_stream(stream),
               upsample_forward_kernel<T>)
  (x, y, n, d, h, w);
  CUDA_CHECK_LAUNCH("upsample_forward_kernel");
}

template <class T>
void upsample_backward(const T* dy, T* dx, std::int64_t planes, const AxisView<T>& d,
                       const AxisView<T>& h, const AxisView<T>& w, void* stream) {
  const std::int64_t n = planes * d.in * h.in * w.in;
  if (n == 0) return;
  DDNET_LAUNCH(cuda_detail::grid_for(n), cuda_detail::kThreads, 0, cuda_detail::as_stream(stream),
               upsample_backward_kernel<T>)
  (dy, dx, n, d, h, w);
  CUDA_CHECK_LAUNCH("upsample_backward_kernel");
}

#define DDNET_INSTANTIATE(T)                                                         \
  template void upsample_forward<T>(const T*, T*, std::int64_t, const AxisView<T>&,  \
                                    const AxisView<T>&, const AxisView<T>&, void*);  \
  template void upsample_backward<T>(const T*, T*, std::int64_t, const AxisView<T>&, \
                                     const AxisView<T>&, const AxisView<T>&, void*);
DDNET_INSTANTIATE(float)
DDNET_INSTANTIATE(double)
#undef DDNET_INSTANTIATE

}  // namespace ddnet::kernels::cuda
