// CUDA concat/split: one thread per output element; the part is found by a short scan of the
// channel starts (at most kConcatMaxInputs, held in kernel parameters), so one launch moves all
// parts with coalesced reads and writes.
#include "kernels/concat.h"
#include "kernels/launch.cuh"

namespace ddnet::kernels::cuda {

namespace {
template <class T, bool Split>
__global__ void concat_kernel(ConcatArgs<T> a, T* out, const T* grad, std::int64_t total) {
  DDNET_GRID_STRIDE(i, total) {
    const std::int64_t s = i / (a.out_channels * a.plane);
    const std::int64_t rem = i % (a.out_channels * a.plane);
    const std::int64_t c = rem / a.plane, p = rem % a.plane;
    int k = 0;
    while (k + 1 < a.count && c >= a.parts[k + 1].channel_start) ++k;
    const ConcatPart<T>& part = a.parts[k];
    if (c < part.channel_start || c >= part.channel_start + part.channels) continue;  // a gap
    T* src = part.data + s * part.batch_stride + (c - part.channel_start) * a.plane + p;
    const std::int64_t o = s * a.out_batch_stride + c * a.plane + p;
    if (Split)
      *src = grad[o];
    else
      out[o] = *src;
  }
}
}  // namespace

template <class T>
void concat(const ConcatArgs<T>& a, T* out, void* stream) {
  const std::int64_t total = a.n * a.out_channels * a.plane;
  if (total == 0) return;
  DDNET_LAUNCH(cuda_detail::grid_for(total), cuda_detail::kThreads, 0,
               cuda_detail::as_stream(stream), concat_kernel<T, false>)
  (a, out, nullptr, total);
  CUDA_CHECK_LAUNCH("concat_kernel");
}

template <class T>
void split(const ConcatArgs<T>& a, const T* grad, void* stream) {
  const std::int64_t total = a.n * a.out_channels * a.plane;
  if (total == 0) return;
  DDNET_LAUNCH(cuda_detail::grid_for(total), cuda_detail::kThreads, 0,
               cuda_detail::as_stream(stream), concat_kernel<T, true>)
  (a, nullptr, grad, total);
  CUDA_CHECK_LAUNCH("split_kernel");
}

template void concat<float>(const ConcatArgs<float>&, float*, void*);
template void concat<double>(const ConcatArgs<double>&, double*, void*);
template void split<float>(const ConcatArgs<float>&, const float*, void*);
template void split<double>(const ConcatArgs<double>&, const double*, void*);

}  // namespace ddnet::kernels::cuda
